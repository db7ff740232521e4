"""The compare harness, run for real on SQLite: what it measures, how it reports, how it fails."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
from pydantic import TypeAdapter

from compare import jsonschema as report_schema
from compare import views
from compare.adapters import ADAPTERS, Edit
from compare.adapters.fastapi import FastAPIAdapter
from compare.backends import SQLiteBackend
from compare.model import Story
from compare.runner import StoryRunner
from compare.scenario import load

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[2]
FRAMEWORKS = list(ADAPTERS)


def compare(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compare", *args], cwd=REPO, capture_output=True, text=True, timeout=600, **kwargs
    )


def tree_digest(*roots: Path) -> dict[str, str]:
    files = [p for root in roots for p in ([root] if root.is_file() else sorted(root.rglob("*")))]
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file() and "__pycache__" not in p.parts
    }


def sandboxes() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("migration-lab-*")}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real run of every framework and variant; with what the repo looked like before it."""
    out = tmp_path_factory.mktemp("reports")
    # the apps' own databases and migration folders (not var/pg, where a PostgreSQL server may be running)
    watched = [*(REPO / "var").glob("*.sqlite3"), *(REPO / a.app_dir for a in ADAPTERS.values())]
    before, temp_before = tree_digest(*watched), sandboxes()
    proc = compare("run", "--out", str(out))
    data = json.loads((out / "compare.json").read_text())
    return {
        "proc": proc,
        "out": out,
        "json": data,
        "stories": {(s["framework"], s["variant"]): s for s in data["stories"]},
        "untouched": before == tree_digest(*watched),
        "leftover_sandboxes": sandboxes() - temp_before,
    }


def step(story: dict, step_id: str) -> dict:
    return next(s for s in story["steps"] if s["id"] == step_id)


def columns(story: dict, step_id: str, table: str = "posts") -> dict[str, dict]:
    schema = step(story, step_id)["schema"]
    t = next(t for t in schema["tables"] if t["name"] == table)
    return {c["name"]: c for c in t["columns"]}


def old_values(story: dict) -> set:
    return {row.get("read_count", "<missing>") for row in step(story, "upgrade_change")["data"]["rows"]["posts"]}


def check(story: dict, name: str) -> dict:
    return next(c for c in story["checks"] if c["name"] == name)


def test_run_exits_0_and_writes_the_reports(run):
    assert run["proc"].returncode == 0, run["proc"].stdout[-3000:] + run["proc"].stderr[-3000:]
    assert (run["out"] / "compare.md").read_text().startswith("# Add read_count to posts")
    assert "all steps and checks as expected" in run["proc"].stdout


def test_report_json_matches_its_schema(run):
    schema = json.loads(report_schema.PATH.read_text())
    assert schema == report_schema.build(), "compare/schema is stale: run python -m compare.jsonschema"
    jsonschema.validate(run["json"], schema, cls=jsonschema.Draft202012Validator)
    assert (run["json"]["format"], run["json"]["version"]) == ("migration-lab/compare", 1)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_safe_variant_passes_every_check(run, framework):
    story = run["stories"][(framework, "safe")]
    failed = [(c["name"], c["detail"], c["output"][-500:]) for c in story["checks"] if not c["passed"]]
    assert not failed
    assert [c["name"] for c in story["checks"]] == load().variants["safe"].checks


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("variant", ["tutorial", "safe"])
def test_read_count_added_removed_and_readded(run, framework, variant):
    story = run["stories"][(framework, variant)]
    assert "read_count" not in columns(story, "seed")
    assert "read_count" in columns(story, "upgrade_change")
    assert "read_count" not in columns(story, "rollback")
    assert "read_count" in columns(story, "reapply")
    assert all(s["ok"] for s in story["steps"])


@pytest.mark.parametrize(
    ("framework", "values"), [("django", {0}), ("flask", {None}), ("fastapi", {None})], ids=FRAMEWORKS
)
def test_tutorial_variant_old_rows(run, framework, values):
    story = run["stories"][(framework, "tutorial")]
    assert old_values(story) == values
    c = check(story, "old_rows_value")
    assert c["passed"] == (values == {0})
    assert c["expected"] == (values == {0}), "a NULL outcome is documented in the scenario as known"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_safe_variant_old_rows_get_0_and_a_database_default(run, framework):
    story = run["stories"][(framework, "safe")]
    assert old_values(story) == {0}
    col = columns(story, "upgrade_change")["read_count"]
    assert (col["nullable"], col["default"]) == (False, "0")


def test_django_drops_the_python_default_after_filling_rows(run):
    col = columns(run["stories"][("django", "tutorial")], "upgrade_change")["read_count"]
    assert (col["nullable"], col["default"]) == (False, None)


@pytest.mark.parametrize(
    ("framework", "failing"),
    [("django", "generate_change"), ("flask", "upgrade_change"), ("fastapi", "upgrade_change")],
)
def test_unsafe_variant_fails_where_expected(run, framework, failing):
    story = run["stories"][(framework, "unsafe")]
    failed = [s for s in story["steps"] if not s["ok"]]
    assert [s["id"] for s in failed] == [failing]
    assert failed[0]["expected_failure"] and failed[0]["exit_code"] not in (0, None)
    assert story["steps"][-1]["id"] == failing, "the story stops at the failed step"
    assert "read_count" not in columns(story, failing)
    trace = check(story, "failed_step_leaves_no_trace")
    if framework == "django":  # refused before touching the database
        assert trace["passed"] and "subtitle" not in columns(story, failing)
    else:  # Alembic's SQLite DDL is not transactional: the first ADD COLUMN stays, the version does not move
        assert not trace["passed"] and not trace["expected"]
        assert "posts.subtitle added" in trace["detail"]
        assert "subtitle" in columns(story, failing)
        assert step(story, failing)["schema"]["version"] == step(story, "seed")["schema"]["version"]


def test_executed_sql_is_captured_from_the_real_run(run):
    django = step(run["stories"][("django", "safe")], "upgrade_change")
    assert any(s["sql"].startswith('CREATE TABLE "new__posts"') for s in django["sql"]), "Django rebuilds posts"
    fastapi = step(run["stories"][("fastapi", "safe")], "upgrade_change")
    assert any("ALTER TABLE posts ADD COLUMN read_count" in s["sql"] for s in fastapi["sql"])
    flask_down = step(run["stories"][("flask", "safe")], "rollback")
    assert any("_alembic_tmp_posts" in s["sql"] for s in flask_down["sql"]), "batch mode rebuilds on drop"
    assert all(s["kind"] in {"ddl", "dml", "tx", "pragma", "query"} for s in django["sql"])


def test_rebuilds_are_detected_from_the_sql(run):
    findings = [f["text"] for f in run["json"]["findings"] if f["rule"] == "table_rebuild"]
    assert any(t.startswith("Django rebuilt the posts table to add") for t in findings)
    assert any(t.startswith("Flask-Migrate rebuilt the posts table to drop") for t in findings)
    assert not any(t.startswith("Alembic") for t in findings)


def test_bookkeeping_tables_are_kept_apart(run):
    for framework, table in (
        ("django", "django_migrations"),
        ("flask", "alembic_version"),
        ("fastapi", "alembic_version"),
    ):
        schema = step(run["stories"][(framework, "safe")], "upgrade_change")["schema"]
        assert [t["name"] for t in schema["tables"]] == ["categories", "posts"]
        assert [t["name"] for t in schema["bookkeeping"]] == [table]
        assert len(schema["version"]) == (2 if framework == "django" else 1)


def test_inline_unique_constraints_are_seen(run):
    """SQLAlchemy's inspector misses Django's inline UNIQUE on SQLite; PRAGMA index_list does not."""
    for framework in FRAMEWORKS:
        schema = step(run["stories"][(framework, "safe")], "upgrade_change")["schema"]
        categories = next(t for t in schema["tables"] if t["name"] == "categories")
        assert ["name"] in categories["unique"], framework


def test_generated_migrations_are_captured_in_full(run):
    story = run["stories"][("fastapi", "safe")]
    files = step(story, "generate_change")["files"]
    assert len(files) == 1 and files[0]["path"].startswith("alembic/versions/")
    assert "op.add_column('posts'" in files[0]["text"] and "server_default='0'" in files[0]["text"]
    init = step(story, "init")
    assert "+target_metadata = Base.metadata" in init["diff"]


def test_every_measured_difference_is_known_and_every_known_one_measured(run):
    measured = set()
    for variant in ("tutorial", "safe"):
        stories = [views_story(s) for s in run["json"]["stories"] if s["variant"] == variant]
        for row in views.schema_rows(stories, "upgrade_change"):
            for aspect in row.differs:
                known = views.explain(f"{row.table}.{row.column}", aspect, "sqlite", variant)
                assert known, f"unexplained difference: {row.table}.{row.column} {aspect} ({variant})"
                measured.add((known.where, known.aspect))
    listed = {(d.where, d.aspect) for d in views.known_differences() if "sqlite" in d.backends}
    assert listed == measured


def views_story(data: dict) -> Story:
    return TypeAdapter(Story).validate_python(data)


def test_markdown_has_the_comparison_table_and_diagrams(run):
    md = (run["out"] / "compare.md").read_text()
    assert "| Execute migration | `python manage.py migrate`" in md
    assert "`alembic upgrade head`" in md and "`flask db upgrade`" in md
    assert "| Manual steps | none | none | 4 hand-edited lines |" in md
    reached = [s for s in run["json"]["stories"] if any(st["id"] == "upgrade_change" for st in s["steps"])]
    assert md.count("```mermaid\nerDiagram") == len(reached) == 8  # Django's unsafe story stops before it


def test_the_repo_is_untouched_and_sandboxes_removed(run):
    assert run["untouched"], "the run changed an app directory or var/"
    assert not run["leftover_sandboxes"]


def test_two_runs_at_once_do_not_collide(tmp_path):
    def one(n):
        return compare(
            "run",
            "--framework",
            "fastapi",
            "--variant",
            "safe",
            "--quiet",
            "--keep-sandbox",
            "--out",
            str(tmp_path / str(n)),
        )

    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(one, (1, 2)))
    kept = []
    for p in procs:
        assert p.returncode == 0, p.stdout + p.stderr
        kept.append(p.stdout.split("Sandboxes kept in ")[1].strip())
    assert kept[0] != kept[1] and all(Path(k, "fastapi-safe-sqlite", "fastapi_blog").is_dir() for k in kept)
    for k in kept:
        subprocess.run(["rm", "-rf", k], check=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "rails"], "invalid choice: 'rails'"),
        (["--variant", "nope"], "unknown variant 'nope'"),
        (["--db", "oracle"], "invalid choice: 'oracle'"),
        (["--timeout", "0"], "--timeout must be positive"),
        (["--jobs", "0"], "--jobs must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = compare("run", *args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_documents_the_options():
    out = compare("run", "--help").stdout
    for option in ("--framework", "--variant", "--db", "--out", "--keep-sandbox", "--timeout", "--jobs"):
        assert option in out


class ForgotTheModelsImport(FastAPIAdapter):
    """env.py imports Base from where it is defined, so the models are never imported: metadata is empty."""

    init_edits = tuple(
        Edit(e.path, e.anchor, ("", "from app.core.config import settings", "from app.core.db import Base"))
        if "from app.models import Base" in e.lines
        else e
        for e in FastAPIAdapter.init_edits
    )


class HangingCheck(FastAPIAdapter):
    def check_command(self) -> list[str]:
        return ["python", "-c", "import time; time.sleep(60)"]


def run_story(adapter, tmp_path, timeout=120.0):
    scenario = load()
    return StoryRunner(scenario, adapter, "safe", SQLiteBackend(), tmp_path, timeout, None).run()


def test_a_missing_models_import_is_caught_as_an_empty_migration(tmp_path):
    story = run_story(ForgotTheModelsImport(), tmp_path)
    generate = story.step("generate_initial")
    assert generate.exit_code == 0, "Alembic itself reports success"
    assert not generate.ok and generate.error.startswith("empty migration")
    assert [s.id for s in story.steps][-1] == "generate_initial", "the story stops there"
    checks = {c.name: c for c in story.checks}
    assert not checks["models_match_migrations"].passed
    assert "empty migration" in checks["models_match_migrations"].detail
    assert not story.ok


def test_a_hung_tool_times_out_and_is_reported(tmp_path):
    story = run_story(HangingCheck(), tmp_path, timeout=3)
    check_step = story.step("check")
    assert not check_step.ok and check_step.error == "timed out after 3 s"
    assert check_step.exit_code is None and check_step.seconds < 30
    assert story.steps[-1].id == "check"
    assert not {c.name: c for c in story.checks}["up_down_consistency"].passed
