"""The README and the pages in docs/: every relative link and #anchor resolves, and they speak of
the project only.

A link is ``[text](target)`` or ``![alt](target)``; ``target`` is a path relative to the page
(a file or folder of the repository), optionally with ``#anchor``, or ``#anchor`` alone. An anchor
must be the GitHub slug of a heading of the target page (lower case, punctuation dropped, spaces
as hyphens, a repeated heading numbered ``-1``, ``-2``, ...). Links to other sites are not
followed (the suite never needs the network).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor a page's headings give (code blocks skipped)."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    """The link targets of a page, outside code blocks and inline code."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)
    return [m.group(1) for m in LINK.finditer(text)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: another site
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_checker_catches_a_broken_link_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## `nn.LSTM` behaviour, not mirrored\n\n[ok](#nnlstm-behaviour-not-mirrored) "
                    "[bad](#nowhere) ![img](missing.png) `[code](not-a-link.md)`\n```\n[x](fenced.md)\n```\n")
    assert links(page) == ["#nnlstm-behaviour-not-mirrored", "#nowhere", "missing.png"]
    assert anchors(page) == {"a-page", "nnlstm-behaviour-not-mirrored"}


def test_the_readme_is_a_front_door():
    """At most 250 lines: the rest lives in docs/, one link away."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, len(lines)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pages_speak_of_the_project_only(page):
    """No word about how the project was made (who measured what on which occasion)."""
    text = page.read_text(encoding="utf-8")
    found = re.findall(r"\b(?:sessions?|lent|the seed(?:'s)?)\b", text, flags=re.I)
    assert not found, f"{page.name}: {found}"


def test_the_reading_paths_line_counts_are_the_files():
    """The README's reading path gives each file's length: a claim, kept true."""
    rows = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
            if re.match(r"\| \d+ \| ", line)]
    assert len(rows) >= 10
    for row in rows:
        files = re.findall(r"\]\(((?:scratch_lstm|examples)/[\w/]+\.py)\)", row)
        stated = [int(n) for n in row.rstrip(" |").rsplit("|", 1)[1].replace(" ", "").split(",")]
        actual = [len((ROOT / f).read_text(encoding="utf-8").splitlines()) for f in files]
        assert stated == actual, row


# ---- one notation (the box at the top of scratch_lstm/cell.py), enforced in the teaching files ----

TEACHING = ["README.md", "docs/why-lstm.md", "docs/why-gates.md", "docs/gates.md", "docs/long-memory.md",
            "scratch_lstm/cell.py", "scratch_lstm/layer.py", "scratch_lstm/gradient_flow.py", "scratch_lstm/fused.py",
            "scratch_lstm/variants.py", "scratch_lstm/rnn.py", "scratch_lstm/hand_wired.py",
            "examples/01_hand_wired_memory.py", "examples/07_why_gates.py"]
RETIRED = {
    "U for the RNN's recurrent weight (W_hh)": r"\bU\b(?!\()|\bUᵀ",
    "a_t for the RNN's pre-activation (z_t)": r"\ba_t\b",
    "nn's or the lecture's N, L, Q, D in a shape (B, T, I, H)":
        r"[\[(]\s*(?:[NLQ]|K\*D|K)\s*,\s*[NLQ]\b|\b[NLQ]\s*,\s*[NLQD]\s*[\])]",
    "nn.GRU's block names (W_ih^r, W_hh^u, ...)": r"\b[Wb]_(?:ir|iz|hz|in|hn)\b",
    "z for the GRU's update gate (u)": r"\(1 - z\b|\bz ⊙ h|update gate z\b",
}
# the one line each that maps the retired names onto the project's
MAPPINGS = ["the lecture writes N, L, Q and D for B, T,", "documentation writes W_ir, W_hr, W_iz"]


def retired_symbols(text: str) -> list[str]:
    """Every use of a retired symbol in ``text``, as 'line: what', mapping lines skipped."""
    found = []
    for n, line in enumerate(text.splitlines(), 1):
        if any(m in line for m in MAPPINGS):
            continue
        found += [f"{n}: {what}" for what, pattern in RETIRED.items() if re.search(pattern, line)]
    return found


@pytest.mark.parametrize("name", TEACHING)
def test_teaching_files_use_one_notation(name):
    assert not retired_symbols((ROOT / name).read_text(encoding="utf-8")), name


def test_the_notation_check_catches_each_retired_symbol():
    for line in ["h_t = tanh(W x_t + U h_{t-1} + b)", "Uᵀ diag(1 - h²)", "a_t = W x_t", "X [N, L, Q]",
                 "h_n (K*D, N, H)", "(L, N, I)", "r = σ(W_ir x_t + b_ir)", "h_t = (1 - z) ⊙ n"]:
        assert retired_symbols(line), line
    assert not retired_symbols("b from U(-1/√H, 1/√H); z_t = W_ih x_t + b_ih; (B, T, I); W_hr h_t; dL/dh_t")
    mapping = "``nn.LSTM``'s documentation writes N and L; the lecture writes N, L, Q and D for B, T, I"
    assert not retired_symbols(mapping)


# ---- every number docs/why-gates.md quotes from example 07 is the run's own (docs/why_gates.json) ----

def test_example_7s_numbers_are_those_of_its_results_file():
    results = json.loads((ROOT / "docs" / "why_gates.json").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "why-gates.md").read_text(encoding="utf-8")
    names = {"rnn": "plain RNN", "lstm": "LSTM, torch's draw", "lstm-chrono": "LSTM, chrono forget gates"}
    for kind, name in names.items():
        reach = results["reach"][kind]
        cells = []
        for back in ("10", "25", "49"):
            cells.append(f"{reach['h'][back]:.1e}")
            cells.append(f"{reach['c'][back]:.1e}" if "c" in reach else "(no cell)")
        cells.append(f"{100 * results['solved'][kind]:.1f}%")
        assert f"| {name} | " + " | ".join(cells) + " |" in page, name
    assert f"answering 0.5 always solves {100 * results['always_half']:.1f}%" in page
    chrono = page[page.index("**Why chrono.**"):]
    assert (f"solves {100 * results['solved']['lstm']:.1f}% after {results['steps']} steps" in chrono
            and f"with chrono, {100 * results['solved']['lstm-chrono']:.1f}%" in chrono)
