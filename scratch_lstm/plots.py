"""Pictures of the gates (matplotlib with the Agg backend; ``pip install -e ".[plot]"``)."""

from __future__ import annotations

from pathlib import Path

import torch

from .gates import GateTrace, saturation

PANELS = (("i", "input gate i", "viridis", 0, 1), ("f", "forget gate f", "viridis", 0, 1),
          ("g", "candidate g", "RdBu_r", -1, 1), ("o", "output gate o", "viridis", 0, 1),
          ("c", "cell c", "RdBu_r", None, None))


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('plots need matplotlib: pip install -e ".[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _forward_records(traces):
    return [r for r in traces if r.direction == "forward"]


def plot_gates(image: torch.Tensor, traces: list[GateTrace], path: str | Path, title: str = "",
               batch_index: int = 0, max_units: int = 64) -> Path:
    """The digit beside heatmaps of i, f, g, o and c (hidden units x time) for each layer.

    ``traces`` come from :func:`scratch_lstm.trace_gates` with ``batch_first`` input; the first
    ``max_units`` hidden units of sample ``batch_index`` are shown.
    """
    plt = _pyplot()
    records = _forward_records(traces)
    fig, axes = plt.subplots(len(records), 1 + len(PANELS),
                             figsize=(3 * (1 + len(PANELS)), 2.8 * len(records)), squeeze=False)
    for row, rec in enumerate(records):
        ax = axes[row, 0]
        if row == 0:
            ax.imshow(image.cpu().numpy(), cmap="gray_r")
            ax.set_title("input (row t = step t)")
        else:
            ax.axis("off")
        ax.set_ylabel(f"layer {rec.layer}")
        for col, (name, label, cmap, vmin, vmax) in enumerate(PANELS, start=1):
            values = rec[name][batch_index].detach().cpu()[:, :max_units].T.numpy()  # (units, T)
            if vmin is None:
                lim = float(abs(values).max()) or 1.0
                vmin, vmax = -lim, lim
            im = axes[row, col].imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                                       interpolation="nearest")
            axes[row, col].set_title(f"layer {rec.layer}: {label}")
            axes[row, col].set_xlabel("time step t")
            axes[row, col].set_ylabel("hidden unit")
            fig.colorbar(im, ax=axes[row, col], fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_hidden_trajectory(traces: list[GateTrace], path: str | Path, batch_index: int = 0) -> Path:
    """Each layer's hidden state over time, projected on its first two principal components."""
    plt = _pyplot()
    records = _forward_records(traces)
    fig, axes = plt.subplots(1, len(records), figsize=(5 * len(records), 4.5), squeeze=False)
    for ax, rec in zip(axes[0], records):
        h = rec.h[batch_index].detach().double().cpu()  # (T, H)
        centred = h - h.mean(0)
        _, s, v = torch.linalg.svd(centred, full_matrices=False)
        xy = (centred @ v[:2].T).numpy()  # (T, 2)
        explained = (s[:2] ** 2).sum() / (s**2).sum().clamp_min(1e-12)
        ax.plot(xy[:, 0], xy[:, 1], "-", color="0.7")
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=list(range(len(xy))), cmap="plasma", zorder=3)
        ax.annotate("t=0", xy[0].tolist())
        ax.annotate(f"t={len(xy) - 1}", xy[-1].tolist())
        ax.set_title(f"layer {rec.layer}: h_t on 2 principal components ({100 * float(explained):.0f}% var.)")
        fig.colorbar(sc, ax=ax, label="time step")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_gate_change(before: list[GateTrace], after: list[GateTrace], path: str | Path,
                     labels: tuple[str, str] = ("fresh", "trained")) -> Path:
    """Histograms of each gate's values before and after training, per layer, with saturation."""
    plt = _pyplot()
    recs_b, recs_a = _forward_records(before), _forward_records(after)
    sat_b, sat_a = saturation(before), saturation(after)
    fig, axes = plt.subplots(len(recs_a), 4, figsize=(16, 3 * len(recs_a)), squeeze=False)
    for row, (rb, ra) in enumerate(zip(recs_b, recs_a)):
        key = f"l{ra.layer}_forward"
        for col, gate in enumerate(("i", "f", "g", "o")):
            ax = axes[row, col]
            bins = torch.linspace(-1 if gate == "g" else 0, 1, 41).numpy()
            for rec, sat, label in ((rb, sat_b, labels[0]), (ra, sat_a, labels[1])):
                values = rec[gate].detach().cpu().reshape(-1).numpy()
                share = sat[key]["g_saturated"] if gate == "g" else (
                    sat[key][f"{gate}_closed"] + sat[key][f"{gate}_open"])
                ax.hist(values, bins=bins, alpha=0.55, density=True,
                        label=f"{label} ({100 * share:.0f}% saturated)")
            ax.set_title(f"layer {ra.layer}: gate {gate}")
            ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
