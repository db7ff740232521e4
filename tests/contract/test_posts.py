"""Posts: create, read (counted), update (not counted), delete, and the validation of bodies and ids."""

import re
from datetime import UTC, datetime

import pytest

from tests.support import CREATED_AT, dumps, expect_error, expect_json

pytestmark = pytest.mark.contract

KEYS = ["id", "title", "content", "category_id", "created_at", "read_count"]


@pytest.fixture
def category_id(api) -> int:
    return api.db.insert_category("Databases")


def test_create_answers_the_post(api, category_id):
    body = {"title": "Primary keys", "content": "Every table needs one.", "category_id": category_id}
    response = api.post("/api/posts", json=body)
    post = expect_json(response, 201)
    assert list(post) == KEYS
    assert re.fullmatch(CREATED_AT, post["created_at"])
    expected = {"id": 1, **body, "created_at": post["created_at"], "read_count": 0}
    assert response.content == dumps(expected)
    [row] = api.db.rows("posts")
    assert (row["title"], row["content"], row["category_id"], row["read_count"]) == (
        "Primary keys",
        "Every table needs one.",
        category_id,
        0,
    )


def test_created_at_is_the_current_utc_time(api, category_id):
    # The server runs in a UTC+05:30 local zone: local time passed off as UTC would be 5h30 away.
    before = datetime.now(UTC).replace(microsecond=0)
    post = api.create_post(category_id, "Now")
    after = datetime.now(UTC)
    created_at = datetime.strptime(post["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created_at <= after


def test_created_at_is_read_back_in_utc(api, category_id):
    post_id = api.db.insert_post(category_id, "Fixed", created_at=datetime(2026, 1, 5, 23, 30, 7, tzinfo=UTC))
    assert api.get(f"/api/posts/{post_id}").json()["created_at"] == "2026-01-05T23:30:07Z"


def test_values_are_stored_as_sent_and_unknown_keys_ignored(api, category_id):
    body = {"title": "  Padded  ", "content": " Line one\nline two ", "category_id": category_id, "x": 1}
    post = expect_json(api.post("/api/posts", json=body), 201)
    assert (post["title"], post["content"]) == ("  Padded  ", " Line one\nline two ")
    assert "x" not in post


def test_two_hundred_characters_is_the_longest_title(api, category_id):
    assert api.create_post(category_id, "t" * 200)["title"] == "t" * 200


def test_get_counts_each_read(api, category_id):
    post_id = api.db.insert_post(category_id, "Counted")
    first = api.get(f"/api/posts/{post_id}")
    assert expect_json(first, 200)["read_count"] == 1
    assert list(first.json()) == KEYS
    assert expect_json(api.get(f"/api/posts/{post_id}"), 200)["read_count"] == 2
    assert api.db.read_count(post_id) == 2


def test_get_answers_the_exact_json(api, category_id):
    title, content = "Ünïcødé “quotes” 🎉", 'Tab\there, "quoted", back\\slash'
    post_id = api.db.insert_post(category_id, title, content, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    response = api.get(f"/api/posts/{post_id}")
    expect_json(response, 200)
    assert response.content == dumps(
        {
            "id": post_id,
            "title": title,
            "content": content,
            "category_id": category_id,
            "created_at": "2026-01-05T09:00:00Z",
            "read_count": 1,
        }
    )


def test_listing_does_not_count_reads(api, category_id):
    post_id = api.db.insert_post(category_id, "Listed")
    for _ in range(2):
        assert expect_json(api.get("/api/posts"), 200)["items"][0]["read_count"] == 0
    assert api.db.read_count(post_id) == 0


def test_get_unknown_is_404(api):
    expect_error(api.get("/api/posts/999"), 404)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("post_id", ["abc", "1.5", "-1", "0", "1x"])
def test_a_non_integer_id_is_404(api, category_id, method, post_id):
    api.db.insert_post(category_id, "Kept")
    response = api.request(method, f"/api/posts/{post_id}", json={"title": "Changed"} if method == "PATCH" else None)
    expect_error(response, 404)
    [row] = api.db.rows("posts")
    assert (row["title"], row["read_count"]) == ("Kept", 0)


def test_an_id_beyond_64_bits_is_404(api):
    expect_error(api.get(f"/api/posts/{2**64}"), 404)


def test_patch_changes_only_the_fields_sent(api, category_id):
    other = api.db.insert_category("Testing")
    created = api.create_post(category_id, "Before", "Old content")
    response = api.patch(f"/api/posts/{created['id']}", json={"title": "After"})
    expect_json(response, 200)
    assert response.content == dumps({**created, "title": "After"})
    patched = expect_json(api.patch(f"/api/posts/{created['id']}", json={"category_id": other}), 200)
    assert patched == {**created, "title": "After", "category_id": other}
    [row] = api.db.rows("posts")
    assert (row["title"], row["content"], row["category_id"]) == ("After", "Old content", other)


def test_patch_with_an_empty_body_changes_nothing(api, category_id):
    created = api.create_post(category_id, "Same")
    assert expect_json(api.patch(f"/api/posts/{created['id']}", json={}), 200) == created


def test_patch_is_not_a_counted_read(api, category_id):
    post_id = api.db.insert_post(category_id, "Edited")
    api.get(f"/api/posts/{post_id}")
    assert expect_json(api.patch(f"/api/posts/{post_id}", json={"content": "New"}), 200)["read_count"] == 1
    assert api.db.read_count(post_id) == 1


def test_patch_validates_before_looking_up(api, category_id):
    expect_error(api.patch("/api/posts/999", json={"title": ""}), 422)
    expect_error(api.patch("/api/posts/999", json={"category_id": 999}), 422)
    expect_error(api.patch("/api/posts/999", content=b"{", headers={"Content-Type": "application/json"}), 422)
    expect_error(api.patch("/api/posts/999", json={"title": "Fine"}), 404)


@pytest.mark.parametrize(
    "change",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "t" * 201},
        {"title": None},
        {"title": 1},
        {"content": ""},
        {"content": " \n\t "},
        {"content": None},
        {"category_id": 999},
        {"category_id": "1"},
        {"category_id": True},
        {"category_id": None},
    ],
    ids=lambda change: repr(change)[:40],
)
def test_invalid_patch_is_422_and_changes_nothing(api, category_id, change):
    post_id = api.db.insert_post(category_id, "Untouched", "Body")
    expect_error(api.patch(f"/api/posts/{post_id}", json=change), 422)
    [row] = api.db.rows("posts")
    assert (row["title"], row["content"], row["category_id"]) == ("Untouched", "Body", category_id)


def test_delete_is_204_then_404(api, category_id):
    post_id = api.db.insert_post(category_id, "Doomed")
    response = api.delete(f"/api/posts/{post_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.db.count("posts") == 0
    assert api.db.count("categories") == 1
    expect_error(api.delete(f"/api/posts/{post_id}"), 404)
    expect_error(api.get(f"/api/posts/{post_id}"), 404)
    expect_error(api.patch(f"/api/posts/{post_id}", json={"title": "Late"}), 404)


# The category fixture is the first row of empty tables, so its id is 1.
VALID = {"title": "Title", "content": "Content", "category_id": 1}


def without(key: str) -> dict:
    return {name: value for name, value in VALID.items() if name != key}


@pytest.mark.parametrize(
    "body",
    [
        {**VALID, "title": ""},
        {**VALID, "title": "   "},
        {**VALID, "title": "t" * 201},
        {**VALID, "title": 5},
        {**VALID, "title": None},
        without("title"),
        {**VALID, "content": ""},
        {**VALID, "content": "  "},
        {**VALID, "content": 5},
        without("content"),
        {**VALID, "category_id": 999},
        {**VALID, "category_id": "1"},
        {**VALID, "category_id": True},
        {**VALID, "category_id": None},
        without("category_id"),
        [],
        "x",
        None,
        7,
    ],
    ids=lambda body: repr(body)[:40],
)
def test_invalid_post_is_422(api, category_id, body):
    assert category_id == VALID["category_id"]
    expect_error(api.post("/api/posts", json=body), 422)
    assert api.db.count("posts") == 0


@pytest.mark.parametrize("raw", [b'{"title": "x", ', b"", b"not json", b"{'title': 'x'}"])
def test_malformed_json_is_422(api, category_id, raw):
    response = api.post("/api/posts", content=raw, headers={"Content-Type": "application/json"})
    expect_error(response, 422)
    assert api.db.count("posts") == 0


def test_malformed_json_category_is_422(api):
    response = api.post("/api/categories", content=b"{", headers={"Content-Type": "application/json"})
    expect_error(response, 422)
    assert api.db.count("categories") == 0
