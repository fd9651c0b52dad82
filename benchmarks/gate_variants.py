"""Why these gates: every cell trained with the same seeds, batches and budget on tasks that need memory.

The cells (all on the teaching path, :mod:`scratch_lstm.variants`): the plain RNN, the GRU, and the
LSTM (``vanilla``, ``nn.LSTM``'s cell) with each of Greff et al.'s (2017) changes: no input gate
(``nig``), no forget gate (``nfg``, the 1997 cell), no output gate (``nog``), no input or output
activation (``niaf``, ``noaf``), coupled input and forget gates (``cifg``), and peepholes. Each
has a Linear head on its last step's output; hidden size, batches, optimizer and steps are the
same for all, and so, for one seed, are the head and ``nn.LSTM``'s parameters of every LSTM
variant (drawn first, in the same order; the peepholes after them).

The tasks:

- ``adding-100``, ``adding-200``: the adding problem at T = 100 and 200 (``long_memory.py``'s:
  two marked values among the first T/2 steps, the answer 0.5 + (x1 + x2)/4, solved within
  0.04; answering 0.5 always solves about 15%, MSE 1/24);
- ``rows``: row-wise MNIST, 28 steps of 28 pixels;
- ``rows-blank``: the same digit followed by 100 blank rows (background pixels), 128 steps: the
  answer must be carried across the last 100.

Writes ``gate_variants.json`` (every evaluation of every run, after each run), ``gate_variants.md``
(per task and cell: median over the seeds of the final test score, with the lowest and highest)
and ``gate_variants.png`` (test score and loss over training, median over seeds, one line per
cell)::

    python benchmarks/gate_variants.py --out runs/gate-variants --data-dir DIR
    python benchmarks/gate_variants.py --out runs/gate-variants-full --data-dir DIR --full

Without ``--data-dir`` the MNIST tasks read the embedded 5,000/1,000-image sample (the script
says so). The default budget is designed to run in 40 minutes or less on the 2-core CPU its cost
model was measured on, with nothing else running (``--jobs 2``, one thread each); CPUs of the same
name have run it 1.5 times slower, so the estimate printed at the start times a few training steps
on the machine itself and scales the model by them. ``--full`` is a longer run (more steps, seeds
and test sequences).
"""

from __future__ import annotations

import scratch_lstm  # noqa: F401  first, before torch: Ctrl-C while starting is one line (scratch_lstm/_startup.py)

# isort: split
import argparse
import gc
import math
import multiprocessing
import signal
import statistics
import sys
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from long_memory import ADDING_TOLERANCE, add_budget_flags, adding_batch, budget_from, run_command
from long_memory import Task as LongMemoryTask
from torch import nn

from scratch_lstm import GRU, INITS, LSTM, RNN, VARIANTS, init_gates
from scratch_lstm.app import flags
from scratch_lstm.app.data import Batches, load_dataset, sequence_view
from scratch_lstm.app.files import atomic_write_bytes, check_new_files, make_folders, save_json
from scratch_lstm.app.limits import check_fits, cpu_count, lstm_classifier_parameters, overhead_bytes
from scratch_lstm.app.progress import plural
from scratch_lstm.app.runs import check_out_folder
from scratch_lstm.params import gru_num_parameters, lstm_num_parameters, rnn_num_parameters

CELLS = ("rnn", "gru", *VARIANTS)  # every cell, in the table's and the figure's order
TASKS = ("adding-100", "adding-200", "rows", "rows-blank")


@dataclass
class Budget:
    """What every (task, cell, seed) run gets."""

    adding_steps: int = 1200  # optimizer steps on each adding task
    mnist_steps: int = 800  # optimizer steps on each MNIST task
    batch_size: int = 64
    hidden_size: int = 64
    eval_every: int = 100  # steps between evaluations (and one at the end)
    test_size: int = 1000  # test sequences per evaluation
    lr: float = 3e-3  # Adam, decayed to 0 by a cosine over the run
    grad_clip: float = 1.0  # gradient-norm clipping (0: off)
    seeds: int = 3  # seeds seed, seed + 1, ...: each its own weights and batches
    seed: int = 0
    blank_rows: int = 100  # blank rows after the digit in rows-blank


FULL = {"adding_steps": 5_000, "mnist_steps": 3_000, "eval_every": 250, "test_size": 10_000,
        "seeds": 5}  # --full: about 4 hours of the cost model's machine (estimate_seconds)

BUDGET_FLAGS = {
    "adding_steps": (flags.positive_int, "optimizer steps on each adding task"),
    "mnist_steps": (flags.positive_int, "optimizer steps on each MNIST task (rows and rows-blank alike)"),
    "batch_size": (flags.positive_int, "sequences per batch"),
    "hidden_size": (flags.positive_int, "hidden units of every cell (one layer)"),
    "eval_every": (flags.positive_int, "steps between evaluations (and one at the end)"),
    "test_size": (flags.positive_int, "test sequences per evaluation"),
    "lr": (flags.positive_float, "Adam's learning rate, decayed to 0 by a cosine over the run"),
    "grad_clip": (flags.non_negative_float, "gradient-norm clipping (0: off)"),
    "seeds": (flags.positive_int, "seeds per (task, cell): --seed, --seed + 1, ..."),
    "seed": (flags.seed, "the first seed"),
    "blank_rows": (flags.positive_int, "blank rows after the digit in rows-blank"),
}

# Seconds of one training step per time step of the sequence, by cell, with the default budget's
# sizes (batch 64, hidden 64, one thread), and of an evaluation per test sequence and time step:
# measured on a 2-core AMD EPYC beside other work (load about 2). Another machine, another load or
# other sizes change them (at hidden 128 and batch 128 a training step took 4.3 times as long):
# probe_speed measures the factor for the vanilla cell before a run, and the estimate scales all by it.
SECONDS_PER_STEP = {"rnn": 0.08e-3, "gru": 0.24e-3, "peephole": 0.30e-3}
SECONDS_PER_STEP_LSTM = 0.24e-3  # vanilla and the other variants
SECONDS_PER_TEST_STEP = 1.0e-6  # an evaluation: per test sequence and time step


class Task(LongMemoryTask):
    """A task's fixed test set and, per seed, its endless stream of training batches (the same
    stream for every cell). ``loss``, ``correct`` and ``evaluate`` are ``long_memory.py``'s."""

    def __init__(self, key: str, budget: Budget, data_dir: str | None, device: torch.device):
        self.key, self.device, self.budget = key, device, budget
        if key.startswith("adding"):
            self.name, self.T = "adding", int(key.split("-")[1])
            self.input_size, self.num_classes = 2, 1
            self.test = adding_batch(budget.test_size, self.T, torch.Generator().manual_seed(10**6))
            self.source = f"adding problem, T = {self.T}"
            target = self.test[1]
            self.baseline = {"what": "always 0.5", "loss": ((target - 0.5) ** 2).mean().item(),
                             "score": ((target - 0.5).abs() < ADDING_TOLERANCE).double().mean().item()}
            return
        self.name, self.input_size, self.num_classes = "rows", 28, 10
        self.blank = budget.blank_rows if key == "rows-blank" else 0
        self.T = 28 + self.blank
        self.ds = load_dataset("auto", data_dir, command="gate_variants.py")
        n_test = min(budget.test_size, len(self.ds.test_labels))
        labels = self.ds.test_labels[:n_test]
        self.test = (self._with_blank(sequence_view(self.ds.test_images[:n_test], "rows", *self.ds.stats)), labels)
        shares = torch.bincount(labels, minlength=10).double() / n_test
        self.baseline = {"what": "the commonest digit", "loss": math.log(10), "score": shares.max().item()}
        blank = f" + {self.blank} blank rows" if self.blank else ""
        self.source = (f"MNIST rows{blank}, {self.ds.name}: {len(self.ds.train_labels):,} train, "
                       f"first {n_test:,} test images")

    def _with_blank(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, 28, 28)`` followed by ``self.blank`` rows of background pixels (raw 0)."""
        if not self.blank:
            return x
        mean, std = self.ds.stats
        background = torch.full((x.size(0), self.blank, 28), (0.0 - mean) / std)  # (N, blank, 28)
        return torch.cat([x, background], dim=1)  # (N, 28 + blank, 28)

    def batches(self, seed: int):
        """The training batches of ``seed``, endless: the same for every cell."""
        B = self.budget.batch_size
        if self.name == "adding":
            gen = torch.Generator().manual_seed(seed)
            while True:
                yield adding_batch(B, self.T, gen)
        batches = Batches(self.ds.train_images, self.ds.train_labels, B, "rows", self.ds.stats,
                          shuffle=True, generator=torch.Generator().manual_seed(seed))
        while True:  # epoch after epoch
            for x, y in batches:
                yield self._with_blank(x), y


class Model(nn.Module):
    """A recurrent cell and a Linear head on its last step's output: ``(N, T, I) -> (N, outputs)``."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, outputs: int):
        super().__init__()
        self.lin = nn.Linear(hidden_size, outputs)  # first: the same head for every cell of a seed
        if cell == "rnn":
            self.rnn = RNN(input_size, hidden_size, batch_first=True)
        elif cell == "gru":
            self.rnn = GRU(input_size, hidden_size, batch_first=True)
        else:
            self.rnn = LSTM(input_size, hidden_size, batch_first=True, variant=cell)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(self.rnn(x)[0][:, -1])  # (N, outputs)


def parameter_counts(cell: str, task: Task, H: int) -> tuple[int, int]:
    """(registered, used) parameters of the cell and its head, from the closed forms."""
    head = (H + 1) * task.num_classes
    if cell in ("rnn", "gru"):
        n = (rnn_num_parameters if cell == "rnn" else gru_num_parameters)(task.input_size, H) + head
        return n, n
    return (lstm_num_parameters(task.input_size, H, variant=cell) + head,
            lstm_num_parameters(task.input_size, H, variant=cell, used_only=True) + head)


@torch.no_grad()
def init_cell(rnn: nn.Module, init: str, t_max: int, generator: torch.Generator) -> None:
    """The gate initialisation ``init`` (one of :data:`scratch_lstm.INITS`) of a fresh cell.

    The LSTM's family: :func:`scratch_lstm.init_gates` (chrono with ``t_max``). The GRU: the same
    for its update gate z, which plays the forget gate's part in ``h_t = (1 - z_t) ⊙ n_t + z_t ⊙
    h_{t-1}``: ``b_z = b_iz + b_hz`` set to 1 (forget-bias) or drawn from ``log U(1, t_max - 1)``
    (chrono; ``b_hz = 0``); the GRU has no input gate to set against it. The plain RNN has no gate:
    torch's draw."""
    if init == "default" or isinstance(rnn, RNN):
        return
    if isinstance(rnn, LSTM):
        init_gates(rnn, init, t_max=t_max if init == "chrono" else None, generator=generator)
        return
    H = rnn.hidden_size
    if init == "forget-bias":
        b_z = torch.ones(H, dtype=torch.float64)
    else:
        b_z = torch.log(torch.rand(H, generator=generator, dtype=torch.float64) * (t_max - 2) + 1)
    for name, b_ih in rnn.named_parameters():
        if name.startswith("bias_ih"):
            b_ih[H : 2 * H] = b_z.to(b_ih)  # the z rows (r, z, n)
            getattr(rnn, "bias_hh" + name[len("bias_ih"):])[H : 2 * H] = 0.0


def train_one(task: Task, cell: str, seed: int, init: str, log=print) -> dict:
    """Train one model; returns its evaluations (step, test loss and score, train loss) and counts.
    A run whose loss is not finite stops there (``"diverged"``: the step)."""
    b = task.budget
    torch.manual_seed(seed)
    model = Model(cell, task.input_size, b.hidden_size, task.num_classes)
    init_cell(model.rnn, init, task.T, torch.Generator().manual_seed(seed))
    model = model.to(task.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=b.lr)
    steps = b.adding_steps if task.name == "adding" else b.mnist_steps
    loss_0, score_0 = task.evaluate(model)
    history = [{"step": 0, "test_loss": loss_0, "test_score": score_0, "train_loss": None}]
    registered, used = parameter_counts(cell, task, b.hidden_size)
    record = {"history": history, "parameters": registered, "used_parameters": used, "diverged": None}
    t0, train_losses, batches = time.perf_counter(), [], task.batches(seed)
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:  # cosine decay to 0 over the run
            group["lr"] = b.lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps))
        x, y = (t.to(task.device) for t in next(batches))
        loss = task.loss(model(x), y)
        if not torch.isfinite(loss):
            record["diverged"] = step
            log(f"  {task.key} {cell} seed {seed}: the loss is {loss.item()} at step {step}; stopped")
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if b.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), b.grad_clip)
        optimizer.step()
        train_losses.append(loss.item())
        if step % b.eval_every == 0 or step == steps:
            test_loss, score = task.evaluate(model)
            history.append({"step": step, "test_loss": test_loss if math.isfinite(test_loss) else None,
                            "test_score": score, "train_loss": sum(train_losses) / len(train_losses)})
            train_losses = []
            what = "solved" if task.name == "adding" else "accuracy"
            log(f"  {task.key} {cell} seed {seed}: step {step}/{steps}: test {what} {100 * score:.1f}%, "
                f"loss {test_loss:.4f} ({time.perf_counter() - t0:.0f} s)")
    record["seconds"] = round(time.perf_counter() - t0, 1)
    return record


# ---- the runs, in this process or in workers ---------------------------------------------------------

_TASKS: dict[str, Task] = {}  # a worker's tasks, built on first use


def _start_worker(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to answer
    torch.set_num_threads(threads)


def _run_job(job) -> tuple:
    key, cell, seed, budget, data_dir, init = job
    if key not in _TASKS:
        _TASKS[key] = Task(key, Budget(**budget), data_dir, torch.device("cpu"))
    return key, cell, seed, train_one(_TASKS[key], cell, seed, init, log=lambda s: print(s, flush=True))


def estimate_seconds(budget: Budget, tasks, cells, jobs: int) -> float:
    """The wall time of all runs from the cost model of :data:`SECONDS_PER_STEP` (hidden 64,
    batch 64): training steps and evaluations, shared among ``jobs`` processes."""
    total = 0.0
    for task in tasks:
        steps = budget.adding_steps if task.name == "adding" else budget.mnist_steps
        total += sum(SECONDS_PER_STEP.get(c, SECONDS_PER_STEP_LSTM) for c in cells) * task.T * steps
        evaluations = steps // budget.eval_every + 2  # at step 0, every eval_every steps, at the end
        test_size = min(budget.test_size, len(task.test[1]))
        total += len(cells) * evaluations * SECONDS_PER_TEST_STEP * test_size * task.T
    return total * budget.seeds / jobs


def probe_speed(task: Task, steps: int = 4) -> float:
    """This machine's speed against the cost model: the time of ``steps`` training steps of the
    vanilla cell on ``task`` at the budget's sizes (after one untimed step), over what
    :data:`SECONDS_PER_STEP_LSTM` predicts for them (1: as fast as the model; 2: twice as slow)."""
    b = task.budget
    torch.manual_seed(0)
    model = Model("vanilla", task.input_size, b.hidden_size, task.num_classes).to(task.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=b.lr)
    batches = task.batches(0)

    def step():
        x, y = (t.to(task.device) for t in next(batches))
        loss = task.loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps / (SECONDS_PER_STEP_LSTM * task.T)


def check_budget_fits(key: str, budget: Budget) -> None:
    """Refuse (:class:`~scratch_lstm.app.errors.TrainingError`) a budget whose model, batch and test
    set cannot fit in memory on task ``key``, before anything is allocated: a lower bound (the
    LSTM's weights with their gradients and Adam's moments, a batch, h and c of every step, the test
    set, and what the teaching path records per step: :func:`~scratch_lstm.app.limits.overhead_bytes`)."""
    T, Q, C = (int(key.split("-")[1]), 2, 1) if key.startswith("adding") else (
        28 + (budget.blank_rows if key == "rows-blank" else 0), 28, 10)
    B, H = budget.batch_size, budget.hidden_size
    n_test = budget.test_size if key.startswith("adding") else min(budget.test_size, 10_000)
    P = lstm_classifier_parameters(Q, H, 1, C)
    check_fits(4 * (4 * P + B * T * Q + 2 * B * T * H + n_test * T * Q) + overhead_bytes(1, T),
               f"--hidden-size {H} --batch-size {B} --test-size {n_test} on {key} ({T} steps; the weights "
               "with their gradients and Adam's moments, a batch, h and c of every step, the test set)",
               hint="lower --hidden-size, --batch-size or --test-size")


def run(args) -> dict:
    """Every (task, cell, seed) run, the JSON after each, the table and figure at the end."""
    budget = budget_from(args, Budget, FULL)
    out = Path(args.out)
    check_out_folder(out)
    check_new_files(out, ("gate_variants.json", "gate_variants.md", "gate_variants.png"))
    for key in args.tasks:  # before any data is read or model made
        check_budget_fits(key, budget)
    if budget.seed + budget.seeds - 1 >= 2**64:  # seed, seed + 1, ...: each a torch seed
        raise ValueError(f"--seed {budget.seed} with --seeds {budget.seeds} runs past the largest seed, "
                         f"2**64 - 1; pass --seed {2**64 - budget.seeds} or lower")
    threads = args.threads or 1
    torch.set_num_threads(threads)
    tasks = {key: Task(key, budget, args.data_dir, torch.device("cpu")) for key in args.tasks}  # data first
    seeds = [budget.seed + k for k in range(budget.seeds)]
    jobs = [(key, cell, seed, asdict(budget), args.data_dir, args.init)
            for seed in seeds for key in args.tasks for cell in args.cells]
    where = f"CPU, {args.jobs} process(es) of {threads} thread(s) each"
    results = {"budget": asdict(budget), "init": args.init, "where": where, "torch": torch.__version__,
               "command": " ".join(["python benchmarks/gate_variants.py", *sys.argv[1:]]),
               "tasks": {k: {"source": t.source, "T": t.T, "baseline": t.baseline} for k, t in tasks.items()},
               "cells": list(args.cells), "seeds": seeds, "runs": {k: {c: {} for c in args.cells} for k in tasks}}
    mnist = [t for t in tasks.values() if t.name == "rows"]
    if mnist and mnist[0].ds.name == "mnist-sample":
        print("note: the MNIST tasks read the embedded sample (5,000 train / 1,000 test images); pass "
              "--data-dir for full MNIST", flush=True)
    print(f"gate variants: {plural(len(jobs), 'run')} ({', '.join(args.tasks)} x {plural(len(args.cells), 'cell')} "
          f"x {plural(len(seeds), 'seed')}) on {where}; {budget}; init {args.init}", flush=True)
    speed = probe_speed(next(iter(tasks.values())))
    minutes = speed * estimate_seconds(budget, tasks.values(), args.cells, args.jobs) / 60
    about = f"about {minutes:.0f} minutes" if minutes >= 1 else "less than a minute"
    print(f"estimate: {about} with {args.jobs} process(es), if nothing else needs the CPU (the "
          f"cost model of short runs, scaled by a few steps timed here just now: {speed:.2f}x its time)", flush=True)
    make_folders(out)
    t0 = time.perf_counter()

    def record(key, cell, seed, rec):
        results["runs"][key][cell][str(seed)] = rec
        save_json(out / "gate_variants.json", results)

    if args.jobs == 1:
        _TASKS.update(tasks)
        for job in jobs:
            record(*_run_job(job))
    else:
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
        # The workers start with Ctrl-C ignored (an ignored signal stays ignored in a new process), so
        # a Ctrl-C to the terminal's whole process group is this process's alone to answer, even while
        # a worker still imports torch; SIGTERM here stops them (terminate) before the one line.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            pool = context.Pool(args.jobs, initializer=_start_worker, initargs=(threads,))
        finally:
            signal.signal(signal.SIGINT, previous)
        try:
            for done in pool.imap_unordered(_run_job, jobs):
                record(*done)
        finally:  # however it ends: the workers are stopped and their semaphores released
            pool.terminate()
            pool.join()
            del pool
            gc.collect()
    results["minutes"] = round((time.perf_counter() - t0) / 60, 1)
    save_json(out / "gate_variants.json", results)
    text = table(results) + "\n"
    atomic_write_bytes(out / "gate_variants.md", lambda fh: fh.write(text.encode()))
    plot(results, out / "gate_variants.png")
    print(table(results))
    print(f"wrote {out / 'gate_variants.json'}, {out / 'gate_variants.md'}, {out / 'gate_variants.png'} "
          f"in {results['minutes']} minutes")
    return results


# ---- the table and the figure ----------------------------------------------------------------------

def summary(runs: dict) -> dict:
    """Over the seeds of one (task, cell): the median, lowest and highest final test score and
    the median final test loss, seconds and counts."""
    finals = [r["history"][-1] for r in runs.values()]
    scores = [f["test_score"] for f in finals]
    losses = [f["test_loss"] for f in finals if f["test_loss"] is not None]
    any_run = next(iter(runs.values()))
    return {"median": statistics.median(scores), "low": min(scores), "high": max(scores),
            "loss": statistics.median(losses) if losses else None, "seeds": len(scores),
            "diverged": sum(r["diverged"] is not None for r in runs.values()),
            "seconds": statistics.median(r["seconds"] for r in runs.values()),
            "parameters": any_run["parameters"], "used": any_run["used_parameters"]}


def table(results: dict) -> str:
    """A markdown table per task: each cell's median final score over the seeds [lowest, highest],
    the median final test loss, the parameters (used by the output) and the seconds per run."""
    blocks = []
    for key, runs in results["runs"].items():
        task = results["tasks"][key]
        adding = key.startswith("adding")
        what, loss = ("solved", "test MSE") if adding else ("test accuracy", "test loss")
        base = task["baseline"]
        blocks.append(f"**{task['source']}** ({base['what']}: {100 * base['score']:.1f}% {what}, "
                      f"{loss} {base['loss']:.4f})\n")
        blocks.append(f"| cell | {what}: median [lowest, highest] | {loss} (median) | parameters (used) | "
                      "seconds per run |")
        blocks.append("| --- | ---: | ---: | ---: | ---: |")
        for cell, by_seed in runs.items():
            if not by_seed:
                continue
            s = summary(by_seed)
            loss_text = f"{s['loss']:.4f}" if s["loss"] is not None else "-"
            diverged = f", {s['diverged']} of {s['seeds']} diverged" if s["diverged"] else ""
            used = f" ({s['used']:,})" if s["used"] != s["parameters"] else ""
            blocks.append(f"| {cell} | {100 * s['median']:.1f}% [{100 * s['low']:.1f}, {100 * s['high']:.1f}]"
                          f"{diverged} | {loss_text} | {s['parameters']:,}{used} | {s['seconds']:.0f} |")
        blocks.append("")
    b = results["budget"]
    blocks.append(f"{seeds_text(results['seeds'])}; hidden "
                  f"{b['hidden_size']}, batch {b['batch_size']}, Adam {b['lr']:g} with cosine decay, clipping "
                  f"{b['grad_clip']:g}, {b['adding_steps']:,} adding steps, {b['mnist_steps']:,} MNIST steps, "
                  f"init {results['init']}; {results['where']}, torch {results['torch']}"
                  + (f"; {results['minutes']} minutes in all." if "minutes" in results else "."))
    return "\n".join(blocks)


# one look per cell: a cell drawn later is thinner and dashed otherwise, so that two cells with the
# same values (the plain RNN and the LSTM without an input gate at the baseline) both stay in sight
LINE_STYLES = ("-", "--", "-.", (0, (1, 1)))


def line_style(n: int) -> dict:
    """The ``n``-th cell's line: the earlier, the wider; the style cycles."""
    return {"ls": LINE_STYLES[n % len(LINE_STYLES)], "lw": max(3.2 - 0.3 * n, 1.0)}


def seeds_text(seeds: list[int]) -> str:
    """``1 seed (0)``, ``3 seeds (0, 1, 2)``."""
    return f"{plural(len(seeds), 'seed')} ({', '.join(map(str, seeds))})"


def figure(results: dict):
    """Per task: test score and loss over training steps, the median over seeds, one line per cell
    (the band: lowest to highest seed); the title wrapped to the figure's width."""
    from scratch_lstm.app.plots import STYLE, _pyplot

    plt = _pyplot()
    from matplotlib.font_manager import FontProperties

    keys = [k for k, runs in results["runs"].items() if any(runs.values())]
    colors = plt.get_cmap("tab10")
    width = max(5.2 * len(keys), 7.0)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(keys), figsize=(width, 8.4), squeeze=False)
        for col, key in enumerate(keys):
            task, adding = results["tasks"][key], key.startswith("adding")
            for n, (cell, by_seed) in enumerate(results["runs"][key].items()):
                if not by_seed:
                    continue
                histories = [r["history"] for r in by_seed.values()]
                steps = [h["step"] for h in min(histories, key=len)]
                for row, field, scale in ((0, "test_score", 100), (1, "test_loss", 1)):
                    values = [[h[i][field] for h in histories] for i in range(len(steps))]
                    values = [[v * scale for v in vs if v is not None] for vs in values]
                    keep = [i for i, vs in enumerate(values) if vs]
                    x = [steps[i] for i in keep]
                    axes[row, col].plot(x, [statistics.median(values[i]) for i in keep], color=colors(n),
                                        label=cell, **line_style(n))
                    axes[row, col].fill_between(x, [min(values[i]) for i in keep], [max(values[i]) for i in keep],
                                                color=colors(n), alpha=0.12, lw=0)
            base = task["baseline"]
            axes[0, col].axhline(100 * base["score"], color="0.4", ls=":", label=base["what"])
            axes[1, col].axhline(base["loss"], color="0.4", ls=":", label=base["what"])
            axes[0, col].set(title=task["source"].replace(": ", ":\n", 1),
                             ylabel="test: solved (%)" if adding else "test accuracy (%)")
            axes[1, col].set(xlabel="training step", ylabel="test MSE" if adding else "test cross-entropy")
            if adding:  # the squared error spans orders of magnitude
                axes[1, col].set_yscale("log")
            for ax in axes[:, col]:
                ax.grid(alpha=0.3)
            axes[0, col].legend(fontsize=9, ncol=2)
        b = results["budget"]
        title = (f"Every cell, the same {seeds_text(results['seeds'])}, batches and budget: hidden "
                 f"{b['hidden_size']}, batch {b['batch_size']}, Adam {b['lr']:g} cosine, clip {b['grad_clip']:g}, "
                 f"init {results['init']} (lines: median over seeds; bands: lowest to highest)")
        points = FontProperties(size=plt.rcParams["figure.titlesize"]).get_size_in_points()
        per_inch = 72 / (0.6 * points)  # characters an inch: one is about 0.6 em wide
        fig.suptitle(textwrap.fill(title, width=int(per_inch * width)))
        fig.tight_layout()
    return fig


def plot(results: dict, path: Path) -> None:
    """Write :func:`figure` to ``path``."""
    from scratch_lstm.app.plots import _save

    _save(figure(results), path)


def jobs_flag(text: str) -> int:
    """argparse type: worker processes, 1 to the CPUs this machine has."""
    return flags.threads(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     formatter_class=flags.HelpFormatter)
    parser.add_argument("--out", required=True, type=flags.path, help="folder for the JSON, table and figure")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), help="tasks to run")
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS), help="cells to compare")
    parser.add_argument("--data-dir", default=None, type=flags.path,
                        help="folder with MNIST (DIR/MNIST/raw/ or the IDX files); default: the embedded sample")
    parser.add_argument("--init", choices=tuple(INITS), default="chrono",
                        help="the gate biases every cell starts from (on torch's draw): default: torch's draw "
                             "as it is; forget-bias: b_f = 1 (the GRU's update gate b_z = 1); chrono: b_f ~ log "
                             "U(1, T - 1) and b_i = -b_f, T the task's length (the GRU's b_z likewise). The plain "
                             "RNN has no gate"),
    parser.add_argument("--jobs", type=jobs_flag, default=min(2, cpu_count()),
                        help="runs trained at once, each in its own process (at most the CPUs this machine has)")
    flags.add_threads_flag(parser, " (per process; default here: 1)")
    parser.add_argument("--full", action="store_true",
                        help=f"the longer run: {', '.join(f'{k} {v}' for k, v in FULL.items())}")
    add_budget_flags(parser, Budget(), BUDGET_FLAGS, FULL)
    args = parser.parse_args(argv)
    args.cells = [c for c in CELLS if c in args.cells]  # the table's order, each once
    args.tasks = [t for t in TASKS if t in args.tasks]
    return run_command(run, args)


if __name__ == "__main__":
    sys.exit(main())
