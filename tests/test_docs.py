"""The README and the pages in docs/: every relative link and #anchor resolves, and they speak of
the project only.

A link is ``[text](target)`` or ``![alt](target)``; ``target`` is a path relative to the page
(a file or folder of the repository), optionally with ``#anchor``, or ``#anchor`` alone. An anchor
must be the GitHub slug of a heading of the target page (lower case, punctuation dropped, spaces
as hyphens, a repeated heading numbered ``-1``, ``-2``, ...). Links to other sites are not
followed (the suite never needs the network).
"""

from __future__ import annotations

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
            if re.match(r"\| \d \| ", line)]
    assert len(rows) >= 8
    for row in rows:
        files = re.findall(r"\]\(((?:scratch_lstm|examples)/[\w/]+\.py)\)", row)
        stated = [int(n) for n in row.rstrip(" |").rsplit("|", 1)[1].replace(" ", "").split(",")]
        actual = [len((ROOT / f).read_text(encoding="utf-8").splitlines()) for f in files]
        assert stated == actual, row
