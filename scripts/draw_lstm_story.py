"""Draw the figures that tell the LSTM's story in docs/why-lstm.md: the cell unrolled over time, and
the cell built up in four stages.

- ``lstm_unrolled.png``: the hand-wired LSTM of ``scratch_lstm/hand_wired.py`` over five of its
  steps, the cell path as one horizontal line through time, each step's gates and c_t, h_t
  written on it (computed here, by ``hand_wired.run_steps``);
- ``lstm_stage1.png`` .. ``lstm_stage4.png``: one step of the cell, built up a piece at a time:
  the cell path alone; + the forget gate; + the write through i and g; + the read through o and
  tanh. What a stage adds is in colour, what came before in grey.

Only matplotlib draws them (no randomness, fixed sizes), so the same command makes the same
figures. The symbols are those of ``scratch_lstm/cell.py``; the colours those of
``scripts/draw_lstm_cell.py``.

    python scripts/draw_lstm_story.py                    # writes the five figures into docs/
    python scripts/draw_lstm_story.py --out-dir figures  # anywhere else
"""

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's scratch_lstm: the figure shows its numbers

from scratch_lstm.hand_wired import example_stream, hand_wired_weights, run_steps  # noqa: E402

# The colours of scripts/draw_lstm_cell.py (Okabe-Ito: readable with colour-vision deficiencies).
GATE_COLOUR = {"f": "#D55E00", "i": "#009E73", "g": "#E69F00", "o": "#0072B2"}
CELL, HIDDEN, INPUT, OLD, BOX = "#222222", "#7A3E9D", "#555555", "#B8B8B8", "#F4F1EA"

FIGURES = ("lstm_unrolled.png", "lstm_stage1.png", "lstm_stage2.png", "lstm_stage3.png", "lstm_stage4.png")
STAGE_TITLES = (
    r"1. the cell path alone: $c_t = c_{t-1}$, a memory nothing changes",
    r"2. + the forget gate: $c_t = f_t \odot c_{t-1}$, how much is kept",
    r"3. + the write: $c_t = f_t \odot c_{t-1} + i_t \odot g_t$, what comes in",
    r"4. + the read: $h_t = o_t \odot \tanh(c_t)$, what the rest of the network sees",
)


def arrow(ax, points, colour, width=2.0):
    """A polyline through ``points`` with an arrowhead at its end."""
    xs, ys = zip(*points[:-1])
    ax.plot(xs, ys, color=colour, lw=width, solid_capstyle="round", zorder=2)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=14,
                                 color=colour, lw=width, shrinkA=0, shrinkB=0, zorder=2))


def operator(ax, x, y, symbol, colour):
    """A circled ⊙ or + at ``(x, y)``."""
    ax.add_patch(Circle((x, y), 0.25, facecolor="white", edgecolor=colour, lw=2, zorder=4))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=16, color=colour, zorder=5)


def box(ax, x, y, text, colour, filled=True, w=0.8):
    """A gate's (or tanh's) rounded box centred at ``(x, y)``."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.28), w, 0.56, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=colour if filled else "white", edgecolor=colour, lw=1.6, zorder=4))
    ax.text(x, y, text, ha="center", va="center", fontsize=13 if text.startswith("$") else 11,
            color="white" if filled else colour, fontweight="bold", zorder=5)


def new_axes(width, height, xlim, ylim):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def save(fig, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight", pad_inches=0.12, facecolor="white", metadata={"Software": None})
    plt.close(fig)
    return out


def draw_stage(stage: int, out: Path) -> Path:
    """One step of the cell with the parts of stages 1 .. ``stage``; the newest in colour."""
    fig, ax = new_axes(9.0, 4.0, (-0.2, 11.4), (-0.3, 5.4))
    colour = {k: (c if s == stage else OLD) for k, c, s in
              (("cell", CELL, 1), ("f", GATE_COLOUR["f"], 2), ("i", GATE_COLOUR["i"], 3), ("g", GATE_COLOUR["g"], 3),
               ("o", GATE_COLOUR["o"], 4), ("h", HIDDEN, 4))}
    y_cell, y_gate, y_in = 4.0, 1.9, 0.3
    ax.add_patch(FancyBboxPatch((1.2, -0.15), 8.2, 4.85, boxstyle="round,pad=0.02,rounding_size=0.3",
                                facecolor=BOX, edgecolor="#C9C2B3", lw=1.2, zorder=0))
    ax.text(0.45, y_cell, "$c_{t-1}$", ha="center", va="center", fontsize=15, color=colour["cell"])
    ax.text(10.6, y_cell, "$c_t$", ha="center", va="center", fontsize=15, color=colour["cell"])
    ax.text(5.6, 5.15, STAGE_TITLES[stage - 1], ha="center", va="center", fontsize=12.5, color=CELL)
    if stage == 1:
        ax.text(5.3, 2.2, "nothing is forgotten, nothing written, nothing read:\n"
                "c holds what it held, and no one sees it", ha="center", va="center", fontsize=11.5, color=INPUT)
    if stage >= 1:
        stops = [0.9] + ([2.75, 3.25] if stage >= 2 else []) + ([5.25, 5.75] if stage >= 3 else []) + [10.1]
        for a, b in zip(stops[::2], stops[1::2]):
            arrow(ax, [(a, y_cell), (b, y_cell)], colour["cell"], width=3.2)
    if stage >= 2:  # the gates read x_t and h_{t-1}
        ax.add_patch(FancyBboxPatch((2.3, y_in - 0.3), 6.9, 0.6, boxstyle="round,pad=0.02,rounding_size=0.1",
                                    facecolor="white", edgecolor=INPUT, lw=1.2, zorder=3))
        ax.text(5.75, y_in, r"$x_t,\ h_{t-1}$", ha="center", va="center", fontsize=12, color=INPUT, zorder=5)
    if stage >= 2:
        operator(ax, 3.0, y_cell, r"$\odot$", colour["f"])
        box(ax, 3.0, y_gate, r"$\sigma$", colour["f"])
        arrow(ax, [(3.0, y_in + 0.3), (3.0, y_gate - 0.28)], colour["f"], width=1.4)
        arrow(ax, [(3.0, y_gate + 0.28), (3.0, y_cell - 0.25)], colour["f"], width=2.2)
        ax.text(2.8, 3.0, "$f_t$", ha="right", va="center", fontsize=14, color=colour["f"])
    if stage >= 3:
        operator(ax, 5.5, y_cell, "+", colour["i"])
        operator(ax, 5.5, 3.0, r"$\odot$", colour["i"])
        box(ax, 4.6, y_gate, r"$\sigma$", colour["i"])
        box(ax, 6.4, y_gate, "tanh", colour["g"], w=0.95)
        for x, key in ((4.6, "i"), (6.4, "g")):
            arrow(ax, [(x, y_in + 0.3), (x, y_gate - 0.28)], colour[key], width=1.4)
        arrow(ax, [(4.6, y_gate + 0.28), (4.6, 3.0), (5.25, 3.0)], colour["i"], width=2.2)
        arrow(ax, [(6.4, y_gate + 0.28), (6.4, 3.0), (5.75, 3.0)], colour["g"], width=2.2)
        arrow(ax, [(5.5, 3.25), (5.5, y_cell - 0.25)], colour["i"], width=2.2)
        ax.text(4.45, 2.55, "$i_t$", ha="right", va="center", fontsize=14, color=colour["i"])
        ax.text(6.55, 2.55, "$g_t$", ha="left", va="center", fontsize=14, color=colour["g"])
    if stage >= 4:
        ax.add_patch(Circle((8.3, y_cell), 0.07, color=colour["h"], zorder=4))
        box(ax, 8.3, 3.0, "tanh", colour["h"], filled=False, w=0.95)
        arrow(ax, [(8.3, y_cell), (8.3, 3.28)], colour["h"], width=2.2)
        operator(ax, 8.3, y_gate, r"$\odot$", colour["o"])
        arrow(ax, [(8.3, 2.72), (8.3, y_gate + 0.25)], colour["h"], width=2.2)
        box(ax, 7.45, 1.2, r"$\sigma$", colour["o"], w=0.7)
        arrow(ax, [(7.45, y_in + 0.3), (7.45, 1.2 - 0.28)], colour["o"], width=1.4)
        arrow(ax, [(7.45, 1.48), (7.45, y_gate), (8.05, y_gate)], colour["o"], width=2.2)
        ax.text(7.05, 1.2, "$o_t$", ha="right", va="center", fontsize=14, color=colour["o"])
        arrow(ax, [(8.55, y_gate), (10.1, y_gate)], colour["h"], width=2.4)
        ax.text(10.6, y_gate, "$h_t$", ha="center", va="center", fontsize=15, color=colour["h"])
    return save(fig, out)


def draw_unrolled(out: Path) -> Path:
    """Five steps of the hand-wired LSTM on the lesson's stream, the cell path one line through time."""
    x, _ = example_stream()
    steps = run_steps(hand_wired_weights(), x)
    shown = [1, 2, 3, 58, 59]  # the steps drawn; a gap between 3 and 58
    fig, ax = new_axes(13.0, 4.9, (-0.6, 16.2), (-1.35, 5.2))
    y_cell, y_h, width = 3.6, 1.2, 2.6
    arrow(ax, [(-0.4, y_cell), (16.0, y_cell)], CELL, width=3.4)  # the cell path through time
    ax.text(-0.4, y_cell + 0.45, "the cell path", ha="left", va="center", fontsize=11, color=CELL)
    for k, t in enumerate(shown):
        left = 0.6 + k * 3.1 + (0.5 if k >= 3 else 0.0)
        s, (value, marker, query) = steps[t], x[0, t].tolist()
        ax.add_patch(FancyBboxPatch((left, 0.4), width, 3.9, boxstyle="round,pad=0.02,rounding_size=0.25",
                                    facecolor=BOX, edgecolor="#C9C2B3", lw=1.2, zorder=0))
        ax.text(left + width / 2, 4.65, f"t = {t}" + ("  marker" if marker else "") + ("  query" if query else ""),
                ha="center", va="center", fontsize=11.5, color=CELL, fontweight="bold" if marker or query else None)
        operator(ax, left + 0.7, y_cell, r"$\odot$", GATE_COLOUR["f"])
        operator(ax, left + 1.5, y_cell, "+", GATE_COLOUR["i"])
        ax.text(left + 0.7, 2.95, f"f={s.f.item():.2f}", ha="center", va="center", fontsize=9.5,
                color=GATE_COLOUR["f"])
        ax.text(left + 1.35, 2.65, f"i={s.i.item():.2f}", ha="center", va="center", fontsize=9.5,
                color=GATE_COLOUR["i"])
        ax.text(left + 2.25, 2.45, f"o={s.o.item():.2f}", ha="center", va="center", fontsize=9.5,
                color=GATE_COLOUR["o"])
        ax.text(left + 0.75, 2.25, f"g={s.g.item():+.2f}", ha="center", va="center", fontsize=9.5,
                color=GATE_COLOUR["g"])
        ax.text(left + 2.15, y_cell + 0.32, f"c={s.c.item():+.3f}", ha="center", va="center", fontsize=9.5,
                color=CELL)
        arrow(ax, [(left + 2.15, y_cell - 0.05), (left + 2.15, 2.75)], CELL, width=1.2)
        arrow(ax, [(left + 2.15, 2.25), (left + 2.15, y_h + 0.05)], GATE_COLOUR["o"], width=1.2)
        ax.text(left + 2.15, y_h - 0.25, f"h={s.h.item():+.3f}", ha="center", va="center", fontsize=9.5,
                color=HIDDEN, fontweight="bold" if query else None)
        ax.text(left + 1.0, -0.75, f"$x_t$ = ({value:+.0f}, {marker:.0f}, {query:.0f})", ha="center",
                va="center", fontsize=10.5, color=INPUT)
        arrow(ax, [(left + 1.0, -0.5), (left + 1.0, 0.35)], INPUT, width=1.2)
        if k < len(shown) - 1:  # h_t goes on to the next step's gates
            nxt = 0.6 + (k + 1) * 3.1 + (0.5 if k + 1 >= 3 else 0.0)
            arrow(ax, [(left + width - 0.1, 0.75), (nxt + 0.45, 0.75)], HIDDEN, width=1.2)
    ax.text(11.05, 2.0, "...", ha="center", va="center", fontsize=20, color=CELL)
    ax.text(8.0, -1.25, "value, marker, query in; the bit written at t = 2 rides the cell path to t = 59, "
            "where the output gate lets it out", ha="center", va="center", fontsize=10.5, color=INPUT)
    return save(fig, out)


def draw_all(out_dir: Path) -> list[Path]:
    """Draw every figure into ``out_dir``; return their paths, in :data:`FIGURES`' order."""
    paths = [draw_unrolled(out_dir / FIGURES[0])]
    paths += [draw_stage(stage, out_dir / FIGURES[stage]) for stage in (1, 2, 3, 4)]
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs", help="the folder to write into (default: docs/)")
    args = parser.parse_args(argv)
    for path in draw_all(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
