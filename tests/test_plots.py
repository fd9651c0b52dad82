"""The figures say what they show: axis labels, units, thresholds and titles, read from the
matplotlib objects (not pixels), and every number on them comes from the data."""

import re

import pytest
import torch

from scratch_lstm import LSTM, saturation, trace_gates
from scratch_lstm.app import plots
from scratch_lstm.app.runs import write_curves


@pytest.fixture
def figures(monkeypatch):
    """Record every figure the plot functions save (they still write their PNG)."""
    saved = []
    real_save = plots._save

    def recording_save(fig, path):
        saved.append(fig)
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", recording_save)
    return saved


def _traces(H, layers=2, T=28, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lstm = LSTM(28, H, layers, batch_first=True)
    with torch.no_grad():
        for p in lstm.parameters():
            p.uniform_(-0.5, 0.5, generator=gen)
    x = torch.randn(1, T, 28, generator=gen)  # (B, T, Q)
    return trace_gates(lstm, x)


def _captions(fig):
    """The figure's free texts other than its title."""
    return [t for t in fig.texts if t is not fig._suptitle]


def _is_png(path):
    return path.read_bytes()[:4] == b"\x89PNG"


def test_gate_heatmaps_share_the_image_time_axis_and_say_which_units(tmp_path, figures):
    image = torch.randint(0, 256, (28, 28), dtype=torch.uint8)
    traces = _traces(H=80)
    path = plots.plot_gates(image, traces, tmp_path / "g.png", title="trained model", max_units=64)
    assert _is_png(path)
    (fig,) = figures
    grid = [ax for ax in fig.axes if ax.get_title()]  # colorbars have no title
    assert len(grid) == 12  # 2 layers x (input + i, f, g, o, c)
    digit = grid[0]
    assert digit.get_title() == "input x_t: image row t"
    assert "time step t" in digit.get_ylabel() and digit.get_xlabel() == "pixel in the row"
    assert grid[6].get_title() == "input: h of layer 0"  # what layer 1 reads
    for ax in grid:
        # one time direction everywhere: step 0 at the top, the same rows as the digit
        assert ax.get_ylim() == pytest.approx((27.5, -0.5))
        assert ax.title.get_fontsize() >= 12
    heatmaps = [ax for ax in grid if ax.get_title().startswith("layer")]
    assert len(heatmaps) == 10
    assert all(ax.get_xlabel() == "hidden unit (first 64 of 80)" for ax in heatmaps)
    assert [ax.get_title() for ax in grid[7:12]] == [
        "layer 1: input gate i", "layer 1: forget gate f", "layer 1: candidate g", "layer 1: output gate o",
        "layer 1: cell state c"]
    bars = [ax for ax in fig.axes if not ax.get_title() and ax.get_ylabel()]  # colour bars: labelled
    assert len(bars) == 11  # every heatmap's (the digit has none)
    assert [ax.get_ylabel() for ax in bars[:5]] == [
        "i (1: g written into c)", "f (1: c kept, 0: forgotten)", "g (the value offered to c)",
        "o (1: c shown in h)", bars[4].get_ylabel()]
    assert bars[5].get_ylabel() == "h (-1 to 1)"  # what layer 1 reads
    for bar, rec in zip((bars[4], bars[10]), traces):  # the cell's colour scale, from the units shown
        lim = rec.c[0, :, :64].abs().max().item()
        assert bar.get_ylabel() == f"c (±{lim:.2g}: largest |c| shown)"
        assert bar.get_ylim() == pytest.approx((-lim, lim))
    assert fig._suptitle.get_text() == "trained model"
    assert [t.get_text() for t in _captions(fig)] == [plots.CAPTIONS["gates"]]  # what to look for

    figures.clear()
    plots.plot_gates(image, _traces(H=5, layers=1), tmp_path / "all.png")
    assert [ax.get_xlabel() for ax in figures[0].axes if ax.get_title().startswith("layer")] == [
        "hidden unit (all 5)"] * 5


def test_gate_heatmaps_of_bidirectional_pixel_sequences(tmp_path, figures):
    gen = torch.Generator().manual_seed(1)
    lstm = LSTM(1, 4, 2, batch_first=True, bidirectional=True)
    traces = trace_gates(lstm, torch.randn(1, 50, 1, generator=gen))  # 50 steps of one pixel
    plots.plot_gates(torch.zeros(28, 28, dtype=torch.uint8), traces, tmp_path / "p.png")
    grid = [ax for ax in figures[0].axes if ax.get_title()]
    assert len(grid) == 12  # forward direction only
    digit = grid[0]  # cannot share the 50-step time axis
    assert digit.get_title() == "input image (50 steps)" and digit.get_ylabel() == "pixel row"
    assert grid[6].get_title() == "input: h of layer 0 (forward)"
    assert grid[7].get_ylim() == pytest.approx((49.5, -0.5))


def test_trajectory_labels_components_with_their_variance_and_marks_t0(tmp_path, figures):
    traces = _traces(H=16)
    assert _is_png(plots.plot_hidden_trajectory(traces, tmp_path / "t.png", title="fresh model"))
    (fig,) = figures
    assert fig._suptitle.get_text() == "fresh model"
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 2
    for ax, rec in zip(panels, traces):
        h = rec.h[0].double()
        s = torch.linalg.svdvals(h - h.mean(0))
        share = s**2 / (s**2).sum()
        for label, k in ((ax.get_xlabel(), 0), (ax.get_ylabel(), 1)):
            match = re.fullmatch(rf"PC{k + 1} \((\d+)% of variance\)", label)
            assert match, label
            assert int(match.group(1)) == round(100 * share[k].item())
        texts = [t.get_text() for t in ax.texts]
        assert "t=0" in texts and "t=27" in texts
    assert [t.get_text() for t in _captions(fig)] == [plots.CAPTIONS["trajectory"]]


def test_gate_change_states_threshold_and_does_not_let_fresh_flatten_trained(tmp_path, figures):
    fresh, trained = _traces(H=8, seed=1), _traces(H=8, seed=2)
    with torch.no_grad():  # fresh: a narrow band around 0.5; trained: pushed towards the limits
        for rec_fresh, rec in zip(fresh, trained):
            for gate in "ifo":
                rec_fresh[gate].copy_(0.5 + 0.05 * (rec_fresh[gate] - 0.5))
                rec[gate].copy_(torch.sigmoid(8 * (rec[gate] - 0.5)))
    plots.plot_gate_change(fresh, trained, tmp_path / "c.png", eps=0.05, title="change")
    (fig,) = figures
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 16  # (2 layers x fresh, trained) x 4 gates
    sat = saturation(trained, 0.05)["l1_forward"]
    f_trained_l1 = panels[3 * 4 + 1]
    assert f_trained_l1.get_title() == (
        f"layer 1, trained: forget gate f\n< 0.05: {100 * sat['f_closed']:.1f}%,  "
        f"> 0.95: {100 * sat['f_open']:.1f}%")
    for ax in panels:
        assert ax.get_legend() is None  # nothing covers the bars
        (bars,) = ax.containers  # the histogram
        assert sum(bar.get_height() for bar in bars) == pytest.approx(100.0)  # % of values per bin
    assert panels[0].get_ylabel() == "% of values per bin"
    assert panels[-1].get_xlabel() == "o (sigmoid, 0 to 1)" and panels[-2].get_xlabel() == "g (tanh, -1 to 1)"
    fresh_top = max(bar.get_height() for bar in panels[1].containers[0])
    trained_top = max(bar.get_height() for bar in panels[5].containers[0])
    assert panels[1].get_ylim()[1] >= fresh_top and panels[5].get_ylim()[1] < fresh_top  # own y scale
    assert panels[5].get_ylim()[1] >= trained_top
    assert [t.get_text() for t in _captions(fig)] == [plots.CAPTIONS["change"]]


def test_every_gate_figure_has_a_one_line_caption_inside_it(tmp_path, figures):
    traces = _traces(H=8, layers=1)
    plots.plot_gates(torch.zeros(28, 28, dtype=torch.uint8), traces, tmp_path / "g.png")
    plots.plot_hidden_trajectory(traces, tmp_path / "t.png")
    plots.plot_gate_change(traces, traces, tmp_path / "c.png")
    assert len(figures) == 3
    for fig in figures:
        (caption,) = _captions(fig)
        assert caption.get_text().startswith("What to look for: ") and "\n" not in caption.get_text()
        fig.canvas.draw()
        box = caption.get_window_extent()
        width, _ = fig.canvas.get_width_height()
        assert box.x0 >= 0 and box.x1 <= width  # on the figure, not cut off
        assert box.height < 2 * caption.get_fontsize() * fig.dpi / 72  # one line: no wrapping
        axes_bottom = min(ax.get_tightbbox().y0 for ax in fig.axes)
        assert box.y1 <= axes_bottom  # under the panels, not over them


def test_curves_have_whole_epoch_ticks_a_title_and_say_what_train_means(tmp_path, figures):
    history = [{"epoch": e, "train_loss": 1.0 / e, "test_loss": 0.8 / e, "train_acc": 0.5 + 0.1 * e,
                "test_acc": 0.6 + 0.1 * e} for e in (1, 2)]
    assert _is_png(plots.plot_curves(history, tmp_path / "curves.png", title="runs/exp1: mnist"))
    (fig,) = figures
    assert fig._suptitle.get_text() == "runs/exp1: mnist"
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch"
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks == [1, 2]
    assert any("average over the epoch" in t.get_text() for t in fig.texts)
    assert [ax.get_ylabel() for ax in fig.axes] == ["cross-entropy loss", "accuracy (%)"]


def test_curves_of_one_epoch_have_one_whole_epoch_tick(tmp_path, figures):
    history = [{"epoch": 1, "train_loss": 1.0, "test_loss": 0.9, "train_acc": 0.5, "test_acc": 0.6}]
    plots.plot_curves(history, tmp_path / "curves.png")
    for ax in figures[0].axes:
        lo, hi = ax.get_xlim()
        assert [t for t in ax.get_xticks() if lo <= t <= hi] == [1]  # not 0.6, 0.8, ... 1.4


def test_gradient_flow_labels_are_set_as_formulas(tmp_path, figures):
    from scratch_lstm import gradient_flow

    gen = torch.Generator().manual_seed(0)
    from scratch_lstm import LSTMClassifier

    torch.manual_seed(0)
    model = LSTMClassifier(28, 6, 10, 1)
    flow = gradient_flow(model, torch.randn(3, 12, 28, generator=gen), torch.tensor([1, 2, 3]))
    assert _is_png(plots.plot_gradient_flow({"fresh": flow}, tmp_path / "flow.png", title="t_1 $5"))
    (fig,) = figures
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == [r"$\Vert\partial L / \partial c_t\Vert$", r"$\Vert\partial L / \partial h_t\Vert$",
                      r"mean of $f_{t+1} \odot \cdots \odot f_{T-1}$"]
    for ax in fig.axes:  # outside $...$ no TeX is left raw: no f_{t+1}, c_t as text
        for text in (ax.get_ylabel(), ax.get_title()):
            outside = re.sub(r"\$[^$]*\$", "", text)
            assert "_" not in outside and "{" not in outside, text
    assert fig._suptitle.get_text() == "t_1 $5"  # a title stays plain text


def test_run_curves_title_names_the_run_and_the_dataset_auto_found(tmp_path, figures):
    """The title comes from the run's settings and the data it found (in memory: nothing of the
    run folder is read back)."""
    out = tmp_path / "exp1"
    out.mkdir()
    config = {"dataset": "auto", "sequence": "rows", "backend": "scratch", "hidden_size": 64,
              "num_layers": 2, "lr": 0.003, "schedule": "cosine"}
    history = [{"epoch": 1, "train_loss": 1.0, "test_loss": 0.9, "train_acc": 0.5, "test_acc": 0.6}]
    assert write_curves(out, history, config, "mnist-sample") == out / "curves.png"
    assert sorted(p.name for p in out.iterdir()) == ["curves.png"]
    assert _is_png(out / "curves.png")
    title = figures[0]._suptitle.get_text()
    assert title.startswith(f"{out}: mnist-sample (rows), scratch backend")
    assert "lr 0.003 cosine" in title
