"""The diagram and the docs are generated from the table, and the docs never drift from it."""

from pathlib import Path

from workflow import FINAL_STATES, TABLE, State, mermaid
from workflow.diagram import document

DOCS = Path(__file__).parents[2] / "docs" / "workflow.md"


def test_docs_hold_the_current_diagram_and_tables() -> None:
    text = DOCS.read_text(encoding="utf-8")
    assert mermaid() in text, "docs/workflow.md is stale: run `python -m workflow` and paste"
    assert document() in text, "docs/workflow.md is stale: run `python -m workflow` and paste"


def test_the_diagram_draws_every_row_and_ends_in_the_final_states() -> None:
    lines = mermaid().splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> draft: create (hr)" in lines
    assert "    submitted --> cancelled: cancel (manager)" in lines
    assert "    pre_adverse_notice --> not_cleared: finalize_adverse (manager, reviewer)" in lines
    arrows = [line for line in lines[1:] if not line.endswith("--> [*]")]
    assert len(arrows) == sum(max(len(row.sources), 1) for row in TABLE)
    assert {line.split()[0] for line in lines[1:] if line.endswith("--> [*]")} == set(FINAL_STATES)
    drawn = {word.rstrip(":") for line in lines[1:] for word in line.split()}
    assert set(State) <= drawn
