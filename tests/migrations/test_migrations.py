"""Each app's committed migrations, run by its own CLI on a fresh database, checked with plain SQL."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from tests.apps import APPS_BY_NAME, BACKENDS, NAMES, REPO, App
from tests.support import Database, as_utc, run

pytestmark = pytest.mark.migrations

POST_COLUMNS = {"id", "title", "content", "category_id", "created_at"}


@pytest.fixture(params=NAMES)
def app(request) -> App:
    return APPS_BY_NAME[request.param]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(app, backend, database_url, request):
    database = Database(database_url(request.node.name, backend))
    yield database
    database.engine.dispose()


def columns(db: Database, table: str) -> dict[str, dict]:
    return {column["name"]: column for column in inspect(db.engine).get_columns(table)}


def without_read_count(rows: list[dict]) -> list[dict]:
    return [
        {key: as_utc(value) if key == "created_at" else value for key, value in row.items() if key != "read_count"}
        for row in rows
    ]


def test_upgrade_from_empty_creates_the_schema(app, db):
    run(app, app.upgrade, db.url)
    assert {"categories", "posts", app.version_table} <= set(inspect(db.engine).get_table_names())

    categories = columns(db, "categories")
    assert set(categories) == {"id", "name", "description"}
    assert categories["name"]["type"].length == 50
    assert (categories["name"]["nullable"], categories["description"]["nullable"]) == (False, True)

    posts = columns(db, "posts")
    assert set(posts) == POST_COLUMNS | {"read_count"}
    assert posts["title"]["type"].length == 200
    assert not any(posts[name]["nullable"] for name in POST_COLUMNS | {"read_count"})
    [foreign_key] = inspect(db.engine).get_foreign_keys("posts")
    assert (foreign_key["constrained_columns"], foreign_key["referred_table"]) == (
        ["category_id"],
        "categories",
    )
    assert foreign_key["referred_columns"] == ["id"]

    db.insert_category("Unique")
    with pytest.raises(IntegrityError):
        db.insert_category("Unique")


def test_read_count_migration_up_down_up(app, db):
    # One step up from empty: the initial schema, posts without read_count.
    run(app, app.step_up, db.url)
    assert set(columns(db, "posts")) == POST_COLUMNS
    databases = db.insert_category("Databases", "Schemas")
    testing = db.insert_category("Testing")
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    for number in range(5):
        category = databases if number % 2 else testing
        db.insert_post(category, f"Old post {number}", f"Body é {number}", start + timedelta(days=number))
    categories_before, posts_before = db.rows("categories"), without_read_count(db.rows("posts"))

    # Up to head: every old row gets 0, and the column has a database-level default of 0.
    run(app, app.upgrade, db.url)
    read_count = columns(db, "posts")["read_count"]
    assert read_count["nullable"] is False
    assert str(read_count["default"]).strip("'\"() ") == "0", read_count["default"]
    assert [row["read_count"] for row in db.rows("posts")] == [0] * 5
    assert without_read_count(db.rows("posts")) == posts_before
    assert db.rows("categories") == categories_before
    new_post = db.insert_post(testing, "Inserted by SQL without read_count")
    assert db.read_count(new_post) == 0
    db.execute("UPDATE posts SET read_count = 7 WHERE id = :id", id=new_post)
    posts_at_head = without_read_count(db.rows("posts"))

    # One step back: the column is gone, every row and value is kept.
    run(app, app.step_back, db.url)
    assert set(columns(db, "posts")) == POST_COLUMNS
    assert without_read_count(db.rows("posts")) == posts_at_head
    assert db.rows("categories") == categories_before

    # And up again.
    run(app, app.upgrade, db.url)
    assert [row["read_count"] for row in db.rows("posts")] == [0] * 6
    assert without_read_count(db.rows("posts")) == posts_at_head


def test_no_drift_at_head(app, db):
    run(app, app.upgrade, db.url)
    result = run(app, app.drift_check, db.url, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_loads_the_sample_once(app, db):
    sample = json.loads((REPO / "data" / "sample.json").read_text())
    run(app, app.upgrade, db.url)
    run(app, app.seed, db.url)

    categories = db.rows("categories")
    assert [(row["name"], row["description"]) for row in categories] == [
        (category["name"], category["description"]) for category in sample["categories"]
    ]
    names = {row["id"]: row["name"] for row in categories}
    posts = db.rows("posts")
    assert len(categories) == 4 and len(posts) == 36
    # In file order, so that ids are the same in every app.
    loaded = [
        (
            row["title"],
            row["content"],
            names[row["category_id"]],
            as_utc(row["created_at"]),
            row["read_count"],
        )
        for row in posts
    ]
    expected = [
        (
            post["title"],
            post["content"],
            post["category"],
            datetime.strptime(post["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            0,
        )
        for post in sample["posts"]
    ]
    assert loaded == expected

    again = run(app, app.seed, db.url)
    assert "already seeded" in (again.stdout + again.stderr).lower()
    assert (db.rows("categories"), db.rows("posts")) == (categories, posts)
