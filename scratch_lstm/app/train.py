"""Training :class:`~scratch_lstm.LSTMClassifier` on sequence-MNIST: a run, read top to bottom.

:func:`train` is the outline: prepare (check everything, write nothing), open the run folder,
train epoch after epoch (each saved as it ends), finish. The rules of the run folder are in
:mod:`~scratch_lstm.app.runs`, the checkpoint's contents in :mod:`~scratch_lstm.app.checkpoints`,
what ``--resume`` checks and restores in :mod:`~scratch_lstm.app.resume`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ..classifier import LSTMClassifier
from ..precision import set_fp32_precision
from . import distributed
from .checkpoints import check_checkpoint, load_checkpoint, make_checkpoint, state_is_finite
from .config import TrainConfig, check_backend_device, resolve_device, threads_line, use_threads
from .cuda_graphs import CUDAGraphStep
from .data import Batches, Dataset, load_dataset, pixel_permutation
from .errors import Interrupted, OutputError, TrainingError, caused_by_interrupt, one_line, out_of_memory
from .evaluate import evaluate
from .files import save_checkpoint, save_json
from .limits import check_training_fits, fmt_bytes, memory_limit
from .lock import FolderLock, check_not_locked, lock_folder
from .progress import fmt_time, plural, with_progress
from .resume import (
    check_resumable,
    check_resume,
    finish_without_training,
    history_of,
    restart_settings,
    restore_run_folder,
    restore_state,
    settings_from_run,
)
from .runs import (
    check_out_folder,
    check_out_is_not_data,
    check_run_folder,
    draw_curves,
    existing_run,
    folder_state,
    make_folder,
    next_run_folder,
    remove_stale_run_temp_files,
    summary,
    write_metrics,
)
from .snapshots import SNAPSHOTS_FILE, load_snapshots, snapshot, snapshots_file


@dataclass
class Run:
    """A run in progress: what it trains, where it writes, and what it has done so far."""

    cfg: TrainConfig
    out: Path
    numbered: bool  # out was picked as the next runs/expN (claimed when the folder is made)
    device: torch.device
    ds: Dataset
    model: LSTMClassifier
    optimizer: torch.optim.Optimizer
    train_batches: Batches
    test_batches: Batches
    shuffle_gen: torch.Generator
    ckpt: dict | None = None  # the checkpoint a --resume continues
    present: list[str] = field(default_factory=list)  # run files the folder held before
    state: tuple = ()  # those files' identity when checked (runs.folder_state)
    lock: FolderLock | None = None  # held from the folder's creation or opening to the end
    start_epoch: int = 0
    best_acc: float = -1.0
    best_epoch: int | None = None
    history: list[dict] = field(default_factory=list)  # metrics of every finished epoch
    snapshots: dict[int, dict] = field(default_factory=dict)  # epoch -> its weights (snapshots.pt)
    saved_epoch: int | None = None  # the epoch last.pt holds
    epoch_seconds: list[float] = field(default_factory=list)  # this invocation's, for the ETA
    started: float = field(default_factory=time.perf_counter)

    def kept(self) -> str:
        """What a message about a diverged run says survives."""
        if self.saved_epoch is None:
            return "No checkpoint was written: no epoch finished with finite weights"
        return f"{self.out / 'last.pt'} keeps the last good epoch ({self.saved_epoch})"

    def go_on(self) -> str:
        """What survives a run stopped by something other than its numbers (a failed write, an
        interrupt, a closed output), and how to go on: only what is true of the folder now."""
        resume = f"`scratch-lstm train --out {self.out} --resume`"
        if not self.out.is_dir():
            return f"The run folder {self.out} no longer exists: nothing of the run is left"
        saved = _epoch_on_disk(self.out / "last.pt")  # a stop during its write comes after it
        if saved is not None:
            return f"{self.out / 'last.pt'} keeps the last good epoch ({saved}): continue with {resume}"
        if (self.out / "config.json").is_file():
            return f"No checkpoint was written: {resume} starts the run again from epoch 1"
        return "Nothing of the run was kept: run the command again"

    def write(self, path: Path, save) -> None:
        """``save(path)``, a failed write (a full disk, a file too large, a deleted folder)
        becoming a :class:`TrainingError` that names the file and the system's reason. Of several
        processes, rank 0 alone writes (:mod:`~scratch_lstm.app.distributed`)."""
        if not distributed.is_main():
            return
        try:
            save(path)
        except OSError as e:
            raise TrainingError(f"could not write {path}: {e.strerror or one_line(e)}; stopped. "
                                f"{self.go_on()}") from None

    def release(self) -> None:
        """Give back the folder's lock (at the end of the run, however it ends)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _epoch_on_disk(path: Path) -> int | None:
    """The epoch the checkpoint at ``path`` holds; None if there is none that loads."""
    try:
        return load_checkpoint(path)["epoch"]
    except (TrainingError, KeyError):
        return None


def train(cfg: TrainConfig, log=print, progress: bool | None = None, given=None) -> dict:
    """Train as ``cfg`` says, writing the run folder; returns the summary dict.

    All checks (settings, device, output folder, data, a resumed checkpoint) come before anything
    is created on disk; the run folder is locked (:mod:`~scratch_lstm.app.lock`) while it is
    written. ``progress``: tqdm bars on stderr (default: when stderr is a terminal), else a
    progress line every ``cfg.log_every`` seconds. ``given``: the names of the settings the user
    gave (the command line's flags); a ``--resume`` takes the others from the run. None: all of
    them, as for a config built in code. Raises :class:`DataError` or :class:`TrainingError` for
    problems the user can fix, and :class:`Interrupted` on Ctrl-C, each saying what was kept.
    Started by torchrun in several processes, they train the run together
    (:mod:`~scratch_lstm.app.distributed`); rank 0 writes and speaks for it.
    """
    run, threads = None, torch.get_num_threads()
    try:
        distributed.start()  # with several processes: join the others (one process: nothing)
        log = distributed.quiet_unless_main(log)
        run = distributed.agree(lambda: prepare(cfg, log, given))  # every check; nothing written yet
        if run.ckpt is not None and run.start_epoch >= run.cfg.epochs:
            take_folder(run)
            if not distributed.is_main():
                return {}  # rank 0 repairs the folder and says what it holds
            restore_snapshots(run, log)
            return finish_without_training(run.cfg, run.ckpt, run.out, run.ds, run.device,
                                           run.history, run.best_acc, run.write, log)
        open_run_folder(run, log)
        step = make_step(run, log)
        bar = (sys.stderr.isatty() if progress is None else progress) and distributed.is_main()
        for epoch in range(run.start_epoch + 1, run.cfg.epochs + 1):
            metrics = train_epoch(run, step, epoch, bar, log)
            save_epoch(run, metrics, log)
        return finish(run, log)
    except (KeyboardInterrupt, RuntimeError, MemoryError) as e:
        distributed.stopped_by_another(e, lambda: stopped(cfg, run))  # several processes: one line
        if caused_by_interrupt(e):
            raise Interrupted(f"interrupted. {stopped(cfg, run)}") from None
        if out_of_memory(e):
            raise TrainingError(_no_memory(e, cfg, run)) from None
        raise
    except OutputError as e:
        raise TrainingError(f"{e}; stopped. {stopped(cfg, run)}") from None
    finally:
        if run is not None:
            run.release()
        torch.set_num_threads(threads)
        distributed.stop()


def stopped(cfg: TrainConfig, run: Run | None) -> str:
    """What a run stopped from outside (Ctrl-C, a closed output) leaves, and how to go on."""
    if run is not None and run.lock is not None:
        return run.go_on()
    if cfg.resume and cfg.out:
        return (f"Nothing was written, {cfg.out} is as it was: continue with "
                f"`scratch-lstm train --out {cfg.out} --resume`")
    return "Nothing was written: run the command again"


def _no_memory(e: BaseException, cfg: TrainConfig, run: Run | None) -> str:
    """The message of an allocation that failed (the size check passed: it is a lower bound)."""
    device = run.device if run is not None else None
    limit, source = memory_limit(device)
    if run is not None and run.lock is not None and run.saved_epoch is None:
        how = ("Ask for less: with --resume, a lower --hidden-size, --num-layers or --batch-size "
               "replaces the run's (no epoch had finished)")
    elif run is not None and run.lock is not None:
        how = "Free memory (or raise the limit) first"
    else:
        how = "Ask for less: a lower --hidden-size, --num-layers or --batch-size"
    return (f"out of memory ({one_line(e, 160)}): the model and its batches need more than this process "
            f"can get ({source}: {fmt_bytes(limit)}); stopped. {stopped(cfg, run)}. {how}")


def prepare(cfg: TrainConfig, log, given=None) -> Run:
    """Check the settings, the device, the output folder, the data and a resumed checkpoint, and
    build the model, optimizer and batches; nothing is written on disk. A ``--resume`` takes the
    settings not ``given`` from the run (:func:`~scratch_lstm.app.resume.settings_from_run`)."""
    cfg.validate(together=not cfg.resume)  # a resume checks them together once the run's are taken
    if cfg.out is None and cfg.resume:
        raise TrainingError("--resume needs --out: the run folder to continue (e.g. --out runs/exp1)")
    numbered = cfg.out is None
    out = next_run_folder() if numbered else Path(cfg.out)
    check_out_folder(out)
    if out.is_dir():
        check_not_locked(out)
    state = folder_state(out)
    resumable, present = existing_run(out, cfg.resume)
    ckpt = load_checkpoint(out / "last.pt") if resumable else None
    if ckpt is not None:
        check_resumable(ckpt, out / "last.pt")
        cfg = settings_from_run(cfg, ckpt["config"], given, out / "last.pt")
    elif cfg.resume:
        cfg = restart_settings(cfg, out, given, log)
    cfg.validate()
    cfg = cfg.with_init_defaults()  # the init's values as the run records them
    use_threads(cfg.threads)  # train() puts torch's count back at the end
    device = distributed.local_device(resolve_device(cfg.device))  # several processes: one GPU each
    check_backend_device(cfg.backend, device)
    set_fp32_precision(cfg.precision)  # for the whole process: cuBLAS, cuDNN and the triton kernels
    ds = load_dataset(cfg.dataset, cfg.data_dir, cfg.download)
    log(_dataset_line(cfg, ds))
    from_run = cfg.threads is not None and given is not None and "threads" not in given  # a --resume's
    log(threads_line(cfg.threads, f"--threads {cfg.threads}, the run's setting" if from_run else None))
    check_out_is_not_data(out, cfg.data_dir, ds)
    check_run_folder(out)  # after the data check: its message is the more precise one
    if ckpt is not None:
        check_resume(cfg, ckpt, ds, out, log)

    train_images, train_labels = ds.train_images, ds.train_labels
    if cfg.train_subset is not None:
        if cfg.train_subset > len(train_labels):
            log(f"note: --train-subset {cfg.train_subset} is more than the {len(train_labels):,} "
                f"training images of {ds.name}: training on all {len(train_labels):,}")
        n = min(cfg.train_subset, len(train_labels))
        train_images, train_labels = train_images[:n], train_labels[:n]
    distributed.check_batches(len(train_labels), cfg.batch_size)
    model_config = cfg.model_config()
    check_training_fits(model_config["input_size"], 28 if cfg.sequence == "rows" else 784,
                        cfg.hidden_size, cfg.num_layers, min(cfg.batch_size, len(train_labels)),
                        torch.finfo(getattr(torch, cfg.dtype)).bits // 8, device, cfg.backend)
    perm = pixel_permutation(cfg.permutation_seed) if cfg.sequence == "permuted" else None
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    train_batches = Batches(train_images, train_labels, cfg.batch_size, cfg.sequence, ds.stats,
                            perm, shuffle=True, generator=shuffle_gen, device=device,
                            shard=distributed.shard())  # several processes: a part of each batch
    test_batches = Batches(ds.test_images, ds.test_labels, 1000, cfg.sequence, ds.stats, perm,
                           device=device, shard=distributed.shard())
    torch.manual_seed(cfg.seed)
    model = LSTMClassifier(**model_config, backend=cfg.backend, device=device,
                           dtype=getattr(torch, cfg.dtype))
    cfg.apply_init(model)  # --init: the forget-gate biases (a resume then loads its own weights)
    optimizer = make_optimizer(model, cfg, capturable=uses_cuda_graph(cfg, device))
    run = Run(cfg, out, numbered, device, ds, model, optimizer, train_batches, test_batches,
              shuffle_gen, ckpt, present, state)
    if ckpt is not None:
        restore_state(ckpt, out, model, optimizer, shuffle_gen, device)
        run.start_epoch, run.best_acc = ckpt["epoch"], ckpt["best_test_acc"]
        run.best_epoch, run.saved_epoch = ckpt.get("best_epoch"), ckpt["epoch"]
        run.history = history_of(ckpt, out, log)
    return run


def take_folder(run: Run) -> None:
    """Create the run folder if needed and take its lock; refuse (:class:`TrainingError`) if
    another process holds it, or wrote to it since :func:`prepare` looked (then nothing is
    written). Of several processes, rank 0 takes it, and the others learn its name."""
    distributed.agree(lambda: _take_folder(run) if distributed.is_main() else None)
    if not distributed.is_main():
        run.lock = FolderLock(None, None)  # the folder is open; rank 0 holds its lock
    run.out = distributed.from_main(run.out)


def _take_folder(run: Run) -> None:
    try:
        run.out = make_folder(run.out, run.numbered)
        run.lock = lock_folder(run.out)
    except OSError as e:
        raise TrainingError(f"cannot create or lock the run folder {run.out}: "
                            f"{e.strerror or one_line(e)}") from None
    if not run.numbered and folder_state(run.out) != run.state:
        run.release()
        raise TrainingError(f"{run.out} changed while this run was starting: another process wrote "
                            "to it. Nothing was written; look at the folder, then run the command again")


def open_run_folder(run: Run, log) -> None:
    """Create the folder (or bring a resumed one in line with its last.pt) and write config.json:
    from here on, files are written."""
    take_folder(run)
    run.cfg = replace(run.cfg, out=str(run.out))
    out, cfg = run.out, run.cfg
    if not distributed.is_main():
        return
    if run.ckpt is not None:
        log(f"resumed {out} after epoch {run.start_epoch} (last.pt)")
        restore_run_folder(out, run.ckpt, run.history, log, run.write)
        restore_snapshots(run, log)
    elif cfg.resume:
        held = (f"it held {', '.join(run.present)} but no checkpoint" if run.present
                else "it held no run files")
        log(f"run folder: {out} ({held}: no epoch had finished, so the run starts again from epoch 1)")
    else:
        log(f"run folder: {out}")
    run.write(out / "config.json", lambda p: save_json(p, {**asdict(cfg), **distributed.record(cfg.batch_size)}))
    try:  # after config.json: a killed writer's complete copy of it may hold the run's settings
        removed = remove_stale_run_temp_files(out)
    except OSError as e:
        raise TrainingError(f"cannot clean the run folder {out}: {e.strerror or one_line(e)}") from None
    if removed:
        log(f"removed temporary files left by a killed run: {', '.join(removed)}")
    log(f"model: LSTMClassifier({cfg.model_config()}) backend={cfg.backend} "
        f"device={run.device} dtype={cfg.dtype} init={cfg.init_text()}"
        + (f" precision={cfg.precision}" if run.device.type == "cuda" else "") + "; "
        f"{sum(p.numel() for p in run.model.parameters()):,} parameters; "
        f"{len(run.train_batches.labels):,} training sequences of "
        f"{'28x28' if cfg.sequence == 'rows' else '784x1'}; {plural(cfg.epochs, 'epoch')}, "
        f"lr {cfg.lr:g} {cfg.schedule}")


def restore_snapshots(run: Run, log) -> None:
    """Make a resumed run's snapshots.pt agree with last.pt: the epochs of the file up to last.pt's
    (a later one is not this run's) and last.pt's own (a kill between the two writes left it out),
    rewritten if that changed the file. A snapshots file that cannot be used is said in a note and
    started again from last.pt's epoch; the run goes on."""
    path, epoch = run.out / SNAPSHOTS_FILE, run.start_epoch
    names = {name: value.shape for name, value in run.model.state_dict().items()}
    try:
        held = load_snapshots(path, run.cfg.model_config(), names)
    except FileNotFoundError:
        held = {}
    except TrainingError as e:
        log(f"note: {e}; the snapshots start again from epoch {epoch} (the explorer's epoch slider "
            f"then shows no earlier epoch)")
        held = {}
    run.snapshots = {e: s for e, s in held.items() if e < epoch}
    run.snapshots[epoch] = snapshot(run.model)  # last.pt's weights, just restored
    if sorted(held) != sorted(run.snapshots):
        write_snapshots(run)


def write_snapshots(run: Run) -> None:
    """Write the run's snapshots.pt (every epoch it holds) atomically."""
    run.write(run.out / SNAPSHOTS_FILE, lambda p: save_checkpoint(p, snapshots_file(run.cfg.model_config(),
                                                                                      run.snapshots)))


def make_step(run: Run, log):
    """The function that steps one batch: :func:`train_step`, replayed from a CUDA graph where
    :func:`uses_cuda_graph` says so (:mod:`~scratch_lstm.app.cuda_graphs`); with several processes
    through ``DistributedDataParallel`` (:mod:`~scratch_lstm.app.distributed`)."""
    model = distributed.wrap(run.model, run.device)  # one process: the model itself

    def step(x, y):
        weight = distributed.loss_weight(y)  # this process's share of the batch; alone: None
        if weight is None:
            return train_step(model, run.optimizer, x, y, run.cfg)
        return train_step(model, run.optimizer, x, y, run.cfg, weight)

    if distributed.several():
        log(distributed.describe(run.cfg.batch_size, _wants_cuda_graph(run.cfg, run.device)))

    if not uses_cuda_graph(run.cfg, run.device):
        return step
    log("training steps replay from a CUDA graph (--cuda-graph off: run them eagerly)")
    return CUDAGraphStep(step, on_fallback=lambda why: log(f"note: {why}"))


def train_epoch(run: Run, step, epoch: int, bar: bool, log) -> dict:
    """Train one epoch and test after it; returns the epoch's metrics. A non-finite loss, weight
    or test loss stops the run with a :class:`TrainingError` that says what survives.

    The steps never wait for the device: each one's loss and correct count stay there
    (:class:`StepTally`) until a progress line or the end of the epoch reads them, and a
    non-finite loss is caught at that read."""
    cfg, model, optimizer = run.cfg, run.model, run.optimizer
    model.train()
    t0 = time.perf_counter()
    tally = StepTally(len(run.train_batches), run.device)
    n_train, steps_per_epoch = run.train_batches.samples(), len(run.train_batches)

    def read() -> tuple[float, int, int]:
        """The epoch's ``(loss sum, correct, seen)`` so far; raises on a non-finite loss."""
        loss_sum, correct, seen, bad = tally.read()
        if bad is not None:
            k, loss_value = bad
            raise TrainingError(f"loss became {loss_value} at epoch {epoch}, batch {k + 1}; stopped. "
                                f"{run.kept()}. Try a lower --lr or --grad-clip 1.0")
        return loss_sum, correct, seen

    def status() -> str:
        loss_sum, correct, seen = read()
        elapsed = time.perf_counter() - t0
        frac = seen / n_train
        per_epoch = (sum(run.epoch_seconds) / len(run.epoch_seconds) if run.epoch_seconds
                     else elapsed / frac)
        eta = elapsed * (1 - frac) / frac + (cfg.epochs - epoch) * per_epoch
        return f"loss {loss_sum / seen:.4f} acc {100 * correct / seen:.2f}%; run ETA {fmt_time(eta)}"

    batches = with_progress(run.train_batches, f"epoch {epoch}/{cfg.epochs}", bar=bar, log=log,
                            every=cfg.log_every, status=at_most_every(1.0, status) if bar else status)
    for k, (x, y) in enumerate(batches):
        if cfg.schedule == "cosine":
            done = (epoch - 1) * steps_per_epoch + k
            set_lr(optimizer, cfg.lr * 0.5 * (1 + math.cos(math.pi * done / (cfg.epochs * steps_per_epoch))))
        try:
            loss, logits = step(x.to(getattr(torch, cfg.dtype)), y)
        except RuntimeError as e:
            if "overflow" not in str(e):
                raise
            raise TrainingError(f"the optimizer step overflowed {cfg.dtype} at epoch {epoch}, batch "
                                f"{k + 1} ({one_line(e)}): --lr {cfg.lr:g} is far too large; "
                                f"stopped. {run.kept()}. Try --lr 1e-3") from None
        tally.add(loss, logits, y)
    loss_sum, correct, seen = distributed.sum_over(*read())  # several processes: all their shards
    train_seconds = time.perf_counter() - t0
    if not state_is_finite(model, optimizer):
        raise TrainingError(f"the weights became non-finite in epoch {epoch} (its last step; the "
                            f"losses were finite); stopped. {run.kept()}. Try a lower --lr or "
                            "--grad-clip 1.0")
    test = distributed.combine_test(evaluate(model, with_progress(
        run.test_batches, f"test after epoch {epoch}", bar=bar, log=log, every=cfg.log_every)))
    if not (math.isfinite(test["loss"]) and math.isfinite(loss_sum)):
        raise TrainingError(f"test loss became {test['loss']} after epoch {epoch}; stopped. "
                            f"{run.kept()}. Try a lower --lr or --grad-clip 1.0")
    seconds = time.perf_counter() - t0
    return {"epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen,
            "test_loss": test["loss"], "test_acc": test["acc"], "seconds": round(seconds, 3),
            "samples_per_s": round(seen / train_seconds, 1),
            "lr": float(optimizer.param_groups[0]["lr"])}


def save_epoch(run: Run, metrics: dict, log) -> None:
    """Record a finished epoch: last.pt, snapshots.pt (:mod:`~scratch_lstm.app.snapshots`), best.pt
    if it is the best, metrics.jsonl, curves.png (in that order: last.pt is the truth a resume
    rebuilds the rest from), then one log line."""
    epoch, cfg, out = metrics["epoch"], run.cfg, run.out
    run.history.append(metrics)
    is_best = metrics["test_acc"] > run.best_acc
    if is_best:
        run.best_acc, run.best_epoch = metrics["test_acc"], epoch
    if not distributed.is_main():
        return  # rank 0 alone writes the run folder
    checkpoint = make_checkpoint(cfg, run.model, run.optimizer, epoch, run.ds, run.best_acc,
                                 run.best_epoch, run.history, run.shuffle_gen, run.device)
    check_checkpoint(checkpoint, out / "last.pt")  # never write what the loader would refuse
    run.write(out / "last.pt", lambda p: save_checkpoint(p, checkpoint))
    run.saved_epoch = epoch
    run.snapshots[epoch] = snapshot(run.model)  # a resume restores one missed here from last.pt
    write_snapshots(run)
    if is_best:
        run.write(out / "best.pt", lambda p: save_checkpoint(p, checkpoint))
    run.write(out / "metrics.jsonl", lambda p: write_metrics(out, run.history))
    draw_curves(out, run.history, cfg, run.ds.name, log)  # a figure never stops the run
    run.epoch_seconds.append(metrics["seconds"])
    eta = (cfg.epochs - epoch) * sum(run.epoch_seconds) / len(run.epoch_seconds)
    log(f"epoch {epoch}/{cfg.epochs}: train loss {metrics['train_loss']:.4f} "
        f"acc {100 * metrics['train_acc']:.2f}% | test loss {metrics['test_loss']:.4f} "
        f"acc {100 * metrics['test_acc']:.2f}% | {metrics['seconds']:.1f} s, "
        f"{metrics['samples_per_s']:.0f} samples/s"
        + (f"; run ETA {fmt_time(eta)}" if epoch < cfg.epochs else ""))


def finish(run: Run, log) -> dict:
    """Write summary.json and say how the run ended; returns the summary."""
    result = summary(asdict(run.cfg), run.ds, run.device, run.history, run.best_acc,
                     time.perf_counter() - run.started)
    run.write(run.out / "summary.json", lambda p: save_json(p, result))
    log(f"test accuracy: {100 * run.history[-1]['test_acc']:.2f}% (best {100 * run.best_acc:.2f}%); "
        f"run folder: {run.out}")
    return result


class StepTally:
    """The loss and correct count of each step of an epoch, kept on the device until read.

    Reading a number off a GPU waits for every kernel queued before it, so a step that called
    ``loss.item()`` would stall the host each time; :meth:`add` only queues copies. :meth:`read`
    sums what the steps so far recorded, in step order, as Python numbers (the sums a step-by-step
    ``.item()`` gave), and names the first non-finite loss.
    """

    def __init__(self, steps: int, device: torch.device):
        self.steps, self.device = steps, device
        self.losses: torch.Tensor | None = None  # (steps,) each step's mean loss, in its dtype
        self.correct = torch.zeros(steps, dtype=torch.int64, device=device)  # (steps,)
        self.sizes: list[int] = []  # each step's batch size

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Record a step's mean ``loss`` and how many of ``logits``' predictions match ``y``."""
        if self.losses is None:
            self.losses = torch.zeros(self.steps, dtype=loss.dtype, device=self.device)
        k = len(self.sizes)
        self.losses[k] = loss  # a copy queued on the device; no wait
        self.correct[k] = (logits.argmax(1) == y).sum()
        self.sizes.append(y.numel())

    def read(self) -> tuple[float, int, int, tuple[int, float] | None]:
        """``(loss sum, correct, seen, bad)``: sums over the steps so far (the loss weighted by batch
        size), and ``bad = (step index, loss)`` of the first non-finite loss, else ``None``."""
        n = len(self.sizes)
        if n == 0:
            return 0.0, 0, 0, None
        losses, correct = self.losses[:n].tolist(), self.correct[:n].tolist()  # one wait, here
        bad = next(((k, v) for k, v in enumerate(losses) if not math.isfinite(v)), None)
        loss_sum = 0.0
        for v, size in zip(losses, self.sizes):
            loss_sum += v * size
        return loss_sum, sum(correct), sum(self.sizes), bad


def at_most_every(seconds: float, status):
    """``status`` that computes its text at most once every ``seconds`` and repeats it in between
    (a progress bar asks after every step; each answer reads from the device)."""
    last = {"time": -math.inf, "text": ""}

    def limited() -> str:
        now = time.perf_counter()
        if now - last["time"] >= seconds:
            last["time"], last["text"] = now, status()
        return last["text"]

    return limited


# ---- one step, and the optimizer it steps ----------------------------------------------------

def train_step(model, optimizer, x, y, cfg: TrainConfig, weight=None):
    """One optimisation step on a batch: forward, cross-entropy, backward, clipping, Adam.

    Returns the batch's ``(loss, logits)``, detached. This is the one place where a batch is
    stepped, so another way to step (a captured CUDA graph, another backend) can replace it.
    ``weight``: the loss's weight in the gradient, for one process's part of a batch
    (:func:`~scratch_lstm.app.distributed.loss_weight`); None: 1.
    """
    logits = model(x)  # (B, 10)
    loss = F.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    (loss if weight is None else weight * loss).backward()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return loss.detach(), logits.detach()


def uses_cuda_graph(cfg: TrainConfig, device: torch.device) -> bool:
    """Whether training steps replay from a CUDA graph: ``--cuda-graph auto`` does for the triton
    backend on CUDA (its per-step kernel launches are what a graph removes), ``on`` for any; never
    with several processes (``DistributedDataParallel``'s collectives are not recorded here)."""
    return _wants_cuda_graph(cfg, device) and not distributed.several()


def _wants_cuda_graph(cfg: TrainConfig, device: torch.device) -> bool:
    return device.type == "cuda" and (cfg.cuda_graph == "on" or
                                      (cfg.cuda_graph == "auto" and cfg.backend == "triton"))


def make_optimizer(model, cfg: TrainConfig, capturable: bool) -> torch.optim.Adam:
    """Adam at ``cfg.lr``; for CUDA graphs ``capturable`` with the rate in a tensor (a replay reads
    the tensor, so the schedule's changes reach it; a float would be baked into the graph)."""
    if capturable:
        lr = torch.tensor(cfg.lr, device=next(model.parameters()).device)
        return torch.optim.Adam(model.parameters(), lr=lr, capturable=True)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


def set_lr(optimizer, lr: float) -> None:
    """Set the learning rate, in place where it is a tensor (a CUDA graph reads that tensor)."""
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def _dataset_line(cfg: TrainConfig, ds: Dataset) -> str:
    if ds.name == "mnist-sample" and cfg.dataset == "auto":
        return (f"data: mnist-sample from the {ds.source}: no --data-dir given, so not full MNIST "
                "(pass --data-dir DIR, or --download with internet)")
    if ds.name == "mnist-sample":
        return f"data: mnist-sample from the {ds.source}"
    verdict = ("content verified: the published files" if ds.published else
               f"content differs from the published {ds.name} files: a modified or other copy")
    return f"data: {ds.name} from {ds.source} ({verdict})"
