"""The documentation holds together: every relative link of the README and docs/ reaches a file (and the
heading its anchor names), and the README stays a front page."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *(ROOT / folder / "README.md" for folder in ("infra/bicep", "benchmarks", "demo")),
    ROOT / "benchmarks" / "RESULTS.md",
]
#: `[text](target)` and `![alt](target)`; a target has no spaces (an optional title is not used here).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without fenced blocks and code spans, where brackets are code, not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on a page; a repeated heading gets `-1`, `-2`, ... as on GitHub."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return found


def relative_links(page: Path) -> list[str]:
    targets = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [target for target in targets if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("How the pipeline runs", "how-the-pipeline-runs"),
        ("Local host (`devhost/`)", "local-host-devhost"),
        ("`mgrid kpi import FILE --prune [--yes]`", "mgrid-kpi-import-file---prune---yes"),
        ("Lifecycle: no data, auto-resolution, cooldown", "lifecycle-no-data-auto-resolution-cooldown"),
        ("1. Notification targets (SSRF)", "1-notification-targets-ssrf"),
    ],
)
def test_anchors_are_the_ones_github_gives_headings(heading: str, expected: str) -> None:
    assert slug(heading) == expected


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_its_heading(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_the_docs_pages_are_all_reachable_from_the_readme_or_another_page() -> None:
    linked = {
        (page.parent / target.partition("#")[0]).resolve()
        for page in PAGES
        for target in relative_links(page)
        if target.partition("#")[0]
    }
    orphans = [page.name for page in (ROOT / "docs").glob("*.md") if page.resolve() not in linked]
    assert orphans == []


def test_the_readme_is_a_front_page_under_12_kb() -> None:
    assert (ROOT / "README.md").stat().st_size < 12_000
