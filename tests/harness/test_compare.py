"""The compare harness, run for real on SQLite: what it measures, how it reports, how it fails."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import pytest
from pydantic import TypeAdapter

from compare import jsonschema as report_schema
from compare import render, runner, views
from compare.adapters import ADAPTERS
from compare.adapters.fastapi import FastAPIAdapter
from compare.backends import SQLiteBackend
from compare.model import Catalog, Story
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


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real run of every framework and variant, with a TMPDIR of its own (other runs may be going on in /dev/shm
    meanwhile, in the other test workers); with what the repo looked like before it."""
    out, tmpdir = tmp_path_factory.mktemp("reports"), tmp_path_factory.mktemp("tmpdir")
    # the apps' own databases and migration folders (not var/pg, where a PostgreSQL server may be running)
    watched = [*(REPO / "var").glob("*.sqlite3"), *(REPO / a.app_dir for a in ADAPTERS.values())]
    before = tree_digest(*watched)
    proc = compare("run", "--scenario", "add_read_count", "--out", str(out), env={**os.environ, "TMPDIR": str(tmpdir)})
    data = json.loads((out / "compare.json").read_text())
    (report,) = data["reports"]
    return {
        "proc": proc,
        "out": out,
        "json": data,
        "report": report,
        "stories": {(s["framework"], s["variant"]): s for s in report["stories"]},
        "untouched": before == tree_digest(*watched),
        "tmpdir": tmpdir,
        "left_in_tmpdir": sorted(p.name for p in tmpdir.iterdir()),
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
    assert (run["out"] / "add_read_count.md").read_text().startswith("# Add read_count to posts")
    assert (run["out"] / "compare.md").read_text().startswith("# What each tool did to the database")
    assert {p.name for p in run["out"].iterdir()} == {
        ".lock",  # held by a run while it writes there (compare.render.reserved)
        "index.html",
        "compare.md",
        "compare.json",
        "add_read_count.html",
        "add_read_count.md",
    }
    assert "Result: every step and check as expected" in run["proc"].stdout


def test_report_json_matches_its_schema(run):
    schema = json.loads(report_schema.PATH.read_text())
    assert schema == report_schema.build(), "compare/schema is stale: run python -m compare.jsonschema"
    jsonschema.validate(run["json"], schema, cls=jsonschema.Draft202012Validator)
    assert (run["json"]["format"], run["json"]["version"]) == ("migration-lab/compare", 2)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_safe_variant_passes_every_check(run, framework):
    story = run["stories"][(framework, "safe")]
    failed = [(c["name"], c["detail"], c["output"][-500:]) for c in story["checks"] if not c["passed"]]
    assert not failed
    assert [c["name"] for c in story["checks"]] == load("add_read_count").variants["safe"].checks


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
    retried = [] if framework == "django" else ["retry_change"]
    assert [s["id"] for s in failed] == [failing, *retried]
    assert all(s["expected_failure"] and s["exit_code"] not in (0, None) for s in failed)
    assert story["steps"][-1]["id"] == (retried or [failing])[-1], "the story stops at the failure (and its retry)"
    assert "read_count" not in columns(story, failing)
    trace = check(story, "failed_step_leaves_no_trace")
    if framework == "django":  # refused before touching the database
        assert trace["passed"] and "subtitle" not in columns(story, failing)
    else:  # Alembic's SQLite DDL is not transactional: the first ADD COLUMN stays, the version does not move
        assert not trace["passed"] and not trace["expected"]
        assert "posts.subtitle added" in trace["detail"]
        assert "subtitle" in columns(story, failing)
        assert step(story, failing)["schema"]["version"] == step(story, "seed")["schema"]["version"]
        # the natural next command, the same upgrade again, trips over what the first one left
        assert "duplicate column name: subtitle" in step(story, "retry_change")["error"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_rollback_destroys_the_counted_reads_and_reapply_brings_back_defaults(run, framework):
    story = run["stories"][(framework, "safe")]
    use = step(story, "use")
    assert [(c["column"], c["change"], c["count"]) for c in use["data_changes"]] == [
        ("read_count", "values changed", 2)
    ]
    (lost,) = step(story, "rollback")["data_changes"]
    assert (lost["table"], lost["column"], lost["change"], lost["count"]) == ("posts", "read_count", "values lost", 4)
    assert lost["detail"] == "0 x2, 3 x1, 1 x1"
    (back,) = step(story, "reapply")["data_changes"]
    assert (back["change"], back["detail"]) == ("added", "0 x4"), "the counted reads do not come back"


def test_a_python_default_loses_the_counted_reads_too(run):
    """NULL + 1 is NULL: with the tutorial's Python-side default, the old rows' reads are never counted."""
    use = step(run["stories"][("flask", "tutorial")], "use")
    assert use["data_changes"] == []


def test_executed_sql_is_captured_from_the_real_run(run):
    django = step(run["stories"][("django", "safe")], "upgrade_change")
    assert any(s["sql"].startswith('CREATE TABLE "new__posts"') for s in django["sql"]), "Django rebuilds posts"
    fastapi = step(run["stories"][("fastapi", "safe")], "upgrade_change")
    assert any("ALTER TABLE posts ADD COLUMN read_count" in s["sql"] for s in fastapi["sql"])
    flask_down = step(run["stories"][("flask", "safe")], "rollback")
    assert any("_alembic_tmp_posts" in s["sql"] for s in flask_down["sql"]), "batch mode rebuilds on drop"
    assert all(s["kind"] in {"ddl", "dml", "tx", "pragma", "query"} for s in django["sql"])


def test_rebuilds_are_detected_from_the_sql(run):
    findings = [f["text"] for f in run["report"]["findings"] if f["rule"] == "table_rebuild"]
    assert any(
        t.startswith("Django rebuilt the posts table (copy, drop, rename) at 'Apply the change'") for t in findings
    )
    assert any(
        t.startswith("Flask-Migrate rebuilt the posts table (copy, drop, rename) at 'Roll back") for t in findings
    )
    assert not any(t.startswith("Alembic") for t in findings)


def test_only_an_integer_primary_key_is_called_rowid(run):
    schema = step(run["stories"][("flask", "safe")], "upgrade_change")["schema"]
    (version,) = [c for t in schema["bookkeeping"] for c in t["columns"]]
    assert (version["name"], version["primary_key"], version["autoincrement"]) == ("version_num", True, None)
    posts_id = columns(run["stories"][("flask", "safe")], "upgrade_change")["id"]
    assert posts_id["autoincrement"] == "rowid"


def test_generate_narrative_says_alembic_touches_the_database(run):
    """The narrative beside the traced SQL must not claim that generating a migration leaves the database alone."""
    generate = step(run["stories"][("fastapi", "safe")], "generate_initial")
    assert any("CREATE TABLE alembic_version" in s["sql"] for s in generate["sql"])
    narrative = load("add_read_count").step("generate_initial").narrative
    assert "Nothing touches the database" not in narrative and "create their alembic_version" in narrative


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
        stories = [views_story(s) for s in run["report"]["stories"] if s["variant"] == variant]
        for row in views.schema_rows(stories, "upgrade_change"):
            for aspect in row.differs:
                known = views.explain(f"{row.table}.{row.column}", aspect, "sqlite", variant, "add_read_count")
                assert known, f"unexplained difference: {row.table}.{row.column} {aspect} ({variant})"
                measured.add((known.where, known.aspect))
    listed = {(d.where, d.aspect) for d in views.known_differences() if "sqlite" in d.backends}
    assert listed == measured


def views_story(data: dict) -> Story:
    return TypeAdapter(Story).validate_python(data)


def test_markdown_has_the_comparison_table_and_diagrams(run):
    md = (run["out"] / "add_read_count.md").read_text()
    assert "| Execute migration | `python manage.py migrate`" in md
    assert "`alembic upgrade head`" in md and "`flask db upgrade`" in md
    assert "| Manual steps | none | none | 4 hand-edited lines |" in md
    reached = [s for s in run["report"]["stories"] if any(st["id"] == "upgrade_change" for st in s["steps"])]
    assert md.count("```mermaid\nerDiagram") == len(reached) == 8  # Django's unsafe story stops before it


def test_a_step_never_reached_reads_not_reached(run):
    """Django's unsafe story stops at generate: its cells after that are 'not reached', never 'removed'."""
    md = (run["out"] / "add_read_count.md").read_text()
    unsafe = md[md.index("## Unsafe variant on SQLite") :]
    grid = unsafe[unsafe.index('### Schema after "Apply the change"') :]
    grid = grid[: grid.index("###", 4)]
    rows = [line for line in grid.splitlines() if line.startswith("| posts.")]
    assert rows and all(line.split(" | ")[1] == "not reached" for line in rows), rows
    assert "**-**" not in grid


def test_the_catalog_matrix_names_each_outcome(run):
    md = (run["out"] / "compare.md").read_text()
    row = next(
        line for line in md.splitlines() if line.startswith("| [Add read_count to posts](add_read_count.md) · unsafe")
    )
    django, flask, fastapi = row.split(" | ")[1:4]
    assert django.startswith("**fails cleanly**") and "exit 3" in django
    assert flask.startswith("**fails and leaves debris**") and "posts.subtitle added" in flask
    assert "retry fails" in fastapi
    tutorial = next(line for line in md.splitlines() if "(add_read_count.md) · tutorial" in line)
    assert tutorial.count("**works, with a caveat**") == 2 and "NULL x4" in tutorial


def test_compare_json_holds_what_json_dumps_writes_of_the_catalog(run):
    text = (run["out"] / "compare.json").read_text(encoding="utf-8")
    catalog = TypeAdapter(Catalog).validate_json(text)
    assert json.loads(text) == json.loads(json.dumps(dataclasses.asdict(catalog)))  # the same values, every one
    assert render.catalog_json(catalog) == text


def test_the_repo_is_untouched_and_sandboxes_removed(run):
    assert run["untouched"], "the run changed an app directory or var/"
    assert not run["left_in_tmpdir"], "the run left sandboxes (or other files) in its TMPDIR"


def test_sandboxes_go_to_tmpdir_else_to_memory_with_room_else_to_the_temp_dir(run, monkeypatch, tmp_path):
    assert run["report"]["environment"]["Sandboxes"] == str(run["tmpdir"])
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    assert runner.sandboxes_parent() == str(tmp_path)
    monkeypatch.delenv("TMPDIR")
    memory = tmp_path / "shm"
    memory.mkdir()
    monkeypatch.setattr(runner, "MEMORY_DIR", memory)
    assert runner.sandboxes_parent() == str(memory)
    monkeypatch.setattr(runner, "MEMORY_DIR_FREE", shutil.disk_usage(memory).free + 2**40)  # no room
    assert runner.sandboxes_parent() == tempfile.gettempdir()


def test_each_report_is_handed_on_once_its_stories_have_all_ended():
    """runner.run gives on_report each scenario's Report once, in the thread of its last story: every story of it
    has ended (its database dropped, its time taken, its sandbox already removed, as the run keeps none) and its
    findings are made; it is the Report the catalog holds."""
    scenarios = [load("widen_type"), load("add_table_m2m")]
    handed: list[tuple[object, list[float], list[bool]]] = []

    def on_report(report):
        handed.append((report, [s.seconds for s in report.stories], [Path(s.sandbox).exists() for s in report.stories]))

    catalog, _ = runner.run(scenarios, FRAMEWORKS, None, [SQLiteBackend()], jobs=2, on_report=on_report)
    assert sorted(r.scenario for r, _, _ in handed) == ["add_table_m2m", "widen_type"]
    for report, seconds, sandboxes in handed:
        assert report is catalog.report(report.scenario)
        assert len(seconds) == len(FRAMEWORKS) and all(t > 0 for t in seconds)
        assert report.findings and max(seconds) <= report.seconds <= catalog.seconds
        assert sandboxes == [False] * len(FRAMEWORKS)


def test_two_runs_at_once_do_not_collide(tmp_path):
    def one(n):
        return compare(
            "run",
            "--scenario",
            "add_read_count",
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
    story_dir = "add_read_count-fastapi-safe-sqlite"
    assert kept[0] != kept[1] and all(Path(k, story_dir, "fastapi_blog").is_dir() for k in kept)
    for k in kept:
        subprocess.run(["rm", "-rf", k], check=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "rails"], "invalid choice: 'rails'"),
        (["--variant", "nope"], "unknown variant 'nope'"),
        (["--scenario", "nope"], "unknown scenario 'nope'"),
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
        e.model_copy(update={"lines": "\nfrom app.core.config import settings\nfrom app.core.db import Base"})
        if "from app.models import Base" in e.lines
        else e
        for e in FastAPIAdapter.init_edits
    )


class HangingCheck(FastAPIAdapter):
    def check_command(self) -> list[str]:
        return ["python", "-c", "import time; time.sleep(60)"]


def run_story(adapter, tmp_path, timeout=120.0):
    scenario = load("add_read_count")
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


def test_quiet_prints_only_the_verdict_and_the_paths(tmp_path):
    proc = compare(
        "run",
        "--scenario",
        "add_read_count",
        "--framework",
        "django",
        "--variant",
        "safe",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", "no progress lines"
    assert proc.stdout.startswith("Result: every step and check as expected. Reports: ")
    assert proc.stdout.count("\n") == 1


def test_list_shows_every_scenario_and_its_variants():
    proc = compare("list", env={**__import__("os").environ, "COLUMNS": "200"})
    assert proc.returncode == 0
    from compare.scenario import names

    for name in names():
        assert name in proc.stdout
        for variant in load(name).variants:
            assert f"{variant}:" in proc.stdout


def test_known_outcomes_are_looked_up_per_backend():
    """A reason recorded for SQLite is never given for PostgreSQL."""
    unsafe = load("add_read_count").variants["unsafe"]
    sqlite = unsafe.reason("flask", "sqlite", step="retry_change")
    postgresql = unsafe.reason("flask", "postgresql", step="retry_change")
    assert sqlite and postgresql and sqlite != postgresql
    assert unsafe.reason("flask", "postgresql", check="failed_step_leaves_no_trace") is None
    assert not unsafe.expected("failed_step_leaves_no_trace", "flask", "sqlite")
    assert unsafe.expected("failed_step_leaves_no_trace", "flask", "postgresql")


def test_each_tool_call_has_its_cpu_time_and_the_tables_show_it(run):
    """CPU time (the child's rusage) does not depend on how many stories ran at once: it comes first."""
    calls = [c for s in run["report"]["stories"] for st in s["steps"] for c in st["tool_calls"]]
    assert calls and all(c["cpu_seconds"] > 0 for c in calls)
    md = (run["out"] / "add_read_count.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| Execute migration |"))
    assert row.count(" s CPU · ") == 3 and row.count(" s wall") == 3
    assert "Tool processes" in run["report"]["environment"]


def test_the_unsafe_variant_declares_the_same_thing_in_all_three():
    """NOT NULL with no default at all, in every framework (not a Python default in two of them)."""
    unsafe = load("add_read_count").variants["unsafe"]
    for framework in FRAMEWORKS:
        (edit,) = unsafe.edits["change"][framework]
        read_count = next(line for line in edit.lines.splitlines() if "read_count" in line)
        assert "default" not in read_count and "null=True" not in read_count and "None" not in read_count


def test_piped_tables_are_wide_enough_not_to_fold_names(tmp_path):
    proc = compare(
        "run", "--scenario", "add_read_count", "--framework", "flask", "--variant", "safe", "--out", str(tmp_path)
    )
    assert proc.returncode == 0
    assert "Flask-Migrate · SQLite" in proc.stdout and "Flask-Migr\n" not in proc.stdout
    tables = [line for line in proc.stdout.splitlines() if line[:1] in "┏┃┡│└┗━"]
    assert tables and max(len(line) for line in tables) <= 160
    assert "add_read_count/flask/safe/sqlite" in proc.stderr and "ok (" in proc.stderr  # progress, one line a step
