"""benchmarks/gate_variants.py's figure and table with one task and one seed: the title stays
inside the figure, two cells with the same values stay both in sight, and counts read right."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gate_variants  # noqa: E402


def one_task_results(cells=("rnn", "nig", "vanilla")) -> dict:
    """What gate_variants.py records, for one task and one seed: the plain RNN and the LSTM
    without an input gate with the very same numbers (as they have when both stay at the
    baseline)."""
    def run(score):
        history = [{"step": s, "test_score": score, "test_loss": 0.04} for s in (0, 50, 100)]
        return {"history": history, "diverged": None, "seconds": 3.0, "parameters": 100, "used_parameters": 100}

    return {
        "tasks": {"adding-100": {"source": "adding problem: T = 100", "baseline": {
            "what": "answering 0.5", "score": 0.15, "loss": 1 / 24}}},
        "runs": {"adding-100": {c: {"0": run(0.99 if c == "vanilla" else 0.15)} for c in cells}},
        "seeds": [0], "init": "chrono", "where": "cpu", "torch": "2",
        "budget": {"hidden_size": 64, "batch_size": 64, "lr": 3e-3, "grad_clip": 1.0, "adding_steps": 100,
                   "mnist_steps": 100},
    }


def test_the_title_of_one_task_stays_inside_the_figure():
    fig = gate_variants.figure(one_task_results())
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    width, height = fig.bbox.width, fig.bbox.height
    assert 0 <= box.x0 < box.x1 <= width and 0 <= box.y0 < box.y1 <= height
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_two_cells_with_the_same_values_are_drawn_unlike():
    fig = gate_variants.figure(one_task_results())
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    rnn, nig = lines["rnn"], lines["nig"]
    assert list(rnn.get_ydata()) == list(nig.get_ydata())
    assert (rnn.get_linestyle(), rnn.get_linewidth()) != (nig.get_linestyle(), nig.get_linewidth())
    assert rnn.get_linewidth() > nig.get_linewidth()  # the one drawn first is wider: both show
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_one_seed_is_one_seed():
    results = one_task_results()
    assert "1 seed (0); hidden 64" in gate_variants.table(results)
    assert gate_variants.seeds_text([0, 1, 2]) == "3 seeds (0, 1, 2)"
    fig = gate_variants.figure(results)
    assert "the same 1 seed (0)," in fig._suptitle.get_text().replace("\n", " ")
    import matplotlib.pyplot as plt

    plt.close(fig)
