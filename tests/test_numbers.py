"""Every measured number the README and docs/*.md quote from a command's results is that results
file's own: docs/results/ holds the files (each with the command, date and CPU that made it), and
each test here formats the numbers from a file as the pages quote them and finds them there. A
number changed on a page, or a new run's file with other numbers, fails a test: the two cannot
drift apart. (docs/why_gates.json, example 07's, is checked in tests/test_docs.py.)

The long runs (the 10-epoch full-MNIST table, benchmarks/long_memory.py, benchmarks/gate_variants.py's
120 runs) have their results files too.
Timings are not checked here: they sit in a results section or "Measured" box with their machine,
date and command.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def page(name: str) -> str:
    """A page's text with every run of white space (line breaks included) as one space."""
    return " ".join((ROOT / name).read_text(encoding="utf-8").split())


def results(name: str) -> dict:
    """A results file of docs/results/."""
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def short(x: float) -> str:
    """``x`` as ``6.0e-3``: one decimal, the exponent without a leading zero (how the pages write it)."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{x:.1e}")


def missing(text: str, quoted: list[str]) -> list[str]:
    """The strings of ``quoted`` that ``text`` does not contain."""
    return [q for q in quoted if q not in text]


@pytest.mark.parametrize("name", sorted(p.name for p in RESULTS.glob("*.json")))
def test_each_results_file_says_how_when_and_where_it_was_measured(name):
    file = results(name)
    measured = file.get("measured", file)  # a script's own fields, or a block beside a command's output
    assert measured["command"].split()[0] in ("scratch-lstm", "python"), measured["command"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", measured["date"]) and measured["cpu"], measured
    assert not re.search(r"/work/|shared/data|/tmp/", (RESULTS / name).read_text(encoding="utf-8"))  # a user's folders


# ---- scratch-lstm gradient-flow: README's summary and docs/long-memory.md ----

def reach(model: dict, lag: int) -> float:
    """‖dL/dc_t‖ ``lag`` steps before the last step, relative to the last step's (layer 0)."""
    dc = model["dc_norm"][0]
    return dc[len(dc) - 1 - lag] / dc[-1]


def steps_until(model: dict, fraction: float) -> int | None:
    """How many steps back ‖dL/dc_t‖ first falls below ``fraction`` of the last step's."""
    dc = model["dc_norm"][0]
    return next((k for k, v in enumerate(reversed(dc)) if v < fraction * dc[-1]), None)


def gradient_flow_quotes(flow: dict) -> dict[str, list[str]]:
    """What each page quotes from gradient_flow.json, formatted as the page writes it."""
    default, bias, chrono = (flow["models"][k] for k in ("default", "forget-bias (b_f 1)", "chrono (t_max 784)"))
    first = len(default["dc_norm"][0]) - 1  # 783 steps back: the first pixel
    product = {k: m["log10_forget_product"][0][0] for k, m in (("default", default), ("bias", bias),
                                                                ("chrono", chrono))}
    return {
        "README.md": [
            f"it falls below 1e-6 of the last step's within {steps_until(default, 1e-6)} steps",
            f"chrono initialisation {100 * reach(chrono, first):.0f}% of it reaches the first pixel",
            f"(`scratch-lstm gradient-flow --data-dir data --out runs/gradient-flow`, {flow['measured']['date']}",
        ],
        "docs/long-memory.md": [
            f"default {short(reach(default, 10))} / {short(reach(default, 100))} / {short(reach(default, first))} "
            f"(below 1e-6 from {steps_until(default, 1e-6)} steps back)",
            f"forget-bias {short(reach(bias, 10))} / {short(reach(bias, 100))} / {short(reach(bias, first))} "
            f"(below 1e-6 from {steps_until(bias, 1e-6)} steps back)",
            f"chrono {reach(chrono, 10):.2f} / {reach(chrono, 100):.2f} / {reach(chrono, first):.2f}.",
            f"the mean product over all {first} steps is 1e{product['default']:.0f}",
            f"(1e{product['bias']:.0f} over {first} steps)",
            f"(mean product {10 ** product['chrono']:.2f})",
        ],
    }


def test_the_gradient_flow_numbers_are_those_of_its_results_file():
    for name, quoted in gradient_flow_quotes(results("gradient_flow.json")).items():
        assert not missing(page(name), quoted), (name, missing(page(name), quoted))


# ---- benchmarks/same_loss_curve.py: README's "the same loss, step for step" ----

def test_the_same_loss_numbers_are_those_of_their_results_files():
    f64, f32 = results("same_loss_curve_float64.json"), results("same_loss_curve_float32.json")
    assert f64["command"] == ("python benchmarks/same_loss_curve.py --steps 10 --dtype float64 --data-dir data "
                              "--json same_loss_curve_float64.json")
    assert f32["command"] == f64["command"].replace("float64", "float32")
    for run in (f64, f32):  # the file's figure is its curves' own
        assert run["largest_difference"] == max(abs(a - b) for a, b in zip(run["curves"]["scratch"],
                                                                            run["curves"]["torch"]))
    quoted = [f"`python benchmarks/same_loss_curve.py --steps {f64['steps']} --dtype float64 --data-dir data`",
              f"their losses differ by at most {f64['largest_difference']:.1e} over {f64['steps']} steps "
              f"({f64['date']}, the 2-core {f64['cpu']}; float32: {f32['largest_difference']:.1e})"]
    assert not missing(page("README.md"), quoted), missing(page("README.md"), quoted)


def test_the_loss_curve_script_writes_its_numbers_with_where_and_when(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from same_loss_curve import main

    out = tmp_path / "curves.json"
    argv = ["--steps", "2", "--hidden-size", "4", "--num-layers", "1", "--threads", "1", "--json", str(out)]
    assert main(argv) == 0
    run = json.loads(out.read_text(encoding="utf-8"))
    assert run["command"] == "python benchmarks/same_loss_curve.py " + " ".join(argv)
    assert run["steps"] == 2 and run["dtype"] == "float64" and run["threads"] == 1 and run["cpu"]
    assert set(run["curves"]) >= {"scratch", "fused", "torch"} and len(run["curves"]["torch"]) == 2
    assert f"largest difference over 2 steps (float64): {run['largest_difference']:.1e}" in capsys.readouterr().out
    assert main(argv) == 0  # its own earlier file may be replaced


def test_the_loss_curve_script_leaves_another_file_alone(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from same_loss_curve import main

    other = tmp_path / "summary.json"
    other.write_text('{"best_test_acc": 0.99}\n', encoding="utf-8")
    for target, says in ((other, "is not this script's earlier output"), (tmp_path, "is a folder"),
                         (tmp_path / "none" / "x.json", "does not exist")):
        with pytest.raises(SystemExit) as stop:
            main(["--steps", "1", "--hidden-size", "4", "--num-layers", "1", "--json", str(target)])
        assert stop.value.code == 2 and says in capsys.readouterr().err
    assert other.read_text(encoding="utf-8") == '{"best_test_acc": 0.99}\n'


# ---- scratch-lstm eval --clamp: the lesions of the lecture's full-MNIST model ----

NUMBER_WORDS = {2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times", 7: "seven times",
                8: "eight times", 9: "nine times", 10: "ten times"}


def lesion_quotes(lesions: dict) -> dict[str, list[str]]:
    """What each page quotes from eval_lesions.json, formatted as the page writes it."""
    whole = lesions["unclamped"]
    acc = {c: f"{100 * r['acc']:.2f}%" for c, r in lesions["clamped"].items()}
    points = {c: 100 * (r["acc"] - whole["acc"]) for c, r in lesions["clamped"].items()}
    rows = [f"| (none) | | {100 * whole['acc']:.2f}% | | {whole['loss']:.4f} |"]
    rows += [f"| `{c}` | {{what}} | {acc[c]} | {points[c]:.2f} | {r['loss']:.4f} |"
             for c, r in lesions["clamped"].items()]
    alone = sorted(round(-points[c]) for c in ("f=1@0", "f=1@1"))
    measured = lesions["measured"]
    return {
        "docs/why-gates.md": rows + [
            f"10 epochs, {100 * whole['acc']:.2f}% at its best epoch",
            f"held open in either layer alone it loses {alone[0]}-{alone[1]} points",
            f"the input gate costs {-points['i=1']:.1f} points and the output gate {-points['o=1']:.0f} "
            f"({-points['o=1@1']:.0f} in the top layer alone)",
            f"always a 9: {acc['i=0']} of the test images",
            f"costs {NUMBER_WORDS[round(points['h=0@0:0-127'] / points['h=0@1:0-127'])]} what",
            f"| {measured['date']} | `{measured['command'].replace('--data-dir data', '--data-dir DIR')}` |",
        ],
        "README.md": [f"drops the lecture's full-MNIST model from {100 * whole['acc']:.2f}% to {acc['f=1']}, "
                      f"holding the input gate open to {acc['i=1']}."],
        "docs/explorer.md": [f"trained on full MNIST ({100 * whole['acc']:.2f}% test accuracy)"],
        "docs/gates.md": [f"(epoch 9, {100 * whole['acc']:.2f}% test accuracy"],
    }


def test_the_lesion_numbers_are_those_of_their_results_file():
    for name, quoted in lesion_quotes(results("eval_lesions.json")).items():
        text = page(name)
        absent = [q for q in quoted if not (re.search(re.escape(q).replace(r"\{what\}", r"[^|]*"), text)
                                            if "{what}" in q else q in text)]
        assert not absent, (name, absent)


# ---- the explorer's built-in model: docs/explorer.md ----

def test_the_builtin_models_numbers_are_those_of_its_results_file_and_record():
    from scratch_lstm.app.explorer.page import sample_checkpoint

    builtin = results("eval_builtin_model.json")
    assert builtin["sample"]["acc"] == sample_checkpoint()["history"][-1]["test_acc"]  # the run's own record
    quoted = f"It reads {100 * builtin['sample']['acc']:.2f}% of the sample's 1,000 test images and " \
             f"{100 * builtin['mnist']['acc']:.2f}% of full MNIST's 10,000."
    assert quoted in page("docs/explorer.md"), quoted


# ---- scratch-lstm train --threads 1 on the embedded sample: README, docs/training.md, docs/explorer.md ----

def test_the_sample_runs_numbers_are_those_of_its_results_file():
    run = results("train_sample_threads1.json")
    assert run["measured"]["command"] == "scratch-lstm train --threads 1"
    history = run["history"]
    final, best = run["summary"]["final_test_acc"], run["summary"]["best_test_acc"]
    assert final == history[-1]["test_acc"] and best == max(m["test_acc"] for m in history)
    date = run["measured"]["date"]
    quoted = {
        "docs/training.md": [f"| the same with `--threads 1` | 2026-12-04 | 85 s | {100 * final:.2f}% "
                             f"(best {100 * best:.2f}%; {date},",
                             f"and {100 * final:.2f}% with 1 thread against 96.40%"],
        "docs/explorer.md": [f"85 s with one thread on the 2-core AMD EPYC, for {100 * final:.2f}%"],
    }
    for name, strings in quoted.items():
        assert not missing(page(name), strings), (name, missing(page(name), strings))


def test_the_sample_runs_times_idle_and_beside_a_busy_cpu_are_those_of_their_results_file():
    """README's first command timed idle and beside a busy CPU (docs/results/train_sample_threads.json):
    the ranges the README, training.md and performance.md quote, and each ratio to the idle runs."""
    runs = results("train_sample_threads.json")["runs"]
    walls = {group: [r["wall_seconds"] for r in rs] for group, rs in runs.items()}
    accs = {f"{100 * r['final_test_acc']:.2f}%" for rs in runs.values() for r in rs}
    assert accs == {"96.30%"}
    span = lambda w, f="{:.0f}": "-".join(dict.fromkeys(f.format(x) for x in (min(w), max(w)))) + " s"  # noqa: E731
    idle, free = walls["idle"], walls["busy_cpu_free_cpus"]
    ratio = lambda w: f"{min(w) / max(idle):.2f}-{max(w) / min(idle):.2f}x"  # noqa: E731
    assert max(free) / min(idle) <= 1.5  # within 1.5x of idle beside a busy CPU: what the default promises
    quoted = {
        "README.md": [f"takes {span(idle)} with 2 threads (96.30%)", f"and {span(free)} beside a program that"],
        "docs/training.md": [f"| 2026-12-06 | {span(idle)} | 96.30% (best 96.40%) |",
                             f"| 2026-12-06 | {span(free)} | 96.30%"],
        "docs/performance.md": [
            f"| idle | 2 threads, OpenMP's default wait | 3 | {span(idle, '{:.1f}')} | 1.00x |",
            f"| 2 | {span(walls['busy_cpu_two_threads_passive'], '{:.1f}')} | "
            f"{ratio(walls['busy_cpu_two_threads_passive'])} |",
            f"| 1 | {span(walls['busy_cpu_threads_1'], '{:.1f}')} | {ratio(walls['busy_cpu_threads_1'])} |",
            f"| 2 | {span(free, '{:.1f}')} | {ratio(free)} |"],
    }
    for name, strings in quoted.items():
        assert not missing(page(name), strings), (name, missing(page(name), strings))


# ---- the long runs' tables: each page that repeats them agrees with them ----

def table_rows(text: str, first: str) -> dict[str, list[float]]:
    """``{row label: [the first percentage of each cell]}`` of the table whose header starts ``| first |``."""
    block = text[text.index(f"| {first} |"):].split("\n\n")[0]
    rows = {}
    for line in block.splitlines()[2:]:
        label, *cells = [c.strip() for c in line.strip("|").split("|")]
        rows[label] = [float(re.search(r"([\d.]+)%", c).group(1)) for c in cells]
    return rows


def span(values) -> str:
    """``lowest-highest%``, as the pages write a range."""
    values = list(values)
    return f"{min(values):.1f}-{max(values):.1f}%"


def test_the_gate_variants_ranges_are_those_of_its_table():
    text = (ROOT / "docs" / "why-gates.md").read_text(encoding="utf-8")
    table = table_rows(text, "cell | adding, T = 100: solved")
    learn = {c: v for c, v in table.items() if c not in ("constant answer", "`rnn`", "`nig`")}
    adding = span(v[k] for v in learn.values() for k in (0, 1))
    quoted = {"docs/why-gates.md": [f"at both lengths ({adding})",
                                    f"({span(v[2] for v in learn.values())} on the rows, "
                                    f"{span(v[3] for v in learn.values())} after 100 blank rows)",
                                    f"slowest on the adding problem ({table['`cifg`'][1]:.1f}% at T = 200)",
                                    f"the blank rows ({table['`nfg`'][3]:.1f}%:",
                                    f"does not weaken at T = 200 ({table['`nfg`'][1]:.1f}%)"],
              "README.md": [f"solve the adding problem ({adding})"]}
    assert min(learn, key=lambda c: min(learn[c][:2])) == "`cifg`"
    assert min(learn, key=lambda c: learn[c][3]) == "`nfg`"
    for name, strings in quoted.items():
        assert not missing(page(name), strings), (name, missing(page(name), strings))


def test_the_readmes_long_memory_table_is_that_of_long_memory_md():
    readme = table_rows((ROOT / "README.md").read_text(encoding="utf-8"), "task")
    full = table_rows((ROOT / "docs" / "long-memory.md").read_text(encoding="utf-8"), "task")
    assert len(readme) == len(full) == 3
    for (task, values), (full_task, full_values) in zip(readme.items(), full.items()):
        assert task.split(":")[0] == full_task.split(":")[0].replace("adding,", "adding problem,")
        assert values == full_values, task


# ---- benchmarks/gate_variants.py, the subset in one sitting: docs/why-gates.md ----

def test_the_gate_variants_subsets_numbers_are_those_of_its_results_file():
    quick = results("gate_variants_quick.json")
    runs = quick["runs"]["adding-100"]
    solved = {cell: 100 * runs[cell]["0"]["history"][-1]["test_score"] for cell in ("vanilla", "nig", "rnn")}
    constant = 100 * quick["tasks"]["adding-100"]["baseline"]["score"]
    quoted = [f"`{quick['command']}`",
              f"The vanilla LSTM solves {solved['vanilla']:.1f}% of the test sequences; NIG ({solved['nig']:.1f}%) "
              f"and the RNN ({solved['rnn']:.1f}%) stay at the constant answer's score, {constant:.1f}%",
              f"| {quick['measured']['date']} | `{quick['command']}` | vanilla {solved['vanilla']:.1f}%, "
              f"NIG {solved['nig']:.1f}%, RNN {solved['rnn']:.1f}% solved",
              "within the full table's ranges for these three cells"]
    assert not missing(page("docs/why-gates.md"), quoted), missing(page("docs/why-gates.md"), quoted)
    full = results("gate_variants.json")["runs"]["adding-100"]
    for cell, score in solved.items():
        scores = [100 * run["history"][-1]["test_score"] for run in full[cell].values()]
        assert round(min(scores), 1) <= round(score, 1) <= round(max(scores), 1), (cell, score, scores)


# ---- examples/05_gates.py on the lecture's full-MNIST model: docs/gates.md ----

def test_the_gates_numbers_are_those_of_its_results_file():
    gates = results("gates.json")
    derived = gates["derived"]
    trained, fresh = gates["trained"]["saturation"]["l1_forward"], gates["fresh"]["saturation"]["l1_forward"]
    assert fresh["f_open"] == 0  # "none"
    layer0 = sorted(derived["layer0_change_by_row"].items(), key=lambda kv: -kv[1])[:2]
    quoted = [
        f"`{gates['measured']['command']}`",
        f"reading a {gates['label']}",
        f"the top stroke in row {derived['layer1_row_of_largest_change']}, the step at which layer 1's gates change "
        f"most from the step before (layer 0's change about as much at rows "
        f"{' and '.join(sorted((row for row, _ in layer0), key=int))})",
        f"the {derived['layer1_units_forget_above_0.8_rows_8_27']} whose forget gate averages above 0.8 over rows 8-27 "
        f"end with a median |c| of {derived['their_median_abs_c_last_row']:.1f} at the last row, the "
        f"{derived['layer1_units_forget_below_0.4_rows_8_27']} that average below 0.4 with "
        f"{derived['their_median_abs_c_last_row_below']:.1f}",
        f"Layer 1's cells reach |c| = {derived['layer1_max_abs_c_last_row']:.1f} by the last row "
        f"({derived['layer1_units_beyond_5_last_row']} units beyond ±5); layer 0's stay within "
        f"±{derived['layer0_max_abs_c']:.1f}",
        f"in layer 1, {100 * trained['f_open']:.1f}% of the forget gate's values exceed 0.95 on this digit, "
        f"against none in a fresh model",
    ]
    assert not missing(page("docs/gates.md"), quoted), missing(page("docs/gates.md"), quoted)


# ---- benchmarks/explorer_speed.py: docs/explorer.md's sizes and agreement with PyTorch ----

def test_the_explorers_sizes_and_differences_are_those_of_its_results_file():
    from decimal import ROUND_HALF_UP, Decimal

    pages = results("explorer_speed.json")["pages"]
    lecture = pages["lecture"]
    forward, check = (Decimal(lecture[k]) for k in ("forward_vs_float32", "self_check"))
    exponent = lambda d: f"e{d.adjusted()}"  # noqa: E731
    mantissa = lambda d, places: d.scaleb(-d.adjusted()).quantize(Decimal(places), ROUND_HALF_UP)  # noqa: E731
    quoted = [
        f"| built-in, 2 x 64, rows | 28 | {pages['builtin']['page_mb']} MB |",
        f"| the lecture's, 2 x 256, rows | 28 | {lecture['page_mb']} MB |",
        f"| 2 x 256 reading pixels (`--pixels`) | 784 | {pages['pixels']['page_mb']} MB |",
        f"| the lecture's configuration with its epoch slider (below) | 28 | {pages['lecture_epochs']['page_mb']} MB |",
        f"in {pages['lecture_epochs']['epochs_mb']} MB of its {pages['lecture_epochs']['page_mb']} MB",
        f"| {pages['lecture_epochs']['page_bytes']:,} bytes |",
        f"the page weighs {pages['builtin']['page_mb']} MB",
        f"both models is within {mantissa(forward, '0.1')}{exponent(forward)} of PyTorch's float32 forward",
        f"float32 forward to {mantissa(forward, '0.01')}{exponent(forward)} over every digit",
        f"its self-check of the logits found {mantissa(check, '0.01')}{exponent(check)}",
    ]
    epochs = pages["lecture_epochs"]
    printed = " ".join(epochs["printed"])
    assert f"{epochs['page_bytes']:,} bytes ({epochs['page_mb']} MB)" in printed
    assert f"the snapshots take {epochs['epochs_bytes']:,} bytes ({epochs['epochs_mb']} MB)" in printed
    assert f"epochs {', '.join(map(str, epochs['epochs']))};" in printed
    shown = [e for e in epochs["epochs"][1:-1]]
    quoted.append(f"carries epochs {', '.join(map(str, shown[:-1]))} and {shown[-1]}")
    quoted.append(f"| the lecture's configuration, epochs {', '.join(map(str, epochs['epochs'][:-1]))} and "
                  f"{epochs['epochs'][-1]} | {epochs['page_bytes']:,} bytes |")
    quoted.append(f"| {epochs['forward_vs_float32']} |")
    assert not missing(page("docs/explorer.md"), quoted), missing(page("docs/explorer.md"), quoted)


def test_the_readmes_training_figures_are_those_of_docs_training_md():
    """The runs with no results file here (2 threads on the sample, the H200): one table, the README repeats it;
    the H200 run's best accuracy is the one its best.pt recorded, as docs/explorer.html embeds it."""
    table = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    two = re.search(r"^\| `scratch-lstm train` \(the embedded sample, 10 epochs\), 2 threads .*? \| ([\d-]+ s) \| "
                    r"([\d.]+%) \(best", table, re.M)
    gpu = re.search(r"^\| full MNIST on an NVIDIA H200, .*? \| (\d+ s) \| ([\d.]+%) \(best ([\d.]+%)\)", table, re.M)
    quoted = [f"takes {two.group(1)} with 2 threads ({two.group(2)})",
              f"trains the same configuration in {gpu.group(1)} ({gpu.group(2)};"]
    assert not missing(page("README.md"), quoted), missing(page("README.md"), quoted)
    # The H200 run's best.pt is the model docs/explorer.html carries, with the test accuracy it recorded.
    html = (ROOT / "docs" / "explorer.html").read_text(encoding="utf-8")
    model = json.loads(re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', html, re.S)
                       .group(1))["model"]
    assert (model["checkpoint"], model["trained_on"], model["fresh_drawn_on_gpu"]) == ("best.pt", "mnist", True)
    assert gpu.group(3) == f"{100 * model['test_acc']:.2f}%"
    assert f"reached {gpu.group(2)} (best {gpu.group(3)}): the model of the explorer's page" in page("docs/gpu.md")


# ---- the lecture's configuration on full MNIST, scratch and nn.LSTM: README's table ----

def test_the_readmes_mnist_table_is_that_of_its_results_file():
    lecture = results("train_mnist_lecture.json")
    readme = page("README.md")
    for name, label in (("scratch", "scratch"), ("torch", "`nn.LSTM`")):
        run = lecture["runs"][name]
        accs = [f"{100 * m['test_acc']:.2f}%" for m in run["history"]]
        assert len(accs) == 10 and run["summary"]["final_test_acc"] == run["history"][-1]["test_acc"]
        assert f"| {label} | " + " | ".join(accs[:-1]) + f" | **{accs[-1]}** |" in readme, name
        assert f"`{run['command'].replace(' --threads 1', '')}`" in readme or name == "torch"
    date = lecture["measured"]["date"]
    assert f"{date}, 2-core AMD EPYC, CPU only, one thread each" in readme
    history = lecture["runs"]["scratch"]["history"]
    first = next(m["epoch"] for m in history if m["test_acc"] >= 0.99)
    torch_first = next(m["epoch"] for m in lecture["runs"]["torch"]["history"] if m["test_acc"] >= 0.99)
    assert first == torch_first and f"Both pass 99.0% at epoch {first} and stay there" in readme
    assert all(m["test_acc"] >= 0.99 for r in lecture["runs"].values() for m in r["history"][first - 1:])
    training = page("docs/training.md")
    for name in ("scratch", "torch"):
        summary = lecture["runs"][name]["summary"]
        minutes = round(lecture["runs"][name]["wall_seconds"] / 60)
        final, best = (100 * summary[k] for k in ("final_test_acc", "best_test_acc"))
        quoted = f"| {date} | {minutes} min | {final:.2f}% (best {best:.2f}%"
        assert quoted in training, quoted


# ---- benchmarks/long_memory.py: docs/long-memory.md's table and what it says of it ----

LONG_MEMORY_ROWS = {"adding": "adding, T = 200: solved (test MSE)",
                    "pixels": "sMNIST, 784 pixels: test accuracy (loss)",
                    "permuted": "psMNIST, 784 permuted pixels: test accuracy (loss)"}


def test_the_long_memory_table_is_that_of_its_results_file():
    memory = results("long_memory.json")
    text = page("docs/long-memory.md")
    quoted = []
    for task, label in LONG_MEMORY_ROWS.items():
        final = {init: history[-1] for init, history in memory["runs"][task].items()}
        best = max(final, key=lambda init: final[init]["test_acc"])
        cells = []
        for init in ("default", "forget-bias", "chrono"):
            acc = f"{100 * final[init]['test_acc']:.1f}%"
            cells.append(f"{f'**{acc}**' if init == best else acc} ({final[init]['test_loss']:.4f})")
        quoted.append(f"| {label} | " + " | ".join(cells) + " |")
    half = memory["always_half"]
    chrono = {h["step"]: h["test_acc"] for h in memory["runs"]["adding"]["chrono"]}
    quoted += [f"answering 0.5 always solves {100 * half['solved']:.1f}% of the test set (MSE {half['mse']:.4f})",
               f"from step 700 the solved share climbs from {100 * chrono[700]:.0f}% to "
               f"{100 * chrono[max(chrono)]:.1f}% at step {max(chrono):,}",
               f"| {memory['measured']['date']} | `{memory['measured']['command']}` |"]
    assert not missing(text, quoted), missing(text, quoted)
    assert f"(`{memory['measured']['command']}`, {memory['measured']['date']}, 2-core AMD EPYC" in page("README.md")
    longer = results("long_memory_adding3000.json")
    final = {init: 100 * history[-1]["test_acc"] for init, history in longer["runs"]["adding"].items()}
    assert longer["measured"]["command"] == ("python benchmarks/long_memory.py --tasks adding --adding-steps 3000 "
                                             "--eval-every 100 --out runs/long-memory-adding3000 --threads 1")
    assert "a run with `--tasks adding --adding-steps 3000 --eval-every 100`" in text
    assert (f"reached {final['chrono']:.1f}% while default and forget-bias stayed at {final['default']:.1f}% and "
            f"{final['forget-bias']:.1f}%") in text


# ---- benchmarks/gate_variants.py, the full experiment: docs/why-gates.md's table and the README ----

def test_the_gate_variants_table_is_that_of_its_results_file():
    import statistics

    variants = results("gate_variants.json")
    measured = variants["measured"]
    tasks = ["adding-100", "adding-200", "rows", "rows-blank"]
    assert list(variants["tasks"]) == tasks and variants["seeds"] == [0, 1, 2]
    rows = ["| constant answer | " + " | ".join(f"{100 * variants['tasks'][t]['baseline']['score']:.1f}%"
                                              for t in tasks) + " |"]
    for cell in variants["cells"]:
        parts = []
        for t in tasks:
            scores = [run["history"][-1]["test_score"] for run in variants["runs"][t][cell].values()]
            assert len(scores) == 3, (t, cell)
            parts.append(f"{100 * statistics.median(scores):.1f}% [{100 * min(scores):.1f}, {100 * max(scores):.1f}]")
        rows.append(f"| `{cell}` | " + " | ".join(parts) + " |")
    rows.append(f"| {measured['date']} | `{measured['command']}` | the table above, "
                f"[results/gate_variants.json](results/gate_variants.json) (the command's own file); "
                f"120 runs in {variants['minutes']} minutes.")
    assert not missing(page("docs/why-gates.md"), rows), missing(page("docs/why-gates.md"), rows)
    minutes = f"{variants['minutes']:.0f} minutes"
    readme = f"(`{measured['command']}`, {measured['date']}, 2-core {measured['cpu']}, {minutes})"
    assert readme in page("README.md"), readme
    # the RNN and NIG on the blank rows: the constant answer's score with two seeds, a little more with the third
    blank = {cell: sorted(run["history"][-1]["test_score"] for run in variants["runs"]["rows-blank"][cell].values())
             for cell in ("rnn", "nig")}
    constant = variants["tasks"]["rows-blank"]["baseline"]["score"]
    assert all(scores[:2] == [constant, constant] and scores[2] > constant for scores in blank.values()), blank
    quoted = (f"the third carries a little of the digit through the blank rows (the RNN {100 * blank['rnn'][2]:.1f}%, "
              f"NIG {100 * blank['nig'][2]:.1f}%)")
    assert quoted in page("docs/why-gates.md"), quoted
