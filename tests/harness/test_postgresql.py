"""The compare harness, run for real on PostgreSQL (every framework and variant), on a throwaway server."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from compare import pg, runner, views
from compare.adapters import ADAPTERS
from compare.backends import BACKENDS, PostgresBackend
from compare.model import Report
from compare.sandbox import RunFault
from compare.scenario import load
from tests.postgres import PgServer
from tests.support import recording

pytestmark = [pytest.mark.harness, pytest.mark.postgresql]

FRAMEWORKS = list(ADAPTERS)
SCENARIO = load("add_read_count")


RecordingBackend = recording(PostgresBackend)


@pytest.fixture(scope="module")
def run(pg_server: PgServer) -> dict:
    backend = RecordingBackend()
    before = pg.databases(pg_server.url)
    catalog, _ = runner.run([SCENARIO], FRAMEWORKS, None, [backend])
    (report,) = catalog.reports
    return {"report": report, "backend": backend, "before": before, "after": pg.databases(pg_server.url)}


def db_name(url: str) -> str:
    return sa.make_url(url).database


def story_of(run: dict, framework: str):
    report: Report = run["report"]
    return report.story(framework, "safe", "postgresql")


def posts_column(story, step_id: str, column: str = "read_count"):
    table = story.step(step_id).schema.table("posts")
    return table.column(column) if table else None


@pytest.mark.parametrize(("framework", "values"), [("django", {0}), ("flask", {None}), ("fastapi", {None})])
def test_tutorial_variant_old_rows_on_postgresql(run: dict, framework: str, values: set):
    story = run["report"].story(framework, "tutorial", "postgresql")
    rows = story.step("upgrade_change").data.rows["posts"]
    assert {r["read_count"] for r in rows} == values


@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_a_failed_upgrade_leaves_nothing_behind_on_postgresql(run: dict, framework: str):
    """Transactional DDL: the ADD COLUMN that worked before the failing one is rolled back with it."""
    story = run["report"].story(framework, "unsafe", "postgresql")
    failed = story.step("upgrade_change")
    assert not failed.ok and failed.expected_failure and "NotNullViolation" in failed.error
    assert posts_column(story, "upgrade_change", "subtitle") is None
    assert failed.schema.version == story.step("seed").schema.version
    trace = next(c for c in story.checks if c.name == "failed_step_leaves_no_trace")
    assert trace.passed and trace.expected
    retry = story.step("retry_change")
    assert not retry.ok and "NotNullViolation" in retry.error, "nothing left behind: the retry fails the same way"
    assert story.ok


def test_registered():
    assert BACKENDS["postgresql"] is PostgresBackend and PostgresBackend.title == "PostgreSQL"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_safe_story_passes_on_postgresql(run: dict, framework: str):
    story = story_of(run, framework)
    failed = [(s.id, s.error) for s in story.steps if not s.ok]
    failed += [(c.name, c.detail) for c in story.checks if not c.passed]
    assert story.ok and not failed, failed
    ran = [s.id for s in SCENARIO.steps if s.kind != "fix" and not s.after_failure]  # no hand fix, no retry
    assert [s.id for s in story.steps] == ran and story.checks


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_read_count_added_dropped_and_readded(run: dict, framework: str):
    story = story_of(run, framework)
    added = posts_column(story, "upgrade_change")
    assert added is not None and (added.type, added.nullable, added.default) == ("integer", False, "0")
    assert posts_column(story, "rollback") is None
    assert posts_column(story, "reapply") == added
    # the ids show the database really was PostgreSQL (SQLite's would be rowid / autoincrement)
    assert posts_column(story, "upgrade_change", "id").autoincrement in {"identity", "serial"}
    rows = story.step("upgrade_change").data.rows["posts"]
    assert [r["read_count"] for r in rows] == [0, 0, 0, 0]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_no_table_rebuild_on_postgresql(run: dict, framework: str):
    story = story_of(run, framework)
    for step_id in ("upgrade_change", "rollback", "reapply"):
        step = story.step(step_id)
        assert views.rebuilt_tables(step) == []
        ddl = [s.sql for s in step.sql if s.kind == "ddl"]
        assert len(ddl) == 1 and "read_count" in ddl[0] and ddl[0].upper().startswith("ALTER TABLE"), ddl


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sql_trace_records_transactions_and_values(run: dict, framework: str):
    story = story_of(run, framework)
    step = story.step("upgrade_change")
    sql = [s.sql for s in step.sql]
    alter = next(i for i, s in enumerate(sql) if s.upper().startswith("ALTER TABLE"))
    # psycopg's own BEGIN / COMMIT are recorded, in the order they were sent
    assert "BEGIN" in sql[:alter] and "COMMIT" in sql[alter:]
    # bound values are inlined, as in the SQLite trace: no placeholder is left in any statement
    placeholders = [s for st in story.steps for s in st.sql if "%s" in s.sql or "%(" in s.sql]
    assert placeholders == []
    # the tool's bookkeeping write names the migration it applied, as a literal
    newest = step.schema.version[-1].split(".")[-1]
    assert any(s.kind == "dml" and f"'{newest}'" in s.sql for s in step.sql), sql


def test_every_database_the_run_created_is_dropped(run: dict):
    created = {db_name(u) for u in run["backend"].created}
    assert len(created) == len(FRAMEWORKS) * len(SCENARIO.variants)
    assert all(name.startswith(f"lab_{run['backend'].run_id}_") for name in created)
    assert created.isdisjoint(run["after"]) and run["after"] == run["before"]


def test_report_names_the_server(run: dict):
    assert run["report"].environment["PostgreSQL"].split(".")[0].isdigit()


def test_parallel_runs_never_share_a_database(pg_server: PgServer, tmp_path: Path):
    first, second = PostgresBackend(), PostgresBackend()
    urls = [first.create(tmp_path, "django_safe"), second.create(tmp_path, "django_safe")]
    try:
        assert urls[0] != urls[1]
        with pytest.raises(RunFault, match="already exists"):
            first.create(tmp_path, "django_safe")  # never silently reuse a database
        # the harness's own sessions are in UTC, whatever the server's default
        with first.engine(urls[0]).connect() as conn:
            assert conn.exec_driver_sql("SHOW timezone").scalar() == "UTC"
    finally:
        first.drop(urls[0])
        second.drop(urls[1])
    assert not {db_name(u) for u in urls} & set(pg.databases(pg_server.url, "lab_"))


def test_every_difference_on_postgresql_is_known_and_every_known_one_measured(run: dict):
    measured = set()
    for variant, backend, stories in views.groups(run["report"]):
        for row in views.schema_rows(stories, "upgrade_change"):
            for aspect in row.differs:
                known = views.explain(f"{row.table}.{row.column}", aspect, backend, variant, "add_read_count")
                assert known, f"unexplained difference on PostgreSQL: {row.table}.{row.column} {aspect} ({variant})"
                measured.add((known.where, known.aspect))
    listed = {(d.where, d.aspect) for d in views.known_differences() if "postgresql" in d.backends}
    assert listed == measured
