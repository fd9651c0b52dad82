"""Pictures of training and of the gates (matplotlib, a dependency of the package, with the Agg
backend: no display needed).

Every figure is written through a temporary file and renamed into place, like the other files of
a run folder. Every number printed on a figure is computed from the data it shows. A figure's
title, which may name a run folder or a file, is plain text: a ``$`` is a dollar sign, not the
start of a formula, and a name that is not UTF-8 shows a replacement character where its bad bytes
are; formulas in axis labels are written as mathtext (``$f_{t+1}$``). Each gate figure carries a
one-line caption that says what to look for in it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..gates import GateTrace, saturation
from .errors import TrainingError
from .files import PNG_METADATA, atomic_write_bytes

STYLE = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "xtick.labelsize": 11,
         "ytick.labelsize": 11, "figure.titlesize": 16}
DPI = 90

# (field, title, colour map, colour limits (None: symmetric around 0 from the data), colour bar label)
PANELS = (("i", "input gate i", "viridis", 0, 1, "i (1: g written into c)"),
          ("f", "forget gate f", "viridis", 0, 1, "f (1: c kept, 0: forgotten)"),
          ("g", "candidate g", "RdBu_r", -1, 1, "g (the value offered to c)"),
          ("o", "output gate o", "viridis", 0, 1, "o (1: c shown in h)"),
          ("c", "cell state c", "RdBu_r", None, None, "c (±{lim:.2g}: largest |c| shown)"))

# One line under each gate figure: what to look for in it
CAPTIONS = {
    "gates": "What to look for: the rows where i opens and c changes (do they follow the digit's ink?); "
             "units whose f stays near 1 (yellow) carry c across many steps; o sets how much of c reaches h.",
    "trajectory": "What to look for: long jumps (the steps that change h most); "
                  "the top layer's last point (square) is what the classifier reads.",
    "change": "What to look for: how far training moved each gate from the fresh model's values (the row "
              "above) towards the shaded limits, where a gate is fully closed or open.",
}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise TrainingError("the figures need matplotlib, which scratch-lstm depends on but is not "
                            "installed here: pip install matplotlib (or install scratch-lstm again)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_can_draw() -> None:
    """Refuse (:class:`TrainingError`), before a command computes anything, to run where its
    figures cannot be drawn: an environment that lost matplotlib."""
    _pyplot()


def plain_text(text: str) -> str:
    """``text`` as a figure can draw it: the undecodable bytes of a file name (held as surrogate
    escapes, which no font has) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _suptitle(fig, title: str) -> None:
    """The figure's title, as plain text (matplotlib would read ``$...$`` as a formula)."""
    if title:
        fig.suptitle(plain_text(title), parse_math=False)


def _save(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    path = Path(path)
    atomic_write_bytes(path, lambda fh: fig.savefig(fh, format="png", dpi=DPI, metadata=PNG_METADATA))
    _pyplot().close(fig)
    return path


def _forward_records(traces):
    return [r for r in traces if r.direction == "forward"]


def _caption(fig, which: str, height: float) -> float:
    """Write :data:`CAPTIONS` ``[which]`` under the figure; returns the share of the figure's
    ``height`` (inches) it takes, for ``tight_layout(rect=(0, share, 1, 1))``."""
    fig.text(0.5, 0.008, CAPTIONS[which], ha="center", va="bottom", fontsize=11.5, color="0.25", wrap=True)
    return 0.42 / height


def _units_label(shown: int, H: int) -> str:
    return f"hidden unit (all {H})" if shown == H else f"hidden unit (first {shown} of {H})"


def plot_gates(image: torch.Tensor, traces: list[GateTrace], path: str | Path, title: str = "",
               batch_index: int = 0, max_units: int = 64) -> Path:
    """Heatmaps of i, f, g, o and c for each layer, beside what that layer reads; time runs down.

    ``image`` is the digit ``(28, 28)``; ``traces`` come from :func:`scratch_lstm.trace_gates`
    with ``batch_first`` input. One row of panels per layer (forward direction): first the
    layer's input (the digit for layer 0, the hidden state ``h`` of the layer below for the
    others), then one heatmap per gate with time step t down the page and hidden units across.
    Time runs down because that is how the lecture reads a digit (row t is step t), so every panel of
    a row shares one vertical axis and the pen's first row lines up with the gates' response.
    Only the first ``max_units`` hidden units are drawn; the x labels say how many of H. Each
    colour bar says what its colours mean (the cell's: the scale it was drawn to, its largest
    ``|c|`` shown); a caption under the figure says what to look for (:data:`CAPTIONS`).
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    records = _forward_records(traces)
    T, H = records[0].i[batch_index].shape  # (T, H)
    shown = min(max_units, H)
    rows_are_steps = image.shape[0] == T  # the lecture's view: one image row per step
    height = 3.9 * len(records) + 1.2
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(records), 1 + len(PANELS), squeeze=False,
                                 figsize=(3.4 * (1 + len(PANELS)), height))
        for row, rec in enumerate(records):
            ax = axes[row, 0]
            if row == 0:
                ax.imshow(image.cpu().numpy(), cmap="gray_r", aspect="auto", interpolation="nearest")
                if rows_are_steps:
                    ax.set(title="input x_t: image row t", xlabel="pixel in the row",
                           ylabel="time step t (image row)")
                else:  # pixel sequences: the image cannot share the time axis
                    ax.set(title=f"input image ({T} steps)", xlabel="pixel column", ylabel="pixel row")
            else:
                below = records[row - 1]
                h_below = below.h if below.h_proj is None else below.h_proj
                values = h_below[batch_index].detach().cpu()[:, :shown].numpy()  # (T, shown)
                im = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                               interpolation="nearest")
                reads = f"h of layer {below.layer}" + (" (forward)" if len(traces) > len(records) else "")
                ax.set(title=f"input: {reads}", ylabel="time step t",
                       xlabel=_units_label(values.shape[1], h_below.shape[-1]))
                fig.colorbar(im, ax=ax, fraction=0.046).set_label("h (-1 to 1)", fontsize=11)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
            for col, (name, label, cmap, vmin, vmax, bar_label) in enumerate(PANELS, start=1):
                ax = axes[row, col]
                values = rec[name][batch_index].detach().cpu()[:, :shown].numpy()  # (T, shown)
                if vmin is None:  # the cell is unbounded: scale to its largest |value| shown
                    lim = float(abs(values).max()) or 1.0
                    vmin, vmax = -lim, lim
                    bar_label = bar_label.format(lim=lim)
                im = ax.imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                               interpolation="nearest")
                ax.set(title=f"layer {rec.layer}: {label}", xlabel=_units_label(shown, H))
                ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
                fig.colorbar(im, ax=ax, fraction=0.046).set_label(bar_label, fontsize=11)
        _suptitle(fig, title)
        fig.tight_layout(rect=(0, _caption(fig, "gates", height), 1, 1))
        return _save(fig, path)


def plot_hidden_trajectory(traces: list[GateTrace], path: str | Path, batch_index: int = 0,
                           title: str = "") -> Path:
    """Each layer's hidden state ``h_t`` over time, projected on its first two principal components.

    The ``(T, H)`` matrix of ``h_t`` is centred over time and decomposed (SVD); each axis is
    labelled with the share of ``h``'s variance over time that it explains. Colour is the time
    step; the first step (t=0) and the last are marked and labelled. ``title`` says whose model it
    is (e.g. trained or fresh); a caption under the figure says what to look for (:data:`CAPTIONS`).
    """
    plt = _pyplot()
    records = _forward_records(traces)
    height = 5.8
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(records), figsize=(max(6 * len(records), 10.5), height), squeeze=False)
        for ax, rec in zip(axes[0], records):
            h = rec.h[batch_index].detach().double().cpu()  # (T, H)
            centred = h - h.mean(0)
            _, s, v = torch.linalg.svd(centred, full_matrices=False)
            k = min(2, v.shape[0])  # 1 when H == 1 or T == 1
            xy = torch.zeros(h.shape[0], 2, dtype=h.dtype)
            xy[:, :k] = centred @ v[:k].T
            xy = xy.numpy()  # (T, 2)
            share = (s**2 / (s**2).sum().clamp_min(1e-12)).tolist() + [0.0]  # variance per component
            ax.plot(xy[:, 0], xy[:, 1], "-", color="0.75", zorder=1)
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=list(range(len(xy))), cmap="plasma", zorder=2)
            last = len(xy) - 1
            span = xy.max(0) - xy.min(0) + 1e-12
            for t, marker in ((0, "*"), (last, "s"))[: 2 if last else 1]:
                away = (xy[t] - xy.mean(0)) / span  # point the label away from the path's centre
                norm = float((away**2).sum()) ** 0.5
                dx, dy = (away / norm).tolist() if norm > 0 else (-0.6, 0.8)
                ax.scatter(*xy[t], s=220 if marker == "*" else 90, marker=marker, facecolor="none",
                           edgecolor="black", linewidth=1.5, zorder=3)
                ax.annotate(f"t={t}", xy[t].tolist(), xytext=(45 * dx, 45 * dy),
                            textcoords="offset points", ha="center", va="center", fontsize=13,
                            fontweight="bold", arrowprops={"arrowstyle": "->"},
                            bbox={"boxstyle": "round", "fc": "white", "ec": "0.5"}, zorder=4)
            ax.set(title=f"layer {rec.layer}: h_t ({h.shape[1]} units) on 2 principal components",
                   xlabel=f"PC1 ({100 * share[0]:.0f}% of variance)",
                   ylabel=f"PC2 ({100 * share[1]:.0f}% of variance)")
            ax.margins(0.2)  # room for the t labels inside the axes
            ax.grid(alpha=0.3)
            fig.colorbar(sc, ax=ax, label="time step t")
        _suptitle(fig, title)
        fig.tight_layout(rect=(0, _caption(fig, "trajectory", height), 1, 1))
        return _save(fig, path)


def plot_gate_change(before: list[GateTrace], after: list[GateTrace], path: str | Path,
                     labels: tuple[str, str] = ("fresh", "trained"), eps: float = 0.05,
                     title: str = "") -> Path:
    """Histograms of each gate's values before and after training, per layer, with saturation.

    For each layer (forward direction) a row of ``labels[0]`` histograms above a row of
    ``labels[1]``, one column per gate; bars are the percentage of the record's values (every
    step, unit and sample) in each of 40 bins. Each row has its own y scale: a fresh model's gates
    sit in a narrow band around 0.5 whose peak would flatten a trained histogram on a shared
    scale. Shaded bands are the saturated zones, within ``eps`` of a limit; each panel's title
    gives the shares there, from :func:`scratch_lstm.saturation` with the same ``eps``. A caption
    under the figure says what to look for (:data:`CAPTIONS`).
    """
    plt = _pyplot()
    recs_b, recs_a = _forward_records(before), _forward_records(after)
    sat_b, sat_a = saturation(before, eps), saturation(after, eps)
    gates = (("i", "input gate i"), ("f", "forget gate f"), ("g", "candidate g"), ("o", "output gate o"))
    with plt.rc_context(STYLE):
        height = 2.9 * 2 * len(recs_a) + 1.3
        fig, axes = plt.subplots(2 * len(recs_a), 4, figsize=(17, height), squeeze=False, sharex="col")
        rows = []  # (record, its saturation, label, colour): per layer, fresh above trained
        for rb, ra in zip(recs_b, recs_a):
            rows += [(rb, sat_b, labels[0], "0.45"), (ra, sat_a, labels[1], "tab:blue")]
        for row, (rec, sat, label, color) in enumerate(rows):
            stats = sat[f"l{rec.layer}_forward"]
            for col, (gate, gate_name) in enumerate(gates):
                ax = axes[row, col]
                low = -1.0 if gate == "g" else 0.0
                values = rec[gate].detach().cpu().reshape(-1).numpy()
                ax.hist(values, bins=torch.linspace(low, 1, 41).numpy(), color=color,
                        weights=[100.0 / len(values)] * len(values))
                ax.axvspan(low, low + eps, color="tab:red", alpha=0.15, lw=0, zorder=0)
                ax.axvspan(1 - eps, 1, color="tab:red", alpha=0.15, lw=0, zorder=0)
                if gate == "g":
                    shares = f"|g| > {1 - eps:g}: {100 * stats['g_saturated']:.1f}%"
                else:
                    shares = (f"< {eps:g}: {100 * stats[f'{gate}_closed']:.1f}%,  "
                              f"> {1 - eps:g}: {100 * stats[f'{gate}_open']:.1f}%")
                ax.set_title(f"layer {rec.layer}, {label}: {gate_name}\n{shares}", fontsize=13)
                if col == 0:
                    ax.set_ylabel("% of values per bin")
                if row == len(rows) - 1:
                    ax.set_xlabel("g (tanh, -1 to 1)" if gate == "g" else f"{gate} (sigmoid, 0 to 1)")
                ax.grid(alpha=0.3, axis="y")
        _suptitle(fig, title)
        fig.tight_layout(rect=(0, _caption(fig, "change", height), 1, 1))
        return _save(fig, path)


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, train and test, from a run's ``metrics.jsonl`` records.

    Each record needs ``epoch``, ``train_loss``, ``test_loss``, ``train_acc`` and ``test_acc``
    (accuracies as fractions). Train values are averages over the epoch's mini-batches, taken in
    training mode while the weights were still changing; test values are measured once on the
    whole test split after the epoch. A note under the plots says so; epochs are whole-number ticks.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    epochs = [m["epoch"] for m in history]
    with plt.rc_context(STYLE):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
        ax1.plot(epochs, [m["train_loss"] for m in history], "o-", label="train (epoch average)")
        ax1.plot(epochs, [m["test_loss"] for m in history], "o-", label="test (end of epoch)")
        ax1.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
        ax2.plot(epochs, [100 * m["train_acc"] for m in history], "o-", label="train (epoch average)")
        ax2.plot(epochs, [100 * m["test_acc"] for m in history], "o-", label="test (end of epoch)")
        ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for ax in (ax1, ax2):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # 1 epoch: one tick
            if epochs:
                ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
            ax.legend()
            ax.grid(alpha=0.3)
        fig.text(0.5, 0.01, "train: average over the epoch's mini-batches while the weights were "
                 "still changing (training mode), so it can trail test early on;\n"
                 "test: the whole test split, once, after the epoch",
                 ha="center", va="bottom", fontsize=10.5, color="0.3")
        _suptitle(fig, title)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        return _save(fig, path)


def _decade_ticks(ax, most: int = 8) -> None:
    """Ticks on a log axis at round powers of ten (every 1, 2, 5, 10, 20, 50 or 100 decades)."""
    import math

    from matplotlib.ticker import FixedLocator, LogFormatterMathtext, NullLocator

    low, high = ax.get_ylim()
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    stride = next((s for s in (1, 2, 5, 10, 20, 50, 100) if (last - first) / s <= most), 200)
    exponents = range(math.ceil(first / stride) * stride, last + 1, stride)
    ax.yaxis.set_major_locator(FixedLocator([10.0**e for e in exponents]))
    ax.yaxis.set_major_formatter(LogFormatterMathtext())
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(low, high)


def plot_gradient_flow(flows: dict, path: str | Path, title: str = "", layer: int = 0) -> Path:
    """How much gradient reaches each step, one line per model, on log scales over t.

    ``flows`` maps a label to a :class:`scratch_lstm.GradientFlow`; the panels show layer
    ``layer``'s ``‖dL/dc_t‖``, ``‖dL/dh_t‖`` and the mean forget-gate product
    ``f_{t+1} ⊙ ... ⊙ f_{T-1}`` over the time steps t, each axis labelled in mathtext (set as
    formulas). Values below float64's range (0) are left out.
    """
    plt = _pyplot()
    panels = (("dc", r"$\Vert\partial L / \partial c_t\Vert$", "gradient reaching the cell state $c_t$"),
              ("dh", r"$\Vert\partial L / \partial h_t\Vert$", "gradient reaching the hidden state $h_t$"),
              ("f", r"mean of $f_{t+1} \odot \cdots \odot f_{T-1}$", "forget-gate product from $t+1$ to the end"))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
        for ax, (key, ylabel, subtitle) in zip(axes, panels):
            for label, flow in flows.items():
                values = (10 ** flow.log10_forget_product[layer] if key == "f"
                          else getattr(flow, key)[layer])
                t = torch.arange(values.numel())
                shown = values > 0
                ax.plot(t[shown].numpy(), values[shown].numpy(), label=label, lw=1.6)
            ax.set_yscale("log")
            _decade_ticks(ax)
            ax.set(xlabel="time step t (the loss reads the last step)", ylabel=ylabel, title=subtitle)
            ax.grid(alpha=0.3, which="major")
        axes[0].legend(fontsize=10.5)
        _suptitle(fig, title)
        fig.tight_layout()
        return _save(fig, path)


__all__ = ["check_can_draw", "plain_text", "plot_curves", "plot_gate_change", "plot_gates", "plot_gradient_flow",
           "plot_hidden_trajectory"]
