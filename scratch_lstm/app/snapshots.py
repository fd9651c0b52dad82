"""Epoch snapshots: the model's weights after each epoch, kept so the explorer can show the gates learn.

``snapshots.pt`` in a run folder holds, for every finished epoch, each parameter of the classifier
in float16 (half of float32's size: 1.6 MB an epoch for the lecture's 821,770 parameters), and
nothing of the optimizer, so it is small beside ``last.pt``. It is a plain dict that
``torch.load(..., weights_only=True)`` reads::

    {"format": "scratch-lstm epoch snapshots", "version": 1,
     "model_config": {...},                      # the run's model, as a checkpoint records it
     "epochs": {1: {"rnn.weight_ih_l0": tensor, ...}, 2: {...}, ...}}

The run writes it after each epoch, right after ``last.pt`` (the truth of a run folder); a resume
goes on with the epochs up to ``last.pt``'s and puts ``last.pt``'s own weights in for its epoch, so
a kill between the two writes loses no epoch.
The explorer (``scratch-lstm explore``) reads the snapshots of the checkpoint's run and embeds some
of them for its epoch slider. A parameter whose values leave float16's range is kept in float32.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import TrainingError, one_line
from .files import NotRegularFile, open_regular

SNAPSHOTS_FILE = "snapshots.pt"
FORMAT = "scratch-lstm epoch snapshots"
VERSION = 1
HALF_MAX = torch.finfo(torch.float16).max


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of ``model`` on the CPU, float16 where the values fit (else
    float32): what one epoch of ``snapshots.pt`` keeps."""
    kept = {}
    for name, value in model.state_dict().items():
        value = value.detach().to("cpu")
        small = value.abs().max() <= HALF_MAX if value.numel() else True
        kept[name] = value.to(torch.float16 if value.is_floating_point() and small else value.dtype).clone()
    return kept


def snapshots_file(model_config: dict, epochs: dict[int, dict]) -> dict:
    """The content of ``snapshots.pt`` for ``epochs`` (epoch -> :func:`snapshot`)."""
    return {"format": FORMAT, "version": VERSION, "model_config": dict(model_config),
            "epochs": {int(e): epochs[e] for e in sorted(epochs)}}


def load_snapshots(path: str | Path, model_config: dict, names: dict[str, torch.Size]) -> dict[int, dict]:
    """The snapshots in ``path``, epoch -> state dict (float16 or float32 tensors), checked: the
    file's format, a model_config equal to ``model_config`` (the run's), whole-number epochs from
    1, and in each exactly the parameters ``names`` (name -> shape) with finite values.
    :class:`TrainingError` says what is wrong with a file that fails; FileNotFoundError if none."""
    path = Path(path)
    try:
        with open_regular(path) as fh:
            data = torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (NotRegularFile, OSError) as e:
        raise TrainingError(f"{path} cannot be read ({one_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - torch.load's many ways of refusing a file: one line
        raise TrainingError(f"{path} is not a snapshots file scratch-lstm wrote ({one_line(e)})") from None
    if not (isinstance(data, dict) and data.get("format") == FORMAT):
        raise TrainingError(f"{path} is not a snapshots file scratch-lstm wrote (no format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise TrainingError(f"{path} is version {data.get('version')!r} of the snapshots file; this "
                            f"scratch-lstm reads version {VERSION}")
    if data.get("model_config") != model_config:
        raise TrainingError(f"{path} holds snapshots of another model ({data.get('model_config')}), "
                            f"not of this run's ({model_config})")
    epochs = data.get("epochs")
    if not isinstance(epochs, dict):
        raise TrainingError(f"{path}: its epochs are not a dict of epoch -> weights")
    for epoch, state in epochs.items():
        if not (isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1):
            raise TrainingError(f"{path}: {epoch!r} is not an epoch (a whole number from 1)")
        if not isinstance(state, dict) or set(state) != set(names):
            raise TrainingError(f"{path}: epoch {epoch} does not hold exactly the model's parameters")
        for name, value in state.items():
            if not (isinstance(value, torch.Tensor) and value.shape == names[name]
                    and value.dtype in (torch.float16, torch.float32) and bool(torch.isfinite(value).all())):
                raise TrainingError(f"{path}: epoch {epoch}'s {name} is not a finite float16 or float32 "
                                    f"tensor of shape {tuple(names[name])}")
    return dict(sorted(epochs.items()))


def run_snapshots(checkpoint_path: str | Path, ckpt: dict, names: dict[str, torch.Size]) -> dict[int, dict]:
    """The snapshots beside a checkpoint file (its run folder's ``snapshots.pt``) of the epochs up to
    the checkpoint's, checked against its model; ``{}`` when there are none (a run of an earlier
    scratch-lstm). :class:`TrainingError` for a snapshots file that fails the checks."""
    try:
        epochs = load_snapshots(Path(checkpoint_path).parent / SNAPSHOTS_FILE, ckpt["model_config"], names)
    except FileNotFoundError:
        return {}
    return {e: state for e, state in epochs.items() if e <= ckpt["epoch"]}
