"""The pipeline benchmark's writer (`benchmarks/_report.py`): it replaces only its generated section of
RESULTS.md; the hand-written Notes and the sections other benchmarks write survive byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

from benchmarks._report import END, NOTES_END, NOTES_START, START, Results, merge, render

NEW = f"{START}\n# Benchmarks\n\nnew tables\n{END}\n"
NOTES = (
    f"## Notes\n\n{NOTES_START}\nWritten by hand: *keep* me,  trailing spaces  \n\n### Notes\n{NOTES_END}\n"
)
OTHERS = (
    "\n<!-- e2e:start -->\n## End to end\n\n| a | b |\n<!-- e2e:end -->\n\n**After e2e** by hand.\n"
    "\n<!-- cost:start -->\n## Cost\n<!-- cost:end -->\n\n<!-- soak:start -->\n## Soak\n<!-- soak:end -->\n"
    "\nLast words, no newline at the end"
)


def test_a_file_from_before_the_markers_keeps_the_notes_and_every_later_section() -> None:
    old = "# Benchmarks\n\nRun 2026-12-01\n\n## Targets\n\n| old | tables |\n\n\n" + NOTES + OTHERS
    merged = merge(old, NEW)
    assert merged == NEW + "\n" + NOTES + OTHERS
    assert "old | tables" not in merged


def test_a_marked_file_gets_only_its_section_replaced() -> None:
    before = "Something above, by hand.\n\n"
    old = before + f"{START}\n# Benchmarks\n\nold tables\n{END}\n\n" + NOTES + OTHERS
    merged = merge(old, NEW)
    assert merged == before + NEW + "\n" + NOTES + OTHERS
    assert merge(merged, NEW) == merged  # idempotent


def test_a_new_file_gets_the_section_and_notes_to_fill_in() -> None:
    merged = merge(None, NEW)
    assert merged.startswith(NEW + "\n## Notes\n\n" + NOTES_START)
    assert merged.endswith(NOTES_END + "\n")


def test_a_file_without_the_section_or_notes_keeps_what_it_had() -> None:
    assert merge(OTHERS, NEW) == NEW + "\n" + OTHERS


def test_the_rendered_section_is_marked() -> None:
    results = Results(
        command="python -m benchmarks.pipeline", started=datetime(2026, 12, 2, tzinfo=UTC), machine={}
    )
    section = render(results)
    assert section.startswith(START + "\n# Benchmarks")
    assert section.endswith(END + "\n")
    assert section.count(START) == section.count(END) == 1
    assert "## Notes" not in section
