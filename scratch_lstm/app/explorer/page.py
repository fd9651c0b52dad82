"""The gate explorer's page: what it carries, and how it is put together.

The page is one HTML file that works opened from disk, offline. It carries:

- the weights of the trained model and of the same run's fresh (initial) model, float32, base64;
- for the epoch slider, up to :data:`EPOCHS_SHOWN` epochs between the two from the run's
  ``snapshots.pt`` (:mod:`~scratch_lstm.app.snapshots`): each weight matrix in 8 bits a value (a
  whole number from -127 to 127 per weight and one float32 scale per row: a quarter of float32's
  size), the biases in float32, with the same logits, gradients and per-class means as the two models,
  computed from the 8-bit weights, and how far their gates lie from the snapshot's own;
- the test digits it offers (28x28 ``uint8``, base64), with each digit's label and, per model, the
  logits PyTorch computes (the page checks its own forward against them) and the gradient through
  time that :func:`scratch_lstm.gradient_flow` measures (``log10`` of ``‖dL/dc_t‖`` and of the mean
  forget-gate product, per layer and step, float32);
- the rules of a clamp (:data:`scratch_lstm.clamps.CLAMP_RANGES` and ``CLAMP_LIMITS``), so the page
  accepts exactly the clamps :class:`scratch_lstm.GateClamp` and ``scratch-lstm eval --clamp`` do;
- its scripts, each a short file that says first what it shows and which data it reads (``SCRIPTS``,
  in order): ``lstm.js`` (the LSTM forward: the six equations of :mod:`scratch_lstm.cell`),
  ``lstm_backward.js`` (the same equations backwards: d p(class) / d pixel), ``clamps.js`` (a
  clamp's text, ``GATE=VALUE[@LAYER][:UNITS][/STEPS]``, read as ``GateClamp.parse`` reads it),
  ``state.js`` (the state and its URL hash), ``runs.js`` (both models on the digit), ``paint.js``
  (colours, canvases, tips), one ``view_*.js`` per panel (``view_epochs.js``: the epoch slider),
  ``explorer.js`` (the start, the keys), ``api.js`` (``window.explorer``); and ``explorer.css``; all
  inlined into ``explorer.html``.

Every gate and state the page shows comes from its own forward in the browser, computed in float64
from the float32 weights: it equals PyTorch's float32 forward to about 1e-6 (the tests hold it to
1e-5) and PyTorch's float64 forward on the same weights to rounding. So the page stays small
(the weights, not every trace: about 8.8 MB for the lecture's 2 x 256 model) and the learner can
clamp gates and draw digits, which no precomputed trace could answer.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ... import __version__
from ...clamps import CLAMP_LIMITS, CLAMP_RANGES
from ...classifier import LSTMClassifier
from ...gates import trace_gates
from ...gradient_flow import gradient_flow
from ..checkpoints import check_checkpoint, load_checkpoint, model_from_checkpoint
from ..config import is_int, use_threads
from ..data import load_dataset, pixel_permutation, sequence_view
from ..errors import DataError, TrainingError
from ..evaluate import dataset_to_use
from ..files import atomic_write_bytes, check_target, is_our_page
from ..gates_report import drawn_on_gpu, fresh_model
from ..runs import check_out_folder
from ..snapshots import run_snapshots

SAMPLE_MODEL = "sample_model.npz"  # the built-in model (scripts/make_explorer_model.py)
SAMPLE_MODEL_KEYS = ("model_config", "config", "dataset", "data", "sequence", "permutation_seed", "dtype",
                     "backend", "epoch", "history", "best_test_acc", "best_epoch")  # what it keeps of its run
# the page's scripts, inlined in this order: each reads the ones before
SCRIPTS = ("lstm.js", "lstm_backward.js", "clamps.js", "state.js", "runs.js", "paint.js", "view_digit.js",
           "view_unit.js", "view_equations.js", "view_overview.js", "view_answer.js", "view_saliency.js",
           "view_saturation.js", "view_gradient.js", "view_clamps.js", "view_drawing.js", "view_tour.js",
           "view_epochs.js", "explorer.js", "api.js")
ASSETS = ("explorer.html", "explorer.css", *SCRIPTS)
SATURATION = (0.1, 0.9)  # a gate below the first or above the second counts as saturated (closed, open)
PER_CLASS = {"rows": 100, "pixels": 10, "permuted": 10}  # test images per class behind the per-class means
QUANTITIES = ("i", "f", "g", "o", "c", "h")
EPOCHS_SHOWN = 4  # snapshot epochs a page carries at most, besides the fresh and the trained model (1.3 MB each
# for the lecture's 2 x 256 model: its page stays near 15 MB)


@dataclass
class ExplorerPage:
    """A generated explorer page: ``html`` (the whole self-contained file), ``summary`` (what it
    shows, in a line), ``notes`` (what the command prints besides, e.g. which test split was used)
    and ``digits`` (``(label, source)`` of each embedded digit). :meth:`save` writes it; in a
    notebook it shows inline."""

    html: str
    summary: str = ""
    notes: list[str] = field(default_factory=list)
    digits: list[tuple[int, str]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """The page's size in bytes (UTF-8)."""
        return len(self.html.encode())

    def save(self, path: str | Path) -> Path:
        """Write the page to ``path`` atomically (a reader sees the old file or the whole new one),
        creating its folder if needed; returns the path. :class:`TrainingError` for a path that
        is a folder or lies where nothing can be written."""
        path = Path(path)
        check_out_file(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrainingError(f"--out {path}: cannot create its folder ({e.strerror or e})") from None
        data = self.html.encode()
        atomic_write_bytes(path, lambda fh: fh.write(data))
        return path

    def _repr_html_(self) -> str:
        """The page in an ``<iframe srcdoc>``: shown inline by Jupyter (and anything that reads
        ``_repr_html_``), its scripts and styles kept apart from the notebook's."""
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" title="scratch-lstm gate explorer" '
                'style="width: 100%; height: 900px; border: 1px solid #ddd;"></iframe>')


def check_out_file(path: str | Path, flag: str = "--out", inputs=()) -> None:
    """Refuse, before anything is computed or written, an output the write rule forbids
    (:func:`~scratch_lstm.app.files.check_target`: a folder, a device or FIFO, an input, a file
    that is not an earlier page) or whose folder cannot be created or written
    (:class:`TrainingError`)."""
    path = check_target(path, is_our_page, inputs=inputs, flag=flag, what="a page scratch-lstm wrote",
                        example="explorer.html")
    check_out_folder(path.parent if str(path.parent) else Path("."), flag)


def explore(checkpoint: str | Path | dict | None = None, digits: list[int] | None = None, *,
            dataset: str | None = None, data_dir: str | None = None, download: bool = False,
            threads: int | None = None) -> ExplorerPage:
    """Make the gate explorer page for a checkpoint: a file, a checkpoint dict as
    :func:`~scratch_lstm.app.checkpoints.load_checkpoint` returns it (at least ``model`` and
    ``model_config``; ``config``, ``sequence`` and ``dataset`` as a run writes them), or ``None``
    for the built-in model (a 2 x 64 LSTM trained on the embedded sample: ``docs/explorer.md``).

    ``digits`` are indices into the test split (default: the first image of each class, 0 to 9).
    The test split is the one the checkpoint was trained on unless ``dataset`` says otherwise;
    with ``data_dir`` (or ``download``) a checkpoint of the embedded sample reads full MNIST's
    (:func:`~scratch_lstm.app.evaluate.dataset_to_use`). ``threads`` sets torch's CPU threads for
    the call. Returns an :class:`ExplorerPage`; ``.save(path)`` writes it. Raises
    :class:`TrainingError` or :class:`DataError` for a checkpoint, data or index that cannot be
    used, naming the arguments as Python spells them (``data_dir=``, not ``--data-dir``).
    """
    try:
        return make_page(checkpoint, digits, dataset=dataset, data_dir=data_dir, download=download,
                         threads=threads)
    except (TrainingError, DataError) as e:
        raise type(e)(_PYTHON_NAMES.sub(_python_name, str(e))) from None


# the command's flags in a message, as explore()'s arguments: --data-dir data -> data_dir=data
_PYTHON_NAMES = re.compile(r"--(data-dir|dataset|digits|checkpoint|threads|download)\b ?")


def _python_name(flag: re.Match) -> str:
    name = flag.group(1).replace("-", "_")
    return "download=True" + flag.group(0)[len("--download"):] if name == "download" else name + "="


def make_page(checkpoint=None, digits=None, *, dataset=None, data_dir=None, download=False,
              threads=None) -> ExplorerPage:
    """:func:`explore` for the command: its errors name the command's flags (``--data-dir``)."""
    before = use_threads(threads)
    try:
        return _explore(checkpoint, digits, dataset, data_dir, download)
    finally:
        torch.set_num_threads(before)


def run_data_dir(ckpt: dict) -> str | None:
    """The data folder the checkpoint's run read (its config's ``data_dir``, as config.json has
    it), if that folder is still there; None for a run of the embedded sample."""
    config = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    folder = config.get("data_dir")
    if ckpt.get("dataset") == "mnist-sample" or not isinstance(folder, str) or not folder.strip():
        return None
    return folder if Path(folder).is_dir() else None


def _explore(checkpoint, digits, dataset, data_dir, download) -> ExplorerPage:
    if checkpoint is None:
        ckpt, name = sample_checkpoint(), "the built-in model"
    elif isinstance(checkpoint, dict):
        ckpt, name = checkpoint, "a checkpoint given in Python"
        check_checkpoint(ckpt, name, checksum=False)  # every field, as a file's (it may be edited)
    else:
        ckpt, name = load_checkpoint(checkpoint), Path(checkpoint).name
    trained = model_from_checkpoint(ckpt, backend="scratch").eval()
    snapshots, snapshot_note = {}, None
    if checkpoint is not None and not isinstance(checkpoint, dict):  # a file: its run's snapshots.pt
        try:
            snapshots = run_snapshots(checkpoint, ckpt, {k: v.shape for k, v in trained.state_dict().items()})
        except TrainingError as e:
            snapshot_note = f"note: {e}; the page has no epoch slider"
    available = [e for e in snapshots if e < ckpt["epoch"]]  # the checkpoint's own epoch: its full weights
    fresh = fresh_model(ckpt)
    recorded = (run_data_dir(ckpt) if data_dir is None and not download and dataset in (None, ckpt.get("dataset"))
                else None)
    if recorded is not None:  # the run's own data folder, as its config.json records it
        data_dir = recorded
    dataset, note = dataset_to_use(ckpt, name, dataset, data_dir, download)
    if recorded is not None:
        note = f"data: the test split from {recorded}, the folder {name}'s run read (its config's data_dir)"
    ds = load_dataset(dataset, data_dir, download, command="explore")
    n_test = len(ds.test_labels)
    if digits is None:
        labels = ds.test_labels.tolist()
        digits = [labels.index(c) for c in range(trained.num_classes) if c in labels]
    for index in digits:
        if not is_int(index):
            raise DataError(f"--digits {index!r} is not an index: give whole numbers from 0 to {n_test - 1}")
        if not 0 <= index < n_test:
            raise DataError(f"--digits {index} is out of range: the test split of {ds.name} has {n_test} "
                            f"images (0 to {n_test - 1})")
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    images = ds.test_images[digits]  # (N, 28, 28) uint8
    labels = ds.test_labels[digits]
    x = sequence_view(images, sequence, *ds.stats, perm).to(trained.lin.weight.dtype)  # (N, T, Q)
    models = {"trained": trained, "fresh": fresh}
    with torch.no_grad():
        logits = {name: model(x) for name, model in models.items()}  # (N, C): the page checks itself
    shown = []
    for n, (index, label) in enumerate(zip(digits, labels.tolist())):
        grads = {model_name: _gradient(model, x[n : n + 1], labels[n : n + 1]) for model_name, model in models.items()}
        shown.append({"label": label, "index": index, "source": f"{ds.name} test image {index}",
                      "pixels": _b64(images[n].numpy(), "u1"),
                      "logits": {m: logits[m][n].tolist() for m in models}, "gradient": grads})
    epochs = [_epoch_entry(e, snapshots[e], ckpt, x, labels, ds, sequence, perm)
              for e in pick_epochs(available)]
    data = {
        "model": _describe(ckpt, name, trained, sequence, perm, ds),
        "class_means": _class_means(models, ds, sequence, perm, PER_CLASS[sequence]),
        "weights": {m: _weights(model) for m, model in models.items()},
        "digits": shown,
        "epochs": {"shown": epochs, "kept": available},
        "saturation": SATURATION,
        "clamp_rules": {"ranges": CLAMP_RANGES, "limits": CLAMP_LIMITS},  # clamps.js accepts what GateClamp does
        "made": {"by": f"scratch-lstm {__version__} (torch {torch.__version__})",
                 "date": datetime.date.today().isoformat()},
    }
    notes = [n for n in (note, snapshot_note) if n]
    label_text = " ".join(str(d["label"]) for d in shown)
    between = f", epochs {', '.join(str(e['epoch']) for e in epochs)} between" if epochs else ""
    summary = (f"{name} ({trained.rnn.num_layers} x {trained.hidden_size} LSTM, {sequence}) and its fresh start"
               f"{between} on {len(shown)} {ds.name} test image{'s' if len(shown) != 1 else ''} (labels {label_text})")
    return ExplorerPage(render(data), summary, notes, [(d["label"], d["source"]) for d in shown])


def _gradient(model: LSTMClassifier, x: torch.Tensor, label: torch.Tensor) -> dict:
    """One digit's gradient through time as the page carries it: ``log10`` of ``‖dL/dc_t‖`` (-inf
    where a norm underflowed float64) and of the mean forget-gate product, float32 base64."""
    flow = gradient_flow(model, x, label)
    return {"dc": _b64(torch.log10(flow.dc)), "forget": _b64(flow.log10_forget_product)}


def pick_epochs(available: list[int], n: int = EPOCHS_SHOWN) -> list[int]:
    """Up to ``n`` of the ``available`` epochs (sorted), the early ones first, where the gates change
    most, then further apart: of 1 to 9, epochs 1, 2, 4 and 9."""
    if len(available) <= n:
        return list(available)
    at = sorted({round(v) - 1 for v in np.geomspace(1, len(available), n)})
    for k in range(len(available)):  # rounding may pick one position twice: fill from the start
        if len(at) == n:
            break
        if k not in at:
            at = sorted({*at, k})
    return [available[k] for k in at]


def quantized(state: dict[str, torch.Tensor], ckpt: dict) -> tuple[dict, LSTMClassifier]:
    """A snapshot's weights (of the run of checkpoint ``ckpt``) as the page carries them, and the
    float32 model they make: each weight matrix in 8 bits (per row r, q = round(w / s_r) in
    -127..127 with s_r = max|w_r| / 127, float32; the page and this model both use
    float32(q * s_r)), the biases in float32."""
    def matrix(w: torch.Tensor) -> tuple[dict, torch.Tensor]:
        w = w.float()
        s = (w.abs().amax(dim=1) / 127).float()  # (rows,)
        s = torch.where(s > 0, s, torch.ones_like(s))
        q = torch.round(w / s[:, None]).clamp(-127, 127).to(torch.int8)  # (rows, cols)
        return {"int8": _b64(q.numpy(), "i1"), "scale": _b64(s)}, q.float() * s[:, None]

    values, layers = {}, []
    for k in range(ckpt["model_config"]["num_layers"]):
        layer = {}
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            key = f"rnn.{name}_l{k}"
            if name.startswith("weight"):
                layer[name], values[key] = matrix(state[key])
            else:
                values[key] = state[key].float()
                layer[name] = _b64(values[key])
        layers.append(layer)
    page_lin, values["lin.weight"] = matrix(state["lin.weight"])
    values["lin.bias"] = state["lin.bias"].float()
    model = model_from_checkpoint({**ckpt, "model": values, "dtype": "float32"}, backend="scratch").eval()
    return {"layers": layers, "lin_weight": page_lin, "lin_bias": _b64(values["lin.bias"])}, model


def _epoch_entry(epoch: int, state: dict, ckpt: dict, x: torch.Tensor, labels, ds, sequence: str, perm) -> dict:
    """What the page carries of one snapshot epoch: its 8-bit weights (:func:`quantized`), its test
    accuracy (the run's history), and, from the 8-bit model, the logits and gradients of the embedded
    digits and the per-class means; ``gate_diff``: the largest difference between any of i, f, g, o,
    c, h of the 8-bit model and of the snapshot's own weights over the embedded digits."""
    weights, model = quantized(state, ckpt)
    full = model_from_checkpoint({**ckpt, "model": {k: v.float() for k, v in state.items()}, "dtype": "float32"},
                                 backend="scratch").eval()
    x = x.float()
    with torch.no_grad():
        logits = model(x)  # (N, C)
        diff = max(float((getattr(a, q) - getattr(b, q)).abs().max())
                   for a, b in zip(trace_gates(model.rnn, x), trace_gates(full.rnn, x)) for q in QUANTITIES)
    gradient = [_gradient(model, x[n : n + 1], labels[n : n + 1]) for n in range(len(x))]
    history = {m.get("epoch"): m for m in ckpt.get("history") or []}
    return {"epoch": epoch, "test_acc": history.get(epoch, {}).get("test_acc"), "weights": weights,
            "logits": logits.tolist(), "gradient": gradient, "gate_diff": diff,
            "class_means": _class_means({"model": model}, ds, sequence, perm, PER_CLASS[sequence])["model"]}


def _describe(ckpt: dict, name: str, model: LSTMClassifier, sequence: str, perm, ds) -> dict:
    """What the page says about the model, and what its forward needs besides the weights."""
    config = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    history = ckpt.get("history") or []
    accuracy = next((m["test_acc"] for m in history if m.get("epoch") == ckpt.get("epoch")), None)
    init = config.get("init", "default")
    if init == "forget-bias":
        init += f" (b_f {config.get('forget_bias') or 1.0:g})"
    elif init == "chrono":
        init += f" (t_max {config.get('chrono_t_max')})"
    steps = 28 if sequence == "rows" else 784
    return {
        "checkpoint": name, "trained_on": ckpt.get("dataset"), "dataset": ds.name, "epoch": ckpt.get("epoch"),
        "test_acc": accuracy, "seed": config.get("seed", 0), "init": init,
        "fresh_drawn_on_gpu": drawn_on_gpu(ckpt),
        "input_size": model.input_size, "hidden_size": model.hidden_size, "num_layers": model.rnn.num_layers,
        "num_classes": model.num_classes, "sequence": sequence, "steps": steps,
        "permutation": perm.tolist() if perm is not None else None,
        "mean": ds.stats[0], "std": ds.stats[1],
    }


def _class_means(models: dict, ds, sequence: str, perm, per_class: int) -> dict:
    """Per model, the mean of each of i, f, g, o, c, h over every step of the first ``per_class`` test
    images of each class: ``means`` float32 base64 of shape (layers, 6, classes, units), and ``counts``
    (the images behind each class's mean). The page shows them for the selected unit: which digits it
    cares about."""
    labels = ds.test_labels
    C = next(iter(models.values())).num_classes
    picked = [torch.nonzero(labels == c).flatten()[:per_class] for c in range(C)]
    out = {"counts": [len(p) for p in picked], "per_class": per_class}
    for name, model in models.items():
        K, H = model.rnn.num_layers, model.hidden_size
        means = torch.zeros(K, len(QUANTITIES), C, H, dtype=torch.float64)
        for c, index in enumerate(picked):
            for chunk in index.split(50):  # (B, T, Q) a few at a time: a pixel model's trace is large
                x = sequence_view(ds.test_images[chunk], sequence, *ds.stats, perm).to(model.lin.weight.dtype)
                with torch.no_grad():
                    traces = trace_gates(model.rnn, x)  # per layer, each quantity (B, T, H)
                for k, tr in enumerate(traces):
                    for n, q in enumerate(QUANTITIES):
                        values = getattr(tr, q).double()  # (B, T, H)
                        means[k, n, c] += values.sum(dim=(0, 1)) / (values.size(1) * max(1, len(index)))
        out[name] = _b64(means.float())
    return out


def _weights(model: LSTMClassifier) -> dict:
    """Every parameter as float32 base64, per layer as the equations name them."""
    rnn = model.rnn
    layers = [{name: _b64(getattr(rnn, f"{name}_l{k}").detach().numpy())
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")} for k in range(rnn.num_layers)]
    return {"layers": layers, "lin_weight": _b64(model.lin.weight.detach().numpy()),
            "lin_bias": _b64(model.lin.bias.detach().numpy())}


def _b64(values, dtype: str = "<f4") -> str:
    """``values`` (a tensor or array) as little-endian ``dtype`` bytes in base64."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return base64.b64encode(np.ascontiguousarray(values, dtype=dtype).tobytes()).decode("ascii")


def sample_checkpoint() -> dict:
    """The built-in model as a checkpoint dict (weights and the run's record, no optimizer):
    ``scripts/make_explorer_model.py`` made it."""
    with resources.files("scratch_lstm.app.explorer").joinpath(SAMPLE_MODEL).open("rb") as fh:
        z = np.load(fh)
        arrays = {k: z[k] for k in z.files}
    ckpt = json.loads(str(arrays.pop("meta")))
    ckpt["model"] = {name: torch.from_numpy(a) for name, a in arrays.items()}
    return ckpt


def render(data: dict) -> str:
    """Put the page together: the template with the styles, the scripts and ``data`` inlined."""
    folder = resources.files("scratch_lstm.app.explorer")
    text = {name: folder.joinpath(name).read_text(encoding="utf-8") for name in ASSETS}
    model = data["model"]
    title = (f"Gate explorer: {model['num_layers']} x {model['hidden_size']} LSTM reading "
             f"{model['dataset']} {model['sequence']}")
    payload = json.dumps(data, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    page = text["explorer.html"]
    scripts = "\n".join(f'<script id="{_script_id(name)}">\n{text[name]}</script>' for name in SCRIPTS)
    for marker, value in (("{{title}}", html.escape(title)), ("/*{{css}}*/", text["explorer.css"]),
                          ("<!--{{scripts}}-->", scripts), ("{{data}}", payload)):
        if page.count(marker) != 1:
            raise RuntimeError(f"explorer.html must hold {marker} once")
        page = page.replace(marker, value)
    return page


def _script_id(name: str) -> str:
    """The id of a script's tag in the page: lstm.js, the forward, is ``lstm-forward``; the others their name."""
    return "lstm-forward" if name == "lstm.js" else "script-" + name.removesuffix(".js").replace("_", "-")


def megabytes(n: int) -> str:
    """A size in MB (10^6 bytes), as the page's size is reported."""
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{math.ceil(n / 1e3)} kB"
