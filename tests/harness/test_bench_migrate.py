"""make bench-migrate at a small N, for real: the tools on SQLite and PostgreSQL, the raw DDL, the locks, the reports.

Timings are measured and written, never asserted: these tests assert what the run found (rewrites, locks, blocked
probes, values kept), which does not depend on the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from compare import bench_migrate, scale
from compare.adapters import ADAPTERS
from tests.postgres import PgServer

pytestmark = [pytest.mark.harness, pytest.mark.postgresql]

REPO = Path(__file__).resolve().parents[2]
N = 20_000


def bench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m compare.bench_migrate ARGS`, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "compare.bench_migrate", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def result(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench-migrate")
    proc = bench("--rows", str(N), "--db", "all", "--scenario", "add_index:meta", "--scenario", "add_index:field",
                 "--scenario", "add_read_count:safe", "--scenario", "add_read_count:safe:native",
                 "--scenario", "add_index:meta:concurrently", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads((out / "bench-migrate.json").read_text(encoding="utf-8"))
    data["_out"], data["_stdout"] = out, proc.stdout
    return data


def measurement(result: dict, case: str, framework: str, backend: str) -> dict:
    (m,) = [
        m for m in result["measurements"] if (m["case"], m["framework"], m["backend"]) == (case, framework, backend)
    ]
    return m


def lock(direction: dict, relation: str, mode: str) -> dict | None:
    return next((h for h in direction["locks"] if (h["relation"], h["mode"]) == (relation, mode)), None)


def test_every_story_is_measured_to_the_end_and_keeps_the_rows(result: dict) -> None:
    # the native cases run only where they edit the migration: Django and Flask on SQLite, all three on PostgreSQL
    assert len(result["measurements"]) == 3 * 3 * 2 + 2 + 3
    for m in result["measurements"]:
        assert m["error"] is None, m
        assert m["rows"] == N
        for d in (m["upgrade"], m["rollback"], m["raw_up"], m["raw_down"]):
            assert d["ok"], d
        assert m["upgrade"]["values"] == f"{N:,} rows, every value kept"
        assert m["rollback"]["values"] == f"{N:,} rows, every value kept"
        assert m["upgrade"]["ddl_statements"] >= 1
        assert m["upgrade"]["peak_memory_mb"] > 0
        assert m["startup_seconds"] > 0 and m["ratio"] is not None
        assert m["plain_startup_seconds"] > 0 and m["ratio_typed"] is not None  # a fresh interpreter's no-op
        assert m["drift_check"] == "no drift", m
        assert m["upgrade"]["slowest"].endswith(" s)")  # the statement it spent most time in, with that time


def test_old_rows_get_the_database_default(result: dict) -> None:
    for fw in ("django", "flask", "fastapi"):
        for backend in ("sqlite", "postgresql"):
            assert measurement(result, "add_read_count:safe", fw, backend)["old_rows"] == {"read_count": f"0 x{N:,}"}


def test_a_sqlite_rebuild_is_seen_in_the_trace_and_in_the_file_size(result: dict) -> None:
    django = measurement(result, "add_index:field", "django", "sqlite")["upgrade"]
    assert django["how"] == "rebuilt (copy and swap)" and django["rewritten"] == ["posts"]
    flask = measurement(result, "add_index:field", "flask", "sqlite")["upgrade"]
    assert flask["how"] == "in place"
    assert django["file_bytes_after"] > django["file_bytes_before"]
    for fw in ("django", "flask", "fastapi"):
        assert measurement(result, "add_index:field", fw, "postgresql")["upgrade"]["how"] == "in place"


def test_locks_read_from_the_migrating_connection(result: dict) -> None:
    for fw in ("django", "flask", "fastapi"):
        index = measurement(result, "add_index:meta", fw, "postgresql")["upgrade"]
        share = lock(index, "posts", "ShareLock")
        assert share and share["blocks_writer"] and not share["blocks_reader"], index["locks"]
        assert share["statement"].upper().startswith("CREATE INDEX")
        column = measurement(result, "add_read_count:safe", fw, "postgresql")["upgrade"]
        exclusive = lock(column, "posts", "AccessExclusiveLock")
        assert exclusive and exclusive["blocks_reader"] and exclusive["blocks_writer"], column["locks"]
        assert column["blocks_reader_seconds"] > 0


def test_the_method_is_proven_on_create_index_and_create_index_concurrently(result: dict) -> None:
    plain = measurement(result, "add_index:meta", "django", "postgresql")["raw_up"]
    assert plain["command"] == "CREATE INDEX posts_title_idx ON posts (title)"
    assert lock(plain, "posts", "ShareLock")
    assert plain["probe"]["reader"] == "not blocked"
    assert plain["probe"]["writer"].startswith("blocked")
    concurrently = measurement(result, "add_index:field", "django", "postgresql")["raw_up"]
    assert concurrently["command"].startswith("CREATE INDEX CONCURRENTLY")
    assert concurrently["probe"]["reader"] == concurrently["probe"]["writer"] == "not blocked"
    assert concurrently["probe"]["probes"] >= 1
    dropped = measurement(result, "add_index:meta", "django", "postgresql")["raw_down"]
    assert dropped["probe"]["reader"].startswith("blocked")  # DROP INDEX: AccessExclusiveLock on posts


def test_reports_are_written(result: dict) -> None:
    out: Path = result["_out"]
    md = (out / "bench-migrate.md").read_text(encoding="utf-8")
    assert "| add_index:field | django | sqlite | 20,000 |" in md
    assert "CREATE INDEX CONCURRENTLY" in md
    html = (out / "bench-migrate.html").read_text(encoding="utf-8")
    assert "<table>" in html and "<svg" not in html  # one N: no scaling chart
    assert f"[23/23] add_index:meta:concurrently fastapi postgresql N={N:,}:" in result["_stdout"]  # one line each


def test_the_reports_can_be_written_again_from_the_json(result: dict, tmp_path: Path) -> None:
    proc = bench("--render", str(result["_out"] / "bench-migrate.json"), "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    again = (tmp_path / "bench-migrate.md").read_text(encoding="utf-8")
    assert again == (result["_out"] / "bench-migrate.md").read_text(encoding="utf-8")
    assert "## At 20,000 rows" in again and "| django | sqlite | safe x" in again


def test_the_target_is_judged_with_both_start_ups_from_the_measurements(result: dict) -> None:
    rows = bench_migrate.target_check(result)
    pairs = {(f, b) for f in ADAPTERS for b in ("sqlite", "postgresql")}
    assert {(t["framework"], t["backend"]) for t in rows} == pairs
    for t in rows:
        cases = [
            measurement(result, c, t["framework"], t["backend"])
            for c in ("add_read_count:safe", "add_read_count:safe:native")
            if any(
                (m["case"], m["framework"], m["backend"]) == (c, t["framework"], t["backend"])
                for m in result["measurements"]
            )
        ]
        assert t["met"] == (min(m["ratio"] for m in cases) <= 2.0)
        assert t["typed_met"] == (min(m["ratio_typed"] for m in cases) <= 2.0)
        assert bool(t["slowest"]) == (not t["met"])  # a miss says which statement the time went to


def test_the_native_way_adds_the_column_in_place_with_the_same_values(result: dict) -> None:
    generated = measurement(result, "add_read_count:safe", "django", "sqlite")
    native = measurement(result, "add_read_count:safe:native", "django", "sqlite")
    assert generated["upgrade"]["how"] == "rebuilt (copy and swap)"
    assert native["upgrade"]["how"] == "in place"
    assert native["old_rows"] == generated["old_rows"] == {"read_count": f"0 x{N:,}"}
    flask = measurement(result, "add_read_count:safe:native", "flask", "sqlite")
    assert measurement(result, "add_read_count:safe", "flask", "sqlite")["rollback"]["how"] == "rebuilt (copy and swap)"
    assert flask["rollback"]["how"] == "in place"


def test_create_index_concurrently_in_each_tool_keeps_no_lock_on_the_table(result: dict) -> None:
    for fw in ("django", "flask", "fastapi"):
        d = measurement(result, "add_index:meta:concurrently", fw, "postgresql")["upgrade"]
        assert not [h for h in d["locks"] if h["relation"] == "posts"], d["locks"]
        assert d["blocks_writer_seconds"] == d["blocks_reader_seconds"] == 0
        assert d["ddl_statements"] == 1


def test_two_sizes_draw_a_scaling_chart(tmp_path: Path) -> None:
    proc = bench("--rows", "2000,8000", "--db", "sqlite", "--scenario", "add_read_count:safe", "--framework", "flask",
                 "--out", str(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tmp_path / "bench-migrate.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 1
    assert "2,000" in html and "8,000" in html and "<polyline" in html


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--rows", "many"], "not a list of row counts"), (["--scenario", "nope"], "unknown case 'nope'")],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = bench(*args, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_scale_snapshot_ignores_row_order_and_sees_one_changed_value(
    backend: str, tmp_path: Path, database_url
) -> None:
    engine = sa.create_engine(database_url("scale_snapshot", backend))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id integer PRIMARY KEY, title varchar(50))")
        conn.exec_driver_sql("INSERT INTO posts VALUES (1, 'a'), (2, 'b'), (3, NULL)")
    first = scale.scale_snapshot(engine, ["posts"])
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM posts")
        conn.exec_driver_sql("INSERT INTO posts VALUES (3, NULL), (2, 'b'), (1, 'a')")
    again = scale.scale_snapshot(engine, ["posts"])
    assert again["posts"].columns == first["posts"].columns and again["posts"].rows == 3
    assert scale.same_values(first, again, "posts") == []
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE posts SET title = 'c' WHERE id = 2")
    assert scale.same_values(first, scale.scale_snapshot(engine, ["posts"]), "posts") == ["title"]
    engine.dispose()


def test_the_main_report_has_a_section_when_the_bench_ran(result: dict, tmp_path: Path) -> None:
    """The catalog's index.html and compare.md summarize a bench-migrate.json found in the same reports directory."""
    (tmp_path / "bench-migrate.json").write_bytes((result["_out"] / "bench-migrate.json").read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "compare", "run", "--scenario", "add_read_count", "--variant", "safe",
         "--framework", "flask", "--quiet", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'id="bench-migrate"' in index and 'href="bench-migrate.html"' in index
    assert "add_index:field" in index and f"{N:,} posts" in index
    md = (tmp_path / "compare.md").read_text(encoding="utf-8")
    assert "## Migrations at scale" in md and "| add_read_count:safe |" in md
    assert bench_migrate.index_summary(tmp_path / "absent.json") is None
