"""The README and docs/ (issue 27, item 5): a README a newcomer reads in minutes, every relative link
of every page resolving to a file of this checkout (and a `#fragment` to a heading of the page it
names), every docs page linked from the README, and the README's verdict table the committed
verdict pages' own answers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT

PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]


def _tokens(tokens):
    for t in tokens:
        yield t
        yield from _tokens(t.children or [])


def links(page: str) -> list[str]:
    """The relative targets of ``page``'s links and images (not http(s), not mailto)."""
    out = []
    for t in _tokens(MarkdownIt().parse((ROOT / page).read_text())):
        href = t.attrs.get("href") if t.type == "link_open" else t.attrs.get("src") if t.type == "image" else None
        if href and not re.match(r"^[a-z][a-z0-9+.-]*:", href):
            out.append(href)
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    tokens = MarkdownIt().parse(path.read_text())
    seen: dict[str, int] = {}
    out = set()
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            base = slug("".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline")))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_the_link_check_sees_links_and_fragments():
    assert {"docs/usage.md", "LICENSE", "leaderboards/quick/verdict.md"} <= set(links("README.md"))
    assert "where-pages-go" in anchors(ROOT / "docs" / "usage.md")
    assert slug("Runs as files") == "runs-as-files" and slug("`bench suite list`, `bench suite show`") == \
        "bench-suite-list-bench-suite-show"


@pytest.mark.parametrize("page", PAGES)
def test_every_relative_link_resolves(page):
    for href in links(page):
        target_text, _, fragment = href.partition("#")
        target = ((ROOT / page).parent / target_text).resolve() if target_text else (ROOT / page)
        rel = target.relative_to(ROOT).as_posix() if target.is_relative_to(ROOT) else str(target)
        assert target.is_relative_to(ROOT) and target.exists(), f"{page}: broken link {href}"
        if fragment and target.suffix == ".md" and rel in PAGES:
            assert fragment in anchors(target), f"{page}: {href} names no heading of {rel}"


def test_the_readme_is_short_and_links_every_docs_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 300, "README.md is for a five-minute read: move detail to docs/"
    linked = {((ROOT / h.partition("#")[0]).resolve()) for h in links("README.md")}
    for page in PAGES[1:]:
        assert (ROOT / page).resolve() in linked, f"README.md does not link {page}"
    assert {ROOT / "docs" / "DESIGN.md", ROOT / "docs" / "plugins.md", ROOT / "LICENSE"} <= linked
    assert (ROOT / "docs" / "verdicts.md") in linked


def test_the_readmes_verdict_table_is_the_committed_pages_answers():
    """Each row of "Do the papers' claims hold?" links a committed verdict page and quotes its
    Answer line: regenerating the pages with other verdicts makes this fail until the README says so."""
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Do the papers' claims hold\?\n(.*?)(?=^## )", readme, re.S | re.M).group(1)
    rows = re.findall(r"^\| `([^`]+)` \| [^|]+ \| \[(\w+)\]\(([^)]+)\) \| (.+) \|$", section, re.M)
    suites = sorted(p.parent.name for p in (ROOT / "leaderboards").glob("*/verdict.md"))
    assert sorted(r[0] for r in rows) == suites, "one row per committed suite"
    for suite, scale, href, verdict in rows:
        page = ROOT / href
        assert page.parent.relative_to(ROOT / "leaderboards").parts[0] == suite
        assert (scale == "paper") == (page.parent.name == "paper"), href
        if (ROOT / "leaderboards" / suite / "paper" / "verdict.md").exists():
            assert scale == "paper", f"{suite}: the paper scale answers the paper's question: link it"
        answer = re.search(r"^- \*\*Answer:\*\* (.*)$", page.read_text(), re.M).group(1)
        assert verdict.strip() == answer.strip(), f"README's verdict for {suite} is not {href}'s Answer line"
