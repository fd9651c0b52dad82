"""Lesions: a gate of a trained LSTM held at a fixed value, to see what the network loses without it.

A :class:`GateClamp` names a gate, the value to hold it at, and optionally the layer and the units.
``LSTM.forward(x, clamps=[...])`` (and :func:`scratch_lstm.trace_gates`, and
``LSTMClassifier.forward(x, clamps=...)``) runs every layer through the teaching path with the
step functions of :mod:`scratch_lstm.variants`, which apply the clamps through their ``hold``
points: each clamped gate is replaced by its value right after it is computed, so ``c_t`` and
``h_t`` follow from the held gates. Holding ``f = 1`` on every unit is the NFG cell on the same
weights, ``i = 1`` the NIG cell and ``o = 1`` the NOG cell (tested).

A clamp may hold its gate for a window of steps only (``steps``): ``f=0/15`` erases the memory
at step 15 and nowhere else. A window counts the steps a layer has read, from 0 (in the reverse
direction of a bidirectional LSTM: from the sequence's end).

The command line's form of a clamp (``scratch-lstm eval --clamp``) is what ``str(clamp)`` prints
and :meth:`GateClamp.parse` reads: ``GATE=VALUE[@LAYER][:UNITS][/STEPS]``, e.g. ``f=1``,
``h=0@1``, ``f=1@0:3,7,9``, ``o=1:0-63`` or ``f=0@1:5/15-17``. The gate explorer's page reads
and writes the same form (its URL hash, its clamp list), with the same ranges: it carries
:data:`CLAMP_RANGES` and :data:`CLAMP_LIMITS`, and the tests hold its parser to this one.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor

from .variants import Hold

CLAMP_RANGES = {"i": (0.0, 1.0), "f": (0.0, 1.0), "g": (-1.0, 1.0), "o": (0.0, 1.0), "h": (-1.0, 1.0)}  # the values
# each can hold: the sigmoid gates i, f, o; the tanh candidate g; the output h_t (before any projection)
CLAMP_LIMITS = {"units": 1 << 20, "steps": 1 << 20}  # the largest unit index and step a text may name, plus one:
# a bound checked before a range a-b is spelled out (no LSTM here has a million units or reads a million steps)
NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")  # a value: ASCII digits only
INDEX = re.compile(r"[0-9]+")  # a layer, unit or step: ASCII digits only (int() would read '١' and refuse '²')
FORM = "GATE=VALUE[@LAYER][:UNITS][/STEPS], e.g. f=1, h=0@1, f=1@0:3,7,0-9 or f=0/15-17"


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


@dataclass(frozen=True)
class GateClamp:
    """Hold ``gate`` at ``value`` in ``layer`` (``None``: every layer) for ``units`` (``None``:
    every unit; else unit indices, stored as a sorted tuple) at ``steps`` (``None``: every step;
    else ``(first, last)``, both held), in both directions of a bidirectional layer.

    ``gate`` is ``"i"``, ``"f"``, ``"o"`` (sigmoid gates: ``value`` in [0, 1]), ``"g"`` (the tanh
    candidate: in [-1, 1]) or ``"h"`` (the unit's output ``h_t`` before any projection, in
    [-1, 1]; ``h=0`` silences the unit). A bad field is a ``ValueError`` (or ``TypeError``) that
    says what was expected; layers and units are checked against a model by :func:`check_clamps`.
    """

    gate: str
    value: float
    layer: int | None = None
    units: tuple[int, ...] | None = None
    steps: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.gate not in CLAMP_RANGES:
            raise ValueError(f"a clamp's gate must be one of {', '.join(CLAMP_RANGES)}, got {self.gate!r}")
        lo, hi = CLAMP_RANGES[self.gate]
        if not isinstance(self.value, numbers.Real) or isinstance(self.value, bool):
            raise TypeError(f"a clamp's value must be a number, got {type(self.value).__name__}")
        if not (math.isfinite(self.value) and lo <= self.value <= hi):
            kind = "a tanh" if self.gate in "gh" else "a sigmoid gate"
            raise ValueError(f"{self.gate} is {kind}: its clamp value must be in [{lo:g}, {hi:g}], got {self.value}")
        object.__setattr__(self, "value", float(self.value))
        if self.layer is not None and not (_is_int(self.layer) and self.layer >= 0):
            raise ValueError(f"a clamp's layer must be None (every layer) or an integer >= 0, got {self.layer!r}")
        if self.units is not None:
            if isinstance(self.units, (str, bytes)) or not isinstance(self.units, Iterable):
                raise TypeError(f"a clamp's units must be None (every unit) or a sequence of unit indices, "
                                f"got {type(self.units).__name__}")
            units = [int(u) if isinstance(u, Tensor) and u.numel() == 1 else u for u in self.units]
            bad = [u for u in units if not (_is_int(u) and u >= 0)]
            if bad or not units:
                raise ValueError(f"a clamp's units must be unit indices >= 0 (at least one), got {list(self.units)!r}")
            object.__setattr__(self, "units", tuple(sorted({int(u) for u in units})))
        if self.steps is not None:
            if isinstance(self.steps, (str, bytes)) or not isinstance(self.steps, Iterable):
                raise TypeError(f"a clamp's steps must be None (every step) or (first, last), "
                                f"got {type(self.steps).__name__}")
            steps = tuple(self.steps)
            if not (len(steps) == 2 and all(_is_int(t) and t >= 0 for t in steps) and steps[0] <= steps[1]):
                raise ValueError(f"a clamp's steps must be (first, last), steps >= 0 with first <= last, "
                                 f"got {self.steps!r}")
            object.__setattr__(self, "steps", (int(steps[0]), int(steps[1])))

    def __str__(self) -> str:
        """The command line's form, ``GATE=VALUE[@LAYER][:UNITS][/STEPS]`` (runs as ``a-b``)."""
        value = repr(self.value).removesuffix(".0")  # the shortest text that reads back the same float
        text = f"{self.gate}={value}" + (f"@{self.layer}" if self.layer is not None else "")
        if self.units is not None:
            runs: list[list[int]] = []  # [first, last] of each run of consecutive units
            for u in self.units:
                if runs and u == runs[-1][1] + 1:
                    runs[-1][1] = u
                else:
                    runs.append([u, u])
            text += ":" + ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)
        if self.steps is not None:
            a, b = self.steps
            text += f"/{a}" if a == b else f"/{a}-{b}"
        return text

    @classmethod
    def parse(cls, text: str) -> GateClamp:
        """Read ``GATE=VALUE[@LAYER][:UNITS][/STEPS]``: ``f=1`` (every layer, unit and step),
        ``i=0@1`` (layer 1), ``h=0:3,7,9`` (three units of every layer), ``f=1@0:0-127`` (units 0
        to 127 of layer 0), ``f=0/15`` (step 15 only), ``o=0.5@1:4/10-27`` (steps 10 to 27).
        Numbers are ASCII digits. ``ValueError`` with what was expected for any other text;
        ``TypeError`` for something that is not a ``str``."""
        if not isinstance(text, str):
            raise TypeError(f"a clamp's text must be a str ({FORM}), got {type(text).__name__}")
        rest, slash, steps_text = text.partition("/")
        head, sep, units_text = rest.partition(":")
        gate_value, at, layer_text = head.partition("@")
        gate, eq, value_text = gate_value.partition("=")
        if not eq or not gate.strip():
            raise ValueError(f"expected {FORM}, got {text!r}")
        gate = gate.strip()
        if gate not in CLAMP_RANGES:
            raise ValueError(f"the gate must be one of {', '.join(CLAMP_RANGES)} ({FORM}), got {gate!r}")
        if not NUMBER.fullmatch(value_text.strip()):
            raise ValueError(f"the value after {gate}= must be a number ({FORM}), got {value_text!r}")
        value = float(value_text)
        layer = None
        if at:
            if not INDEX.fullmatch(layer_text.strip()):
                raise ValueError(f"the layer after @ must be an integer >= 0 ({FORM}), got {layer_text!r}")
            layer = int(layer_text)
        units = None
        if sep:
            runs = _runs(units_text, "units", "unit")
            if runs is None:
                raise ValueError(f"the units after : must be indices or ranges a-b, separated by commas "
                                 f"({FORM}), got {units_text!r}")
            units = [u for a, b in runs for u in range(a, b + 1)]
        steps = None
        if slash:
            runs = _runs(steps_text, "steps", "step")
            if runs is None or len(runs) != 1:
                raise ValueError(f"the steps after / must be one step t or one window a-b ({FORM}), "
                                 f"got {steps_text!r}")
            steps = runs[0]
        return cls(gate, value, layer, units, steps)


def _runs(text: str, limit: str, what: str) -> list[tuple[int, int]] | None:
    """The runs ``[(a, b), ...]`` of ``a,b-c,...`` (``None`` if it is not of that form); each run
    checked, before it is spelled out, to run forwards and stay under ``CLAMP_LIMITS[limit]``."""
    runs = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not INDEX.fullmatch(lo) or (dash and not INDEX.fullmatch(hi)):
            return None
        a, b = int(lo), int(hi if dash else lo)
        if b < a:
            raise ValueError(f"the {what} range {part.strip()} runs backwards; write {b}-{a}")
        if b >= CLAMP_LIMITS[limit]:
            raise ValueError(f"{what} {b} does not exist: no LSTM here has more than {CLAMP_LIMITS[limit]:,} "
                             f"{limit} (in {text!r})")
        runs.append((a, b))
    return runs


def check_clamps(clamps, num_layers: int, hidden_size: int) -> tuple[GateClamp, ...]:
    """``clamps`` (a :class:`GateClamp` or a sequence of them) as a tuple, each checked against a
    model of ``num_layers`` layers of ``hidden_size`` units; ``ValueError``/``TypeError`` that
    names the clamp otherwise."""
    if isinstance(clamps, GateClamp):
        clamps = (clamps,)
    if isinstance(clamps, (str, bytes)) or not isinstance(clamps, Iterable):
        raise TypeError(f"clamps must be a sequence of scratch_lstm.GateClamp, got {type(clamps).__name__}")
    clamps = tuple(clamps)
    for c in clamps:
        if not isinstance(c, GateClamp):
            hint = f"; parse the text with GateClamp.parse({c!r})" if isinstance(c, str) else ""
            raise TypeError(f"clamps must be scratch_lstm.GateClamp objects, got {type(c).__name__}{hint}")
        if c.layer is not None and c.layer >= num_layers:
            raise ValueError(f"clamp {c}: layer {c.layer} does not exist; the LSTM has {num_layers} "
                             f"layer(s), 0 to {num_layers - 1}")
        if c.units is not None and c.units[-1] >= hidden_size:
            raise ValueError(f"clamp {c}: unit {c.units[-1]} does not exist; the LSTM has {hidden_size} "
                             f"units per layer, 0 to {hidden_size - 1}")
    return clamps


def layer_hold(clamps: tuple[GateClamp, ...], layer: int, hidden_size: int) -> Hold | None:
    """The ``hold`` that applies the clamps of ``layer`` (those with ``layer`` None or equal), in
    the order given (a later clamp of the same gate, unit and step wins); ``None`` if none applies.
    It counts the steps: every step ends with its hold point ``"h"`` (:mod:`scratch_lstm.variants`),
    so a hold serves one run of one layer-direction, as :meth:`scratch_lstm.LSTM.cells` makes it."""
    mine = [c for c in clamps if c.layer is None or c.layer == layer]
    if not mine:
        return None
    masks: dict[tuple[int, torch.device], Tensor] = {}

    def mask(k: int, device: torch.device) -> Tensor:  # (H,) True on the clamped units
        if (k, device) not in masks:
            m = torch.zeros(hidden_size, dtype=torch.bool, device=device)
            m[list(mine[k].units) if mine[k].units is not None else slice(None)] = True
            masks[k, device] = m
        return masks[k, device]

    t = [0]  # the step being computed: the steps this layer has read so far

    def hold(gate: str, value: Tensor) -> Tensor:
        for k, c in enumerate(mine):
            if c.gate == gate and (c.steps is None or c.steps[0] <= t[0] <= c.steps[1]):
                value = value.masked_fill(mask(k, value.device), c.value)  # (B, H): held units set
        if gate == "h":  # the step's last hold point: the next call belongs to step t + 1
            t[0] += 1
        return value

    return hold


__all__ = ["CLAMP_LIMITS", "CLAMP_RANGES", "GateClamp", "check_clamps", "layer_hold"]
