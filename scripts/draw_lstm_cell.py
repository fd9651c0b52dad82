"""Draw the LSTM cell, labelled with the symbols of scratch_lstm/cell.py, into docs/lstm_cell.png.

One time step of ``lstm_step``: x_t, h_{t-1} and c_{t-1} come in; one product gives the four
gates' pre-activations z_t; the gates i, f, g, o; the cell's ⊙ and +; c_t and h_t go out. Each
symbol carries the variable name it has in the code (``c_prev``, ``z_f``, ...) beneath it. Only
matplotlib draws it (no randomness, fixed size), so the same command always makes the same figure.

    python scripts/draw_lstm_cell.py                       # writes docs/lstm_cell.png
    python scripts/draw_lstm_cell.py --out cell.svg        # any format matplotlib writes
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "lstm_cell.png"

# Okabe-Ito colours (readable with every common colour-vision deficiency), one per gate.
GATE_COLOUR = {"f": "#D55E00", "i": "#009E73", "g": "#E69F00", "o": "#0072B2"}
CELL = "#222222"  # the cell state's path
HIDDEN = "#7A3E9D"  # the hidden state's path
INPUT = "#555555"  # x_t, h_{t-1} and z_t
CODE = "#6B6B6B"  # the code's variable names
BOX = "#F4F1EA"  # the cell's background

Y_CELL = 6.0  # the cell state's line
Y_GATE = 3.55  # the gates' centres
Y_Z = 2.05  # the pre-activation bar's centre
Y_H_IN = 1.0  # h_{t-1} comes in here ... and h_t goes out here
X_F, X_I, X_G, X_O = 3.4, 5.0, 6.5, 7.9  # the gates, in the order the cell uses them
X_TANH = 9.55  # tanh(c_t) and the output's ⊙

# Every variable of lstm_step the figure names (its name in scratch_lstm/cell.py) and its symbol.
SYMBOLS = {"x": "x_t", "h_prev": "h_{t-1}", "c_prev": "c_{t-1}", "z_i": "z_i", "z_f": "z_f", "z_g": "z_g",
           "z_o": "z_o", "i": "i_t", "f": "f_t", "g": "g_t", "o": "o_t", "c": "c_t", "h": "h_t"}


def arrow(ax, points, colour, width=2.0):
    """A polyline through ``points`` with an arrowhead at its end."""
    xs, ys = zip(*points[:-1])
    ax.plot(xs, ys, color=colour, lw=width, solid_joinstyle="round", solid_capstyle="round", zorder=2)
    ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>", mutation_scale=16,
                                 color=colour, lw=width, shrinkA=0, shrinkB=0, zorder=2))


def operator(ax, x, y, symbol, colour=CELL):
    """A circled ⊙ or + at ``(x, y)``."""
    ax.add_patch(Circle((x, y), 0.27, facecolor="white", edgecolor=colour, lw=2, zorder=4))
    ax.text(x, y - (0.02 if symbol == "+" else 0.0), symbol, ha="center", va="center", fontsize=19,
            color=colour, zorder=5)


def gate(ax, x, y, function, colour, name):
    """A gate's box: its function (σ or tanh) on the pre-activation named ``z_<name>``."""
    w = 0.95 if function == "tanh" else 0.75
    ax.add_patch(FancyBboxPatch((x - w / 2, y - 0.33), w, 0.66, boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=colour, edgecolor=colour, lw=1.5, zorder=4))
    ax.text(x, y, r"$\sigma$" if function == "sigma" else "tanh", ha="center", va="center",
            fontsize=17 if function == "sigma" else 14, color="white", fontweight="bold", zorder=5)


def label(ax, x, y, code, colour, ha="center", size=17, show_code=True):
    """The symbol of the variable ``code`` of ``lstm_step`` in maths type, with its code name beneath
    it, smaller and grey."""
    ax.text(x, y, f"${SYMBOLS[code]}$", ha=ha, va="center", fontsize=size, color=colour, zorder=6)
    if show_code:
        ax.text(x, y - 0.36, code, ha=ha, va="center", fontsize=9.5, color=CODE, family="monospace", zorder=6)


def draw(out: Path) -> Path:
    """Draw the figure into ``out`` (its suffix chooses the format) and return the path."""
    fig, ax = plt.subplots(figsize=(13.0, 7.4))
    ax.set_xlim(-0.2, 18.4)
    ax.set_ylim(-0.75, 7.6)
    ax.set_aspect("equal")
    ax.axis("off")

    # The cell: everything inside happens in one call of lstm_step.
    ax.add_patch(FancyBboxPatch((1.75, 0.45), 9.05, 6.35, boxstyle="round,pad=0.02,rounding_size=0.35",
                                facecolor=BOX, edgecolor="#C9C2B3", lw=1.5, zorder=0))
    ax.text(1.85, 7.05, "lstm_step, in scratch_lstm/cell.py",
            ha="left", va="center", fontsize=10, color=CODE, family="monospace")

    # The cell state's path along the top: c_{t-1} -> ⊙ f_t -> + i_t ⊙ g_t -> c_t.
    arrow(ax, [(1.1, Y_CELL), (X_F - 0.27, Y_CELL)], CELL, width=3.2)
    arrow(ax, [(X_F + 0.27, Y_CELL), (X_G - 0.27, Y_CELL)], CELL, width=3.2)
    arrow(ax, [(X_G + 0.27, Y_CELL), (11.6, Y_CELL)], CELL, width=3.2)
    operator(ax, X_F, Y_CELL, r"$\odot$")
    operator(ax, X_G, Y_CELL, "+")
    label(ax, 0.55, Y_CELL + 0.02, "c_prev", CELL)
    label(ax, 12.15, Y_CELL + 0.02, "c", CELL)
    ax.text(12.15, Y_CELL - 0.72, "to step t+1", ha="center", va="center", fontsize=9.5, color=CELL)
    ax.text((X_F + X_TANH) / 2, Y_CELL + 0.42,
            r"the cell path: $\partial c_t\,/\,\partial c_{t-1} = \mathrm{diag}(f_t)$",
            ha="center", va="center", fontsize=11, color=CELL)

    # h_{t-1} from the left and x_t from below go into one product: the pre-activations z_t.
    z_left, z_right = 2.55, 9.0
    arrow(ax, [(1.1, Y_H_IN), (2.2, Y_H_IN), (2.2, Y_Z), (z_left, Y_Z)], HIDDEN, width=2.4)
    label(ax, 0.55, Y_H_IN + 0.02, "h_prev", HIDDEN)
    x_in = 5.75
    arrow(ax, [(x_in, -0.35), (x_in, Y_Z - 0.45)], INPUT, width=2.4)
    label(ax, x_in + 0.25, -0.2, "x", INPUT, ha="left")
    ax.add_patch(FancyBboxPatch((z_left, Y_Z - 0.45), z_right - z_left, 0.9,
                                boxstyle="round,pad=0.02,rounding_size=0.12", facecolor="white",
                                edgecolor=INPUT, lw=1.6, zorder=3))
    ax.text((z_left + z_right) / 2, Y_Z + 0.16,
            r"$z_t = x_t W_{ih}^{\top} + h_{t-1} W_{hh}^{\top} + b_{ih} + b_{hh}$",
            ha="center", va="center", fontsize=13, color=INPUT, zorder=5)
    ax.text((z_left + z_right) / 2, Y_Z - 0.24,
            r"$(B, 4H) = [\,z_i \mid z_f \mid z_g \mid z_o\,]$",
            ha="center", va="center", fontsize=9.5, color=CODE, zorder=5)

    # The four gates, each on its quarter of z_t.
    for x, name, function in ((X_F, "f", "sigma"), (X_I, "i", "sigma"), (X_G, "g", "tanh"), (X_O, "o", "sigma")):
        arrow(ax, [(x, Y_Z + 0.45), (x, Y_GATE - 0.33)], INPUT, width=1.6)
        ax.text(x + 0.1, (Y_Z + Y_GATE) / 2, f"${SYMBOLS['z_' + name]}$", ha="left", va="center", fontsize=12,
                color=INPUT)
        gate(ax, x, Y_GATE, function, GATE_COLOUR[name], name)

    # f_t multiplies c_{t-1}.
    arrow(ax, [(X_F, Y_GATE + 0.33), (X_F, Y_CELL - 0.27)], GATE_COLOUR["f"], width=2.4)
    label(ax, X_F - 0.15, 4.75, "f", GATE_COLOUR["f"], ha="right")
    # i_t ⊙ g_t is added to it.
    y_ig = 4.9
    arrow(ax, [(X_I, Y_GATE + 0.33), (X_I, y_ig), (X_G - 0.27, y_ig)], GATE_COLOUR["i"], width=2.4)
    label(ax, X_I - 0.15, 4.45, "i", GATE_COLOUR["i"], ha="right")
    arrow(ax, [(X_G, Y_GATE + 0.33), (X_G, y_ig - 0.27)], GATE_COLOUR["g"], width=2.4)
    label(ax, X_G + 0.15, 4.45, "g", GATE_COLOUR["g"], ha="left")
    operator(ax, X_G, y_ig, r"$\odot$")
    arrow(ax, [(X_G, y_ig + 0.27), (X_G, Y_CELL - 0.27)], CELL, width=2.4)
    ax.text(X_G + 0.15, (y_ig + Y_CELL) / 2, r"$i_t \odot g_t$", ha="left", va="center", fontsize=12, color=CELL)

    # h_t = o_t ⊙ tanh(c_t), passed on to step t+1 and to the layer above.
    y_tanh, y_out = 4.75, Y_GATE
    ax.plot([X_TANH, X_TANH], [Y_CELL, y_tanh + 0.3], color=CELL, lw=2.4, zorder=2)
    ax.add_patch(Circle((X_TANH, Y_CELL), 0.07, color=CELL, zorder=4))  # the branch
    ax.add_patch(FancyBboxPatch((X_TANH - 0.48, y_tanh - 0.3), 0.96, 0.6,
                                boxstyle="round,pad=0.02,rounding_size=0.3", facecolor="white",
                                edgecolor=CELL, lw=1.8, zorder=4))
    ax.text(X_TANH, y_tanh, "tanh", ha="center", va="center", fontsize=13, color=CELL, zorder=5)
    arrow(ax, [(X_TANH, y_tanh - 0.3), (X_TANH, y_out + 0.27)], CELL, width=2.4)
    arrow(ax, [(X_O, Y_GATE + 0.33), (X_O, y_out + 0.0), (X_TANH - 0.27, y_out)], GATE_COLOUR["o"], width=2.4)
    x_o_label = (X_O + X_TANH) / 2 + 0.05
    label(ax, x_o_label, y_out + 0.33, "o", GATE_COLOUR["o"], show_code=False)
    ax.text(x_o_label, y_out - 0.3, "o", ha="center", va="center", fontsize=9.5, color=CODE, family="monospace")
    operator(ax, X_TANH, y_out, r"$\odot$", colour=HIDDEN)
    arrow(ax, [(X_TANH, y_out - 0.27), (X_TANH, Y_H_IN), (11.6, Y_H_IN)], HIDDEN, width=2.4)
    label(ax, 12.15, Y_H_IN + 0.02, "h", HIDDEN)
    ax.text(12.15, Y_H_IN - 0.85, "to step t+1 and\n" r"the layer above ($y_t$)", ha="center", va="center",
            fontsize=9.5, color=HIDDEN, linespacing=1.15)

    # The equations, beside the picture, coloured as the gates.
    x_eq, y_eq, step = 13.9, 6.3, 0.62
    ax.text(x_eq, y_eq + 0.75, "one step, t = 0 .. T-1", ha="left", va="center", fontsize=12, color=CODE)
    lines = [
        (r"$i_t = \sigma(z_i)$", GATE_COLOUR["i"], "input gate: how much to write"),
        (r"$f_t = \sigma(z_f)$", GATE_COLOUR["f"], "forget gate: how much to keep"),
        (r"$g_t = \tanh(z_g)$", GATE_COLOUR["g"], "candidate: what to write"),
        (r"$o_t = \sigma(z_o)$", GATE_COLOUR["o"], "output gate: how much to show"),
        (r"$c_t = f_t \odot c_{t-1} + i_t \odot g_t$", CELL, "cell state"),
        (r"$h_t = o_t \odot \tanh(c_t)$", HIDDEN, "hidden state"),
    ]
    for n, (math, colour, words) in enumerate(lines):
        y = y_eq - n * step * 1.45
        ax.text(x_eq, y, math, ha="left", va="center", fontsize=14, color=colour)
        ax.text(x_eq, y - 0.38, words, ha="left", va="center", fontsize=9.5, color=CODE)
    ax.text(x_eq, -0.25, r"$x_t$: (B, I);  $h, c, i, f, g, o$: (B, H)" "\n"
            r"$\sigma$, tanh and $\odot$ act elementwise" "\n"
            r"$h_{-1}, c_{-1}$: the initial state (h0, c0)" "\n"
            r"projection: $h_{\mathrm{proj},t} = W_{hr} h_t$ is passed on",
            ha="left", va="center", fontsize=9.5, color=CODE, linespacing=1.35)

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150, bbox_inches="tight", pad_inches=0.15, facecolor="white",
                metadata={"Software": None} if out.suffix == ".png" else None)
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="the file to write; its suffix (.png, .svg, .pdf) chooses the format "
                             "(default: docs/lstm_cell.png)")
    args = parser.parse_args(argv)
    print(f"wrote {draw(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
