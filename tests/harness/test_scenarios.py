"""The harness's scenario model, on tiny fixture scenarios run for real (SQLite): prompts answered in a
pseudo-terminal, hand fixes counted, data moved or lost, expectations that hold or are broken, edits that misfit."""

from __future__ import annotations

from pathlib import Path

import pytest

from compare import views
from compare.adapters import ADAPTERS
from compare.backends import SQLiteBackend
from compare.model import Story
from compare.runner import StoryRunner
from compare.scenario import load_file

pytestmark = pytest.mark.harness

FIXTURE = load_file(Path(__file__).parent / "scenarios" / "rename_description.toml")


def story(framework: str, variant: str, tmp_path: Path) -> Story:
    return StoryRunner(FIXTURE, ADAPTERS[framework], variant, SQLiteBackend(), tmp_path, 120.0, None).run()


def check(s: Story, name: str):
    return next(c for c in s.checks if c.name == name)


def test_a_prompt_is_answered_through_a_pseudo_terminal(tmp_path):
    s = story("django", "answered", tmp_path)
    generate = s.role("generate")
    assert generate.answers == ["y"] and "--noinput" not in generate.command
    (call,) = generate.tool_calls
    assert call.exit_code == 0 and call.cpu_seconds > 0 and call.process in ("warm", "plain")
    assert "Was category.description renamed to category.summary" in generate.stdout
    (script,) = [f for f in generate.files if ADAPTERS["django"].is_script(f.path)]
    assert "migrations.RenameField(" in script.text
    (moved,) = s.role("change").data_changes
    assert (moved.column, moved.change, moved.count, moved.detail) == ("description", "moved", 2, "to summary")
    assert check(s, "data_survives").passed and s.ok
    cell = views.outcome(s)
    assert cell.outcome == "hand_edits" and "answered y at the prompt" in cell.why


def test_a_hand_fix_of_the_generated_script_is_applied_and_counted(tmp_path):
    s = story("fastapi", "answered", tmp_path)
    fix = s.role("fix")
    assert fix is not None and fix.ok and fix.diff.startswith("--- a/alembic/versions/")
    assert views.manual_edit_lines(fix) == 2
    assert any("RENAME COLUMN description TO summary" in q.sql for q in s.role("change").sql)
    assert check(s, "data_survives").passed and check(s, "up_down_consistency").passed and s.ok
    assert views.outcome(s).why.startswith("2 lines edited in the migration")


def test_without_an_answer_the_rename_loses_the_values_as_documented(tmp_path):
    s = story("django", "noinput", tmp_path)
    assert s.role("generate").answers == [] and "--noinput" in s.role("generate").command
    lost = [c for c in s.role("change").data_changes if c.change == "values lost"]
    assert [(c.column, c.count) for c in lost] == [("description", 2)]
    c = check(s, "data_survives")
    assert not c.passed and not c.expected and "known: a drop and an add lose" in c.detail
    assert s.ok, "a documented outcome does not fail the run"
    assert views.outcome(s).outcome == "loses_data"


def test_an_outcome_other_than_the_documented_one_fails_the_run(tmp_path):
    s = story("django", "wrong", tmp_path)
    c = check(s, "data_survives")
    assert c.passed and not c.expected and "the tool's behaviour has changed" in c.detail
    assert not s.ok and views.outcome(s).unexpected


def test_an_edit_that_does_not_fit_stops_the_story_with_one_line(tmp_path):
    s = story("django", "misfit", tmp_path)
    edit = s.role("edit")
    assert not edit.ok and edit.error.startswith("the hand edit does not fit: django_blog/blog/models.py must contain")
    assert s.steps[-1] is edit and not s.ok
    assert views.outcome(s).outcome == "fails_clean"


def test_a_step_with_nothing_to_do_is_not_run(tmp_path):
    s = story("django", "answered", tmp_path)
    ids = [st.id for st in s.steps]
    assert "fix_migration" not in ids and "retry_change" not in ids and "use" not in ids
    assert ids[-1] == "reapply"
