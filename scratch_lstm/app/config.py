"""A training run's settings (the ``train`` flags), their checks, and the device they ask for."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import torch

from ..classifier import BACKENDS
from ..gates import CHRONO_MIN_T_MAX, INITS, init_gates
from ..impls import unavailable_reason
from ..precision import PRECISIONS
from .data import DATASETS, SEQUENCES
from .errors import TrainingError
from .limits import MAX_COUNT, cpu_count

SCHEDULES = ("constant", "cosine")
DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float64")
CUDA_GRAPH = ("auto", "on", "off")
MODEL_CONFIG_KEYS = ("input_size", "hidden_size", "num_classes", "num_layers", "dropout")



def is_int(v) -> bool:
    """An int that is not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class TrainConfig:
    """Everything that defines a training run (the CLI's ``train`` flags).

    The defaults train the lecture's configuration with the schedule of the README's results (Adam,
    lr 1e-3 with cosine decay over 10 epochs). ``out=None`` picks a new ``runs/expN``.
    """

    dataset: str = "auto"
    data_dir: str | None = None
    download: bool = False
    sequence: str = "rows"
    permutation_seed: int = 0
    backend: str = "scratch"
    hidden_size: int = 256
    num_layers: int = 2
    dropout: float = 0.0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    schedule: str = "cosine"
    grad_clip: float = 0.0
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    train_subset: int | None = None
    out: str | None = None
    resume: bool = False
    log_every: float = 10.0
    cuda_graph: str = "auto"
    precision: str = "ieee"  # float32 products on a GPU: IEEE fp32, or TF32 (scratch_lstm.precision)
    init: str = "default"
    forget_bias: float | None = None  # for init "forget-bias"; None: 1.0
    chrono_t_max: int | None = None  # for init "chrono"; None: the sequence length
    threads: int | None = None  # torch.set_num_threads; None: torch's choice

    def seq_len(self) -> int:
        """Steps per sequence: 28 rows, or 784 pixels."""
        return 28 if self.sequence == "rows" else 784

    def with_init_defaults(self) -> TrainConfig:
        """This config with the init's value filled in where it was left to its default
        (``forget_bias`` 1.0 for ``forget-bias``, ``chrono_t_max`` the sequence length for
        ``chrono``): what the run records and a resume compares."""
        if self.init == "forget-bias" and self.forget_bias is None:
            return replace(self, forget_bias=1.0)
        if self.init == "chrono" and self.chrono_t_max is None:
            return replace(self, chrono_t_max=self.seq_len())
        return self

    def apply_init(self, model) -> None:
        """Initialise the classifier's LSTM gates as ``init`` says (after its weights are drawn
        from ``seed``); chrono draws from its own generator seeded with ``seed``, so the global
        random stream (dropout, shuffling) is the same for every init."""
        init_gates(model.rnn, self.init, forget_bias=self.forget_bias, t_max=self.chrono_t_max,
                   generator=torch.Generator().manual_seed(self.seed))

    def init_text(self) -> str:
        """The init in words for log lines: ``chrono (t_max 784)``, ``forget-bias (b_f 1)``."""
        if self.init == "forget-bias":
            return f"forget-bias (b_f {1.0 if self.forget_bias is None else self.forget_bias:g})"
        if self.init == "chrono":
            return f"chrono (t_max {self.chrono_t_max or self.seq_len()})"
        return self.init

    def model_config(self) -> dict:
        """The arguments of :class:`~scratch_lstm.LSTMClassifier` that this run trains."""
        return {
            "input_size": 28 if self.sequence == "rows" else 1,
            "hidden_size": self.hidden_size,
            "num_classes": 10,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
        }

    def validate(self, together: bool = True) -> None:
        """Raise :class:`TrainingError` naming the flag of the first bad value. ``together=False``
        checks each value alone, not how they go together (an init's value given without that
        init): a ``--resume`` checks that only once the run's settings are taken."""
        def bad(name: str, expected: str):
            raise TrainingError(f"--{name.replace('_', '-')} must be {expected}, got {getattr(self, name)!r}")

        for name, allowed in (("dataset", DATASETS), ("sequence", SEQUENCES), ("backend", BACKENDS),
                              ("schedule", SCHEDULES), ("device", DEVICES), ("dtype", DTYPES),
                              ("cuda_graph", CUDA_GRAPH), ("precision", PRECISIONS),
                              ("init", tuple(INITS))):
            if getattr(self, name) not in allowed:
                bad(name, "one of " + ", ".join(allowed))
        for name in ("hidden_size", "num_layers", "epochs", "batch_size"):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                bad(name, "a positive integer")
        if self.epochs > MAX_COUNT:
            bad("epochs", f"an integer from 1 to 2**53 ({MAX_COUNT:,})")
        for name in ("train_subset", "threads"):
            value = getattr(self, name)
            if value is not None and (not is_int(value) or value < 1):
                bad(name, "a positive integer (or None: all)" if name == "train_subset" else
                    "a positive integer (or None: torch's choice)")
        for name in ("data_dir", "out"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                bad(name, "a folder name (or None)")
        if not isinstance(self.download, bool) or not isinstance(self.resume, bool):
            bad("download" if not isinstance(self.download, bool) else "resume", "true or false")
        for name in ("seed", "permutation_seed"):
            if not is_int(getattr(self, name)) or not 0 <= getattr(self, name) < 2**64:
                bad(name, "an integer from 0 to 2**64 - 1")
        if not (is_number(self.dropout) and 0 <= self.dropout <= 1):
            bad("dropout", "a probability in [0, 1]")
        if not (is_number(self.lr) and self.lr > 0):
            bad("lr", "a finite number > 0")
        for name in ("grad_clip", "log_every"):
            if not (is_number(getattr(self, name)) and getattr(self, name) >= 0):
                bad(name, "a finite number >= 0")
        if self.forget_bias is not None and not (is_number(self.forget_bias) and abs(self.forget_bias)
                                                 <= torch.finfo(getattr(torch, self.dtype)).max):
            bad("forget_bias", f"a finite number {self.dtype} can hold")
        if self.chrono_t_max is not None and not (is_int(self.chrono_t_max)
                                                  and CHRONO_MIN_T_MAX <= self.chrono_t_max <= MAX_COUNT):
            bad("chrono_t_max", f"an integer from {CHRONO_MIN_T_MAX} to 2**53 ({MAX_COUNT:,})")
        for name, init in (("forget_bias", "forget-bias"), ("chrono_t_max", "chrono")):
            if together and getattr(self, name) is not None and self.init != init:
                raise TrainingError(f"--{name.replace('_', '-')} is a setting of --init {init}, "
                                    f"not of --init {self.init}")


def init_of_checkpoint(ckpt: dict) -> TrainConfig:
    """A checkpoint's init settings (and seed) as a :class:`TrainConfig`, the rest left default:
    ``init_of_checkpoint(ckpt).apply_init(model)`` starts ``model`` as that run started. A
    checkpoint from before ``--init`` had the default init."""
    saved = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    settings = {name: saved[name] for name in ("init", "forget_bias", "chrono_t_max") if name in saved}
    init = TrainConfig(**settings, seed=saved.get("seed", 0), sequence=ckpt.get("sequence", "rows"))
    return init.with_init_defaults()


def check_threads(threads: int | None, source: str = "--threads") -> None:
    """:class:`TrainingError` if ``threads`` is not a positive integer or exceeds the CPUs this
    machine has (a run's setting can come from another machine)."""
    n = cpu_count()
    if threads is not None and (not is_int(threads) or threads < 1):
        raise TrainingError(f"{source} must be a positive integer (or None: torch's choice), got {threads!r}")
    if threads is not None and threads > n:
        raise TrainingError(f"{source} {threads}: this machine has {n} CPUs; pass --threads {n} or fewer")


def threads_line(threads: int | None, source: str | None = None) -> str:
    """The line a command that computes prints before it computes: how many CPU threads torch uses, and why:
    ``threads`` (``--threads``, or ``source`` where the value came from elsewhere), else what sets
    torch's default (``OMP_NUM_THREADS``, or one thread per core, and whether the command's
    start-up made waiting threads sleep: :func:`scratch_lstm._startup.choose_wait_policy`)."""
    from .._startup import free_threads, wait_policy_note  # set as the command started, before torch loaded

    n = torch.get_num_threads()
    if threads is not None:
        why = source or f"--threads {threads}"
    elif free_threads is not None:  # the start-up set OMP_NUM_THREADS
        why = "one per CPU that other programs left free"
    elif os.environ.get("OMP_NUM_THREADS", "").strip():
        why = f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS'].strip()}"
    else:
        why = "torch's default, one per core"
    return f"CPU threads: {n} ({why}" + (f"; {wait_policy_note})" if wait_policy_note else ")")


def use_threads(threads: int | None) -> int:
    """Give torch ``threads`` CPU threads (None: leave torch's default), after
    :func:`check_threads`. Returns torch's count before, for the caller to put back when the
    command ends; the command then says what it uses (:func:`threads_line`)."""
    check_threads(threads)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    return before


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; an explicit device that is absent is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise TrainingError(f"--device {name} was asked for but is not available here; use --device cpu or auto")
    return torch.device(name)


def check_backend_device(backend: str, device: torch.device, flag: str = "--backend",
                         source: str | None = None) -> None:
    """:class:`TrainingError` if ``backend`` cannot run on ``device`` (triton off the GPU).

    The message (:func:`scratch_lstm.impls.unavailable_reason`) names the flag (``flag``) or,
    when the backend came from a checkpoint, ``source``, and the alternative (``FLAG fused``).
    """
    if backend == "torch":
        return
    reason = unavailable_reason(backend, device, source or f"{flag} {backend}", f"{flag} fused")
    if reason is not None:
        raise TrainingError(reason)
