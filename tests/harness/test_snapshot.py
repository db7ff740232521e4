"""compare.snapshot on real SQLite files: a reflected schema reused by its sqlite_master rows is the one reflecting
the database again finds, and every change of schema is seen; a look reused by the database's bytes sees every
write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from compare import databases, snapshot

pytestmark = pytest.mark.harness

CREATE = (
    "CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, title VARCHAR(200) NOT NULL UNIQUE, body TEXT)",
    "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT)",
    "INSERT INTO django_migrations (app, name) VALUES ('blog', '0001_initial')",
)
VERSION_SQL = "SELECT name FROM django_migrations ORDER BY id"


def database(path: Path, *sql: str) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        for statement in (*CREATE, *sql):
            conn.exec_driver_sql(statement)
    return engine


def snap(engine: sa.Engine) -> snapshot.Schema:
    return snapshot.schema_snapshot(engine, ["django_migrations"], VERSION_SQL)


def reflected_afresh(engine: sa.Engine) -> snapshot.Schema:
    saved = dict(snapshot._REFLECTED)
    snapshot._REFLECTED.clear()
    try:
        return snap(engine)
    finally:
        snapshot._REFLECTED.update(saved)


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE posts ADD COLUMN read_count INTEGER DEFAULT 0 NOT NULL",
        "CREATE INDEX posts_body ON posts (body)",
        "ALTER TABLE posts RENAME COLUMN body TO text",
        "ALTER TABLE posts DROP COLUMN body",
    ],
)
def test_a_change_of_schema_is_seen_and_matches_a_fresh_reflection(tmp_path: Path, change: str) -> None:
    engine = database(tmp_path / "a.sqlite3")
    before = snap(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(change)
    after = snap(engine)
    assert after != before
    assert after == reflected_afresh(engine)
    assert snap(engine) == after  # now from the reused reflection


COMMENTS = "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER REFERENCES posts, text TEXT)"


@pytest.mark.parametrize(
    "change",
    [
        "ALTER TABLE posts RENAME COLUMN id TO post_key",  # the key comments' REFERENCES posts (no column) points at
        "ALTER TABLE comments ADD COLUMN author TEXT",
    ],
)
def test_a_table_is_reflected_again_when_it_or_a_table_it_references_changes(tmp_path: Path, change: str) -> None:
    engine = database(tmp_path / "a.sqlite3", COMMENTS)
    before = snap(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(change)
    after = snap(engine)
    assert after == reflected_afresh(engine)
    assert after.table("comments") != before.table("comments")


def test_a_table_that_did_not_change_is_reused_while_the_changed_one_is_reflected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = database(tmp_path / "a.sqlite3", "CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT)")
    snap(engine)
    reflected = []
    table = snapshot._table
    monkeypatch.setattr(
        snapshot, "_table", lambda conn, inspector, name: reflected.append(name) or table(conn, inspector, name)
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tags ADD COLUMN slug TEXT")
    assert snap(engine) == reflected_afresh(engine)
    assert reflected[0] == "tags" and reflected.count("posts") == 1  # once, by reflected_afresh


def test_the_same_schema_elsewhere_is_reused_with_its_own_version_and_copy(tmp_path: Path) -> None:
    one = database(tmp_path / "one.sqlite3")
    two = database(tmp_path / "two.sqlite3", "INSERT INTO django_migrations (app, name) VALUES ('blog', '0002_x')")
    first = snap(one)
    first.tables[0].columns.clear()  # a step's snapshot is its own: changing it changes no other
    second = snap(two)
    assert second == reflected_afresh(two)
    assert [c.name for c in second.table("posts").columns] == ["id", "title", "body"]
    assert second.version == ["0001_initial", "0002_x"] and snap(one).version == ["0001_initial"]
    assert second.table("posts").column("id").autoincrement == "autoincrement"
    assert second.table("posts").unique == [["title"]]


def look(engine: sa.Engine) -> tuple[snapshot.Schema, snapshot.Data]:
    return snapshot.snapshots(engine, ["django_migrations"], VERSION_SQL)


def looked_afresh(engine: sa.Engine) -> tuple[snapshot.Schema, snapshot.Data]:
    schema = reflected_afresh(engine)
    return schema, snapshot.data_snapshot(engine, [t.name for t in schema.tables])


@pytest.mark.parametrize("journal", ["delete", "wal"])
@pytest.mark.parametrize(
    "change",
    [
        "INSERT INTO posts (title, body) VALUES ('one', 'x')",
        "UPDATE django_migrations SET name = '0001_renamed'",
        "ALTER TABLE posts ADD COLUMN read_count INTEGER DEFAULT 0 NOT NULL",
    ],
)
def test_a_look_sees_every_write_and_reuses_only_an_unchanged_database(
    tmp_path: Path, journal: str, change: str
) -> None:
    path = tmp_path / "a.sqlite3"
    engine = database(path)
    with sqlite3.connect(path) as conn:  # WAL is a property of the file: every later connection uses it
        assert conn.execute(f"PRAGMA journal_mode={journal}").fetchone() == (journal,)
    first = look(engine)
    assert first == looked_afresh(engine)
    first[1].rows.clear()  # a look is its own copy: changing it changes no later one
    again = look(engine)
    assert again == looked_afresh(engine) and again[0] is not first[0]
    writer = sqlite3.connect(path)
    writer.execute(change)
    writer.commit()  # left open: in WAL mode the write stays in the log, as a tool that exits without closing
    assert path.with_name("a.sqlite3-wal").exists() == (journal == "wal")
    changed = look(engine)
    writer.close()
    assert changed != again
    assert changed == looked_afresh(engine)


def test_an_unfinished_transaction_is_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    engine = database(path)
    look(engine)
    path.with_name("a.sqlite3-journal").write_bytes(b"")  # a hot journal: the next connection settles it
    assert databases.SQLite.state_key(engine.url) is None
    snapshot.forget(engine)
    assert snapshot._LAST_LOOK.get(str(engine.url)) is None
