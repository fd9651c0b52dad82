"""Long memory: train one LSTM per forget-gate initialisation on tasks whose answer lies far back.

Same seed, same weights (but for the gate biases), same batches and budget for every init; the
tasks are the adding problem and sequential MNIST read one pixel per step (784 steps; permuted:
psMNIST). Writes ``long_memory.json`` (every evaluation), ``long_memory.md`` (the table) and
``long_memory.png`` (test accuracy and loss over training steps, one line per init)::

    python benchmarks/long_memory.py --out runs/long-memory --data-dir DIR --threads 1
    python benchmarks/long_memory.py --out runs/long-memory-full --data-dir DIR --full   # GPU

The default budget is sized for a CPU; ``--full`` is the full run (12 epochs of the MNIST tasks,
batch 128, hidden 128, as the published results are reported), for a GPU. Without ``--data-dir``
the MNIST tasks read the embedded 6,000-image sample.

The adding problem (after Hochreiter and Schmidhuber 1997, experiment 4): each step is a pair
(value, marker) with values from U(-1, 1); one pair among the first 10 steps and one among the
first T/2 - 1 are marked 1, the rest 0; the target is 0.5 + (x1 + x2) / 4, and a sequence counts
as solved when the answer is within 0.04. Answering 0.5 always has a mean squared error of 1/24
(0.042) and solves about 16% of sequences; the model must carry two numbers over at least T/2
steps to do better.
"""

from __future__ import annotations

import scratch_lstm  # noqa: F401  first, before torch: Ctrl-C while starting is one line (scratch_lstm/_startup.py)

# isort: split
import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from scratch_lstm import INITS, LSTMClassifier, init_gates
from scratch_lstm.app import command, flags
from scratch_lstm.app.config import check_backend_device, resolve_device, threads_line, use_threads
from scratch_lstm.app.data import Batches, load_dataset, pixel_permutation, sequence_view
from scratch_lstm.app.errors import TrainingError
from scratch_lstm.app.files import atomic_write_bytes, check_new_files, make_folders, save_json
from scratch_lstm.app.limits import check_fits, lstm_classifier_parameters
from scratch_lstm.app.progress import plural
from scratch_lstm.app.runs import check_out_folder, check_out_is_not_data
from scratch_lstm.classifier import BACKENDS

TASKS = ("adding", "pixels", "permuted")
ADDING_TOLERANCE = 0.04  # Hochreiter and Schmidhuber's criterion for a solved sequence


@dataclass
class Budget:
    """What every (task, init) run gets."""

    steps: int = 400  # optimizer steps on each MNIST task
    adding_steps: int = 2000  # optimizer steps on the adding problem
    batch_size: int = 64
    hidden_size: int = 64
    adding_length: int = 200  # T of the adding problem
    eval_every: int = 50  # steps between evaluations (and at the end)
    test_size: int = 1000  # test sequences per evaluation
    lr: float = 1e-3  # Adam, decayed to 0 by a cosine over the run
    grad_clip: float = 1.0  # gradient-norm clipping (0: off)
    forget_bias: float = 1.0
    seed: int = 0


FULL = {"steps": 12 * math.ceil(60_000 / 128), "adding_steps": 10_000, "batch_size": 128,
        "hidden_size": 128, "adding_length": 400, "eval_every": math.ceil(60_000 / 128),
        "test_size": 10_000}  # --full: 12 epochs of the MNIST tasks, the whole test split


def adding_batch(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` adding-problem sequences ``(n, T, 2)`` (value, marker) and their targets ``(n,)``."""
    values = torch.rand(n, T, generator=generator) * 2 - 1  # U(-1, 1)
    first = torch.randint(0, 10, (n,), generator=generator)  # among the first 10 steps
    # the second among the first T/2 - 1 steps, never the first: draw from the others
    second = torch.randint(0, T // 2 - 2, (n,), generator=generator)
    second = second + (second >= first).long()
    markers = torch.zeros(n, T)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = 0.5 + (values[rows, first] + values[rows, second]) / 4
    return torch.stack([values, markers], dim=2), target


class Task:
    """A task's training batches (endless, seeded) and its fixed test set."""

    def __init__(self, name: str, budget: Budget, data_dir: str | None, device: torch.device, ds=None):
        self.name, self.device = name, device
        B = budget.batch_size
        if name == "adding":
            self.T, self.input_size, self.num_classes = budget.adding_length, 2, 1
            self.test = adding_batch(budget.test_size, self.T, torch.Generator().manual_seed(10**6))
            self._train_gen = torch.Generator().manual_seed(budget.seed)
            self._batches = iter(lambda: adding_batch(B, self.T, self._train_gen), None)
            self.source = f"adding problem, T = {self.T}\n(Hochreiter and Schmidhuber 1997)"
            return
        self.T, self.input_size, self.num_classes = 784, 1, 10
        ds = ds or load_dataset("auto", data_dir)
        perm = pixel_permutation(0) if name == "permuted" else None
        n_test = min(budget.test_size, len(ds.test_labels))
        self.test = (sequence_view(ds.test_images[:n_test], name, *ds.stats, perm), ds.test_labels[:n_test])
        batches = Batches(ds.train_images, ds.train_labels, B, name, ds.stats, perm, shuffle=True,
                          generator=torch.Generator().manual_seed(budget.seed))
        self._batches = (batch for _ in iter(int, 1) for batch in batches)  # epoch after epoch
        what = "psMNIST: permuted pixels" if name == "permuted" else "sMNIST: pixels"
        self.source = f"{what}, {ds.name}\n{len(ds.train_labels):,} train, first {n_test:,} test images"

    def next_batch(self):
        x, y = next(self._batches)
        return x.to(self.device), y.to(self.device)

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy for MNIST; the squared error of the one output for the adding problem."""
        if self.name == "adding":
            return F.mse_loss(out.squeeze(1), y)
        return F.cross_entropy(out, y)

    def correct(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per sequence: the right digit, or an answer within 0.04 of the adding target."""
        if self.name == "adding":
            return (out.squeeze(1) - y).abs() < ADDING_TOLERANCE
        return out.argmax(1) == y

    @torch.no_grad()
    def evaluate(self, model, chunk: int = 1000) -> tuple[float, float]:
        """``(loss, accuracy)`` on the fixed test set."""
        model.eval()
        x_all, y_all = self.test
        loss_sum, correct = 0.0, 0
        for lo in range(0, len(y_all), chunk):
            x, y = x_all[lo : lo + chunk].to(self.device), y_all[lo : lo + chunk].to(self.device)
            out = model(x)
            loss_sum += self.loss(out, y).item() * len(y)
            correct += int(self.correct(out, y).sum())
        model.train()
        return loss_sum / len(y_all), correct / len(y_all)


def make_model(task: Task, init: str, budget: Budget, backend: str, device) -> LSTMClassifier:
    """The task's classifier with ``init``: drawn from the seed, then the gate biases set (chrono's
    longest timescale: the sequence length), so the inits differ only in those biases."""
    torch.manual_seed(budget.seed)
    model = LSTMClassifier(task.input_size, budget.hidden_size, task.num_classes, num_layers=1,
                           backend=backend)
    init_gates(model.rnn, init, forget_bias=budget.forget_bias if init == "forget-bias" else None,
               t_max=task.T if init == "chrono" else None,
               generator=torch.Generator().manual_seed(budget.seed))
    return model.to(device)


def train_one(task: Task, init: str, budget: Budget, backend: str, device, log=print) -> list[dict]:
    """Train one model; returns its evaluations (step, test loss and accuracy, train loss)."""
    model = make_model(task, init, budget, backend, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.lr)
    steps = budget.adding_steps if task.name == "adding" else budget.steps
    loss_0, acc_0 = task.evaluate(model)
    history = [{"step": 0, "test_loss": loss_0, "test_acc": acc_0, "train_loss": None, "seconds": 0.0}]
    t0, train_losses = time.perf_counter(), []
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:  # cosine decay to 0 over the run
            group["lr"] = budget.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        x, y = task.next_batch()
        loss = task.loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if budget.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), budget.grad_clip)
        optimizer.step()
        train_losses.append(loss.item())
        if not math.isfinite(train_losses[-1]):
            raise TrainingError(f"{task.name} {init}: the loss became {train_losses[-1]} at step {step}; "
                                f"stopped. Try a lower --lr or --grad-clip 1")
        if step % budget.eval_every == 0 or step == steps:
            test_loss, test_acc = task.evaluate(model)
            history.append({"step": step, "test_loss": test_loss, "test_acc": test_acc,
                            "train_loss": sum(train_losses) / len(train_losses),
                            "seconds": round(time.perf_counter() - t0, 1)})
            train_losses = []
            log(f"  {task.name} {init}: step {step}/{steps}: test loss {test_loss:.4f}, "
                f"accuracy {100 * test_acc:.2f}% ({history[-1]['seconds']:.0f} s)")
    return history


def table(results: dict) -> str:
    """A markdown table: per task and init, the final and best test accuracy and the final loss."""
    lines = ["| task | init | test accuracy (final) | best | test loss (final) | steps | seconds (with tests) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for task, runs in results["runs"].items():
        for init, history in runs.items():
            last = history[-1]
            best = max(h["test_acc"] for h in history)
            lines.append(f"| {task} | {init} | {100 * last['test_acc']:.2f}% | {100 * best:.2f}% | "
                         f"{last['test_loss']:.4f} | {last['step']} | {last['seconds']:.0f} |")
    if "always_half" in results:
        constant = results["always_half"]
        lines.append(f"\nAdding problem: always answering 0.5 scores a test loss (MSE) of {constant['mse']:.4f} "
                     f"and solves {100 * constant['solved']:.2f}% (the accuracy column: share of sequences "
                     f"answered within {ADDING_TOLERANCE}).")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    """Test accuracy and loss over steps, one line per init, one column per task."""
    from scratch_lstm.app.plots import STYLE, _pyplot, _save

    plt = _pyplot()
    tasks = list(results["runs"])
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(tasks), figsize=(5.2 * len(tasks), 8), squeeze=False)
        for col, task in enumerate(tasks):
            for init, history in results["runs"][task].items():
                steps = [h["step"] for h in history]
                axes[0, col].plot(steps, [100 * h["test_acc"] for h in history], "-", label=init)
                axes[1, col].plot(steps, [h["test_loss"] for h in history], "-", label=init)
            adding = task == "adding"
            axes[0, col].set(title=results["sources"][task], ylabel="test: solved (%)" if adding
                             else "test accuracy (%)")
            axes[1, col].set(xlabel="training step", ylabel="test MSE" if adding else "test cross-entropy")
            if adding:  # the squared error spans orders of magnitude; 0.5 is the mean answer
                axes[1, col].set_yscale("log")
                constant = results["always_half"]
                axes[0, col].axhline(100 * constant["solved"], color="0.5", ls=":", label="always 0.5")
                axes[1, col].axhline(constant["mse"], color="0.5", ls=":", label="always 0.5")
            for ax in axes[:, col]:
                ax.grid(alpha=0.3)
                ax.legend(fontsize=10)
        b = results["budget"]
        title = (f"One LSTM per init: {results['backend']}, hidden {b['hidden_size']}, batch "
                 f"{b['batch_size']}, Adam {b['lr']:g} cosine, clip {b['grad_clip']:g}, seed {b['seed']}")
        fig.suptitle(title if len(tasks) == 3 else title.replace(", batch", ",\nbatch"))
        fig.tight_layout()
        _save(fig, path)


def check_budget_fits(name: str, budget: Budget, device) -> None:
    """Refuse (:class:`TrainingError`) a budget whose model, batch and test set cannot fit in memory,
    before anything is allocated: a lower bound, as ``train`` checks its own."""
    T, Q, C = (budget.adding_length, 2, 1) if name == "adding" else (784, 1, 10)
    B, H = budget.batch_size, budget.hidden_size
    n_test = budget.test_size if name == "adding" else min(budget.test_size, 10_000)
    P = lstm_classifier_parameters(Q, H, 1, C)
    check_fits(4 * (4 * P + B * T * Q + 2 * B * T * H + n_test * T * Q),
               f"--hidden-size {H} --batch-size {B} --test-size {n_test} on {name} ({T} steps; the weights "
               "with their gradients and Adam's moments, a batch, h and c of every step, the test set)",
               device, hint="lower --hidden-size, --batch-size or --test-size")


def run(args) -> dict:
    """Train every (task, init) pair, writing the JSON after each and the table and figure at the
    end. Everything is checked first (the folder, the device and backend, the sizes, the data); an
    earlier experiment's long_memory.json is never replaced."""
    out = Path(args.out)
    check_out_folder(out)
    check_new_files(out, ("long_memory.json", "long_memory.md", "long_memory.png"))
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = resolve_device(args.device)
    check_backend_device(args.backend, device)
    budget = budget_from(args, Budget, FULL)
    for name in args.tasks:
        check_budget_fits(name, budget, device)
    ds = load_dataset("auto", args.data_dir) if set(args.tasks) - {"adding"} else None
    if ds is not None:
        check_out_is_not_data(out, args.data_dir, ds)
    use_threads(args.threads)
    make_folders(out)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU, {plural(torch.get_num_threads(), 'thread')}")
    results = {"budget": asdict(budget), "backend": args.backend, "where": where,
               "torch": torch.__version__, "sources": {}, "runs": {}}
    print(f"long memory: {', '.join(args.tasks)} x {', '.join(args.inits)} on {where}; {budget}", flush=True)
    print(threads_line(args.threads), flush=True)
    for name in args.tasks:
        task = Task(name, budget, args.data_dir, device, ds)
        results["sources"][name] = task.source
        if name == "adding":  # what answering the targets' mean, 0.5, scores on this test set
            target = task.test[1]
            results["always_half"] = {"mse": ((target - 0.5) ** 2).mean().item(),
                                      "solved": ((target - 0.5).abs() < ADDING_TOLERANCE).double().mean().item()}
        results["runs"][name] = {}
        for init in args.inits:
            results["runs"][name][init] = train_one(task, init, budget, args.backend, device,
                                                    log=lambda s: print(s, flush=True))
            save_json(out / "long_memory.json", results)
    text = table(results) + "\n"
    atomic_write_bytes(out / "long_memory.md", lambda fh: fh.write(text.encode()))
    plot(results, out / "long_memory.png")
    print(table(results))
    print(f"wrote {out / 'long_memory.json'}, {out / 'long_memory.md'}, {out / 'long_memory.png'}")
    return results


def adding_length(text: str) -> int:
    """argparse type: T of the adding problem, at least 20 (the first marker is among the first
    10 steps, the second among the first T/2 - 1)."""
    value = flags.positive_int(text)
    if value < 20:
        raise argparse.ArgumentTypeError(f"must be an integer >= 20, got {text}")
    return value


BUDGET_FLAGS = {  # each Budget field's flag: its type and what it sets
    "steps": (flags.count, "optimizer steps on each MNIST task"),
    "adding_steps": (flags.count, "optimizer steps on the adding problem"),
    "batch_size": (flags.positive_int, "sequences per batch"),
    "hidden_size": (flags.positive_int, "the LSTM's hidden units (one layer)"),
    "adding_length": (adding_length, "T of the adding problem, at least 20"),
    "eval_every": (flags.count, "steps between evaluations (and one at the end)"),
    "test_size": (flags.positive_int, "test sequences per evaluation"),
    "lr": (flags.positive_float, "Adam's learning rate, decayed to 0 by a cosine over the run"),
    "grad_clip": (flags.non_negative_float, "gradient-norm clipping (0: off)"),
    "forget_bias": (flags.forget_bias, "the forget-gate bias b_f of the forget-bias init"),
    "seed": (flags.seed, "seed of the weights and the batches"),
}


def add_budget_flags(parser: argparse.ArgumentParser, budget: object, table: dict, full: dict) -> None:
    """One flag per field of the dataclass ``budget`` (``--adding-steps`` for ``adding_steps``),
    typed and described by ``table`` (field: (argparse type, what it sets)), its help naming the
    default and the value under ``--full`` (``full``). A flag left out is ``None`` in the args."""
    for name, value in asdict(budget).items():
        kind, text = table[name]
        with_full = f"; with --full: {full[name]}" if name in full else ""
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                            help=f"{text} (default: {value}{with_full})")


def budget_from(args, budget_class, full: dict):
    """The budget the flags ask for: the defaults, then ``full`` with ``--full``, then every
    budget flag given."""
    given = {k: v for k, v in vars(args).items() if k in budget_class.__dataclass_fields__ and v is not None}
    return budget_class(**{**asdict(budget_class()), **(full if args.full else {}), **given})


def run_command(run, args) -> int:
    """``run(args)`` as the ``scratch-lstm`` command runs a command (:mod:`scratch_lstm.app.command`):
    a mistake the user can fix (missing data, a folder that cannot be written, a bad value: a
    ``ValueError`` here) is one ``error:`` line and exit code 2, Ctrl-C one line that says what was
    written and exit code 130; never a traceback."""
    def body() -> int:
        try:
            run(args)
        except ValueError as e:
            raise TrainingError(str(e)) from None
        return 0

    return command.finish(command.run(body))


def main(argv=None) -> int:
    """Run the experiment; it ends as the ``scratch-lstm`` command does (one ``error:`` line and
    exit code 2 for a mistake, 130 for Ctrl-C: :mod:`scratch_lstm.app.command`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     formatter_class=flags.HelpFormatter)
    flags.accept_negative_numbers(parser)
    parser.add_argument("--out", required=True, type=flags.path, help="folder for the JSON, table and figure")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="tasks to run")
    parser.add_argument("--inits", nargs="+", choices=tuple(INITS), default=list(INITS),
                        help="initialisations to compare")
    parser.add_argument("--data-dir", default=None, type=flags.path,
                        help="folder with MNIST (DIR/MNIST/raw/ or the IDX files); default: the sample")
    parser.add_argument("--backend", default="fused", choices=BACKENDS,
                        help="the LSTM implementation (triton: CUDA)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="auto: cuda if available")
    flags.add_threads_flag(parser)
    parser.add_argument("--full", action="store_true",
                        help=f"the full run for a GPU: {', '.join(f'{k} {v}' for k, v in FULL.items())}")
    add_budget_flags(parser, Budget(), BUDGET_FLAGS, FULL)
    return run_command(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
