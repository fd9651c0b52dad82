"""Training in several processes at once (``torchrun``): what the trainer does differently then.

``torchrun --standalone --nproc_per_node N -m scratch_lstm train ...`` starts N copies of the
command, on one machine or (with ``--nnodes`` and ``--rdzv-endpoint``) on several; torchrun gives
each one its ``RANK`` (0 to N-1), ``LOCAL_RANK`` (its index on its machine), ``WORLD_SIZE`` (N) and
a rendezvous in its environment. Started any other way, the command is one process and nothing
here changes what it does. With several processes:

- :func:`start` joins the process group: gloo for CPU tensors, NCCL for CUDA tensors where there
  is a GPU; each process takes the GPU of its ``LOCAL_RANK`` (:func:`local_device`). A process
  left waiting in a collective gives up after :data:`TIMEOUT`.
- Every process builds the same weights from the same ``--seed`` and draws the same shuffled
  order. ``--batch-size`` is the global batch: each batch of B sequences is split into N shards,
  one per process (:func:`shard`, read by :class:`~scratch_lstm.app.data.Batches`), so that the
  shards of a step are together the batch one process would take.
- :func:`wrap` puts the model in ``DistributedDataParallel``, which averages the gradients over
  the processes during ``backward``. Each shard's mean loss is weighted by its share of the batch
  (:func:`loss_weight`, ``w_r = N n_r / B``), so that the average is the gradient of the batch's
  mean loss, also for a last batch that does not split evenly::

      (1/N) Σ_r w_r ∇ mean_r = Σ_r (n_r / B) ∇ mean_r = ∇ (1/B) Σ_i loss_i

- The epoch's train loss and accuracy, and the test pass (each process tests its shard of the
  test set), are summed over the processes (:func:`sum_over`, :func:`combine_test`): every
  image is counted once.
- Only rank 0 writes the run folder (and holds its lock) and prints progress; every process reads
  the checkpoint of a ``--resume``. The checks before a run are agreed (:func:`agree`): an error
  that every process finds is said once.
- A process that ends takes the others with it: a collective with a process that is gone fails
  at once on gloo, and torchrun stops the others with SIGTERM (:func:`stopped_by_another`).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from .errors import DataError, Interrupted, TrainingError, caused_by_interrupt, one_line
from .files import Terminated, on_terminate

TIMEOUT = timedelta(minutes=5)  # a collective waits this long for a process that is alive but stuck


def several() -> bool:
    """Whether this process is one of several that train one run together."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank, 0 to :func:`size` - 1 (0 when it trains alone)."""
    return dist.get_rank() if several() else 0


def size() -> int:
    """How many processes train the run (1 when it trains alone)."""
    return dist.get_world_size() if several() else 1


def is_main() -> bool:
    """Whether this process writes the run folder and prints: rank 0."""
    return rank() == 0


def shard() -> tuple[int, int]:
    """``(rank, size)``: which of the shards of each batch this process takes."""
    return rank(), size()


def asked() -> int:
    """The number of processes torchrun started (its ``WORLD_SIZE``; 1 without torchrun)."""
    try:
        return max(int(os.environ.get("WORLD_SIZE", "1")), 1)
    except ValueError:
        return 1


def _terminate(signum, frame) -> None:
    """SIGTERM's handler while several processes train (torchrun stops the others this way when
    one ends): raise :class:`~scratch_lstm.app.files.Terminated`, once, and only where the process is not
    already ending through another error (torchrun's SIGTERM often comes just after a collective
    failed: that failure is the one to report)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the process is ending: once is enough
    if sys.exc_info()[1] is None:
        raise Terminated


def start() -> bool:
    """Join the process group when torchrun started several processes (else do nothing and return
    False): gloo for CPU tensors, NCCL for CUDA ones where a GPU and NCCL are there, each process
    on the GPU of its ``LOCAL_RANK``, every collective bounded by :data:`TIMEOUT`. SIGTERM then
    stops the process with one line (:func:`stopped_by_another`). Returns True if joined."""
    if asked() == 1 or several():
        return False
    if not dist.is_available():
        raise TrainingError(f"torchrun started {asked()} processes, but this torch has no "
                            "torch.distributed; run one process (without torchrun)")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and dist.is_nccl_available()
    if cuda and local < torch.cuda.device_count():
        torch.cuda.set_device(local)
    _own_triton_cache(local)
    try:
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=TIMEOUT)
    except Exception as e:  # the rendezvous failed: torchrun's settings, or the network
        raise TrainingError(f"process {os.environ.get('RANK', '?')} could not join the other processes of "
                            f"the run ({one_line(e, 200)}); check torchrun's --rdzv-endpoint and "
                            "--nnodes") from None
    if _main_thread() and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, on_terminate):
        signal.signal(signal.SIGTERM, _terminate)  # in place of the command's: see _terminate
    return True


def _main_thread() -> bool:
    """Whether this is the main thread, the only one that may set a signal's handler."""
    return threading.current_thread() is threading.main_thread()


def stop() -> None:
    """Leave the process group that :func:`start` joined (the end of a run, however it ends). The
    process ends next: from here on it ignores SIGTERM, so that torchrun, which stops the others
    as soon as one has ended, does not cut off the line that says how the run ended."""
    if dist.is_available() and dist.is_initialized():
        if _main_thread() and signal.getsignal(signal.SIGTERM) is _terminate:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        dist.destroy_process_group()


def _own_triton_cache(local_rank: int) -> None:
    """Give each process of a machine its own Triton cache folder (``TRITON_CACHE_DIR``, or
    Triton's default ``$TRITON_HOME/.triton/cache``, ``TRITON_HOME`` being the home folder unless
    set, with ``/rank-K`` added): processes that compile the same kernels at once into one folder
    race on its files. Triton reads the variable when it compiles, after this."""
    home = os.environ.get("TRITON_HOME") or str(Path.home())
    base = os.environ.get("TRITON_CACHE_DIR") or str(Path(home) / ".triton" / "cache")
    os.environ["TRITON_CACHE_DIR"] = str(Path(base) / f"rank-{local_rank}")


def local_device(device: torch.device) -> torch.device:
    """The device this process trains on: ``device``, and with several processes on a GPU the one
    of its ``LOCAL_RANK``. :class:`TrainingError` where there is none for it, or for ``mps``
    (``DistributedDataParallel`` has no backend for it)."""
    if not several():
        return device
    if device.type == "mps":
        raise TrainingError(f"--device mps cannot train in {size()} processes: torch.distributed has no "
                            "backend for it; pass --device cpu, or run one process (without torchrun)")
    if device.type != "cuda":
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if local >= torch.cuda.device_count():
        raise TrainingError(f"process {rank()} (LOCAL_RANK {local}) has no GPU: this machine has "
                            f"{torch.cuda.device_count()}; start at most that many per machine "
                            "(torchrun --nproc_per_node)")
    return torch.device("cuda", local)


def agree(fn):
    """``fn()`` on every process, where an error the user can fix (:class:`TrainingError`,
    :class:`DataError`) found by any process ends them all: the lowest rank that found one raises
    it, the others end quietly (``SystemExit(2)``), so that an error every process finds (a bad
    flag, a folder in use) is said once. Returns ``fn()``'s value."""
    error, result = None, None
    try:
        result = fn()
    except (TrainingError, DataError) as e:
        error = e
    if not several():
        if error is not None:
            raise error
        return result
    first = torch.tensor([rank() if error is not None else size()])
    dist.all_reduce(first, op=dist.ReduceOp.MIN)  # the lowest rank that failed; size(): none
    if int(first) == size():
        return result
    if error is not None and rank() == int(first):
        raise error
    raise SystemExit(2)


def from_main(value):
    """Rank 0's ``value`` on every process (such as the run folder that rank 0 created)."""
    if not several():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_batches(n: int, batch_size: int) -> None:
    """:class:`TrainingError` if, of ``n`` training sequences in batches of ``batch_size``, a batch
    (the last one included) holds fewer than there are processes: each needs one in every step."""
    if not several():
        return
    if batch_size < size():
        raise TrainingError(f"--batch-size {batch_size} is the batch of all {size()} processes together: "
                            f"fewer sequences than processes, and each needs at least one; pass "
                            f"--batch-size {size()} or more")
    last = n - (len(range(0, n, batch_size)) - 1) * batch_size  # the last batch's size
    if last < size():
        raise TrainingError(f"--batch-size {batch_size} is the batch of all {size()} processes together, and "
                            f"{n:,} training sequences leave a last batch of {last}: fewer than the "
                            f"processes, and each needs at least one. Choose a --batch-size (or "
                            f"--train-subset) that leaves a last batch of at least {size()}")


def wrap(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` (its gradients averaged over the processes in
    ``backward``), or ``model`` itself when the process trains alone. The wrapper shares the
    model's parameters: a checkpoint saves ``model`` as ever."""
    if not several():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def loss_weight(y: torch.Tensor) -> torch.Tensor | None:
    """The weight ``w_r = N n_r / B`` of this process's mean loss over its ``n_r`` labels ``y`` in
    a batch of ``B`` (the shards' sum; N processes), so that ``DistributedDataParallel``'s average
    of the gradients is the gradient of the batch's mean loss; None when the process trains alone.
    The sum runs on ``y``'s device (on a GPU, queued there: the host does not wait for it)."""
    if not several():
        return None
    n = torch.tensor([y.numel()], dtype=torch.float64, device=y.device)  # (1,) n_r
    total = n.clone()
    dist.all_reduce(total)  # (1,) B = Σ_r n_r
    return (size() * n / total).squeeze(0)


def sum_over(*values: float) -> tuple[float, ...]:
    """Each of ``values`` summed over the processes (float64 on the CPU); as given when alone."""
    if not several():
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return tuple(type(v)(total) for v, total in zip(values, t.tolist()))  # counts stay ints


def combine_test(result: dict) -> dict:
    """:func:`~scratch_lstm.app.evaluate.evaluate`'s result over this process's shard of the test
    set made the result over the whole of it: the confusion matrices summed (so each image is
    counted once, and the accuracy is its trace over its sum), the loss weighted by the images."""
    if not several():
        return result
    confusion = torch.tensor(result["confusion"], dtype=torch.int64)  # (C, C) this shard's
    n = int(confusion.sum())
    dist.all_reduce(confusion)
    (loss_sum,) = sum_over(result["loss"] * n)
    total = int(confusion.sum())
    return {"loss": loss_sum / max(total, 1), "acc": int(confusion.trace()) / max(total, 1),
            "confusion": confusion.tolist()}


def describe(batch_size: int, graph_wanted: bool) -> str:
    """The line a run in several processes starts with: how many, the backend, what each process
    takes of a batch, and (``graph_wanted``) that the steps run without a CUDA graph."""
    line = (f"DistributedDataParallel: {size()} processes ({dist.get_backend()}); --batch-size {batch_size} "
            f"is the global batch, {_part(batch_size)} sequences a process; rank 0 writes the run folder")
    if graph_wanted:
        line += ("; no CUDA graph with several processes (--cuda-graph is ignored): the steps run "
                 "eagerly")
    return line


def quiet_unless_main(log):
    """``log`` on rank 0; elsewhere a log that says nothing (rank 0 speaks for the run)."""
    return log if is_main() else (lambda *args, **kwargs: None)


def lost(e: BaseException) -> bool:
    """Whether ``e`` is a collective that failed because another process of the run is gone (its
    connection closed, or it did not answer within :data:`TIMEOUT`)."""
    if not several() or not isinstance(e, RuntimeError):
        return False
    backend_error = getattr(dist, "DistBackendError", ())
    text = str(e).lower()
    return isinstance(e, backend_error) or any(
        s in text for s in ("connection closed", "connection reset", "broken pipe", "timed out"))


def _reason(e: BaseException) -> str:
    """A failed collective's message without its source location and advice: its first sentence."""
    text = re.sub(r"\[[^\]]*:\d+\]\s*", "", one_line(e, 10**6))  # "[.../pair.cc:561] "
    return one_line(text.split(". ")[0], 160)


def stopped_by_another(e: BaseException, stopped) -> None:
    """With several processes, end a run that ``e`` stopped in one line, where ``e`` came from the
    others: SIGTERM (:class:`Interrupted`: torchrun stops every process when one has ended), or a
    collective with a process that is gone (:class:`TrainingError`). A Ctrl-C, which reaches every
    process of a terminal's run, is said by rank 0 alone: the others end quietly
    (``SystemExit(130)``). ``stopped()`` says what the run folder keeps. Else returns."""
    if not several():
        return
    if isinstance(e, Terminated):
        raise Interrupted(f"process {rank()} of {size()} was stopped (SIGTERM: torchrun stops every process "
                          f"of a run when one of them ends). {stopped()}") from None
    if lost(e):
        raise TrainingError(f"process {rank()} of {size()} stopped: another process of the run is gone "
                            f"({_reason(e)}). {stopped()}") from None
    if caused_by_interrupt(e) and not is_main():
        raise SystemExit(130)


RECORD_KEYS = ("processes", "process_group", "batch_size_means")  # what record() adds to config.json


def record(batch_size: int) -> dict:
    """What config.json adds about the processes of a run that trains in several (nothing when it
    trains alone): how many, the backend, and what ``--batch-size`` means."""
    if not several():
        return {}
    return {"processes": size(), "process_group": dist.get_backend(),
            "batch_size_means": f"the global batch: each step's {batch_size} sequences are split among the "
                                f"{size()} processes ({_part(batch_size)} each)"}


def _part(batch_size: int) -> str:
    """How many sequences of a full batch each process takes: ``8``, or ``5 or 6``."""
    low, extra = divmod(batch_size, size())
    return f"{low}" if extra == 0 else f"{low} or {low + 1}"
