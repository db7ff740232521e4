"""GET /api/posts: search words, category filter, pages and their parameters, ordering."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import dumps, expect_error, expect_json

pytestmark = pytest.mark.contract

DAY_ONE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def titles(api, **params) -> list[str]:
    """The titles of the matching posts (a handful: they fit on the first page)."""
    page = expect_json(api.get("/api/posts", params=params), 200)
    assert page["total"] == len(page["items"])
    return [post["title"] for post in page["items"]]


@pytest.fixture
def library(api) -> dict[str, int]:
    """Two categories and posts to search, created in order (the last one is the newest)."""
    databases = api.db.insert_category("Databases")
    testing = api.db.insert_category("Testing")
    posts = [
        (databases, "Primary keys", "Every TABLE needs one."),
        (databases, "Indexes", "A b-tree makes lookups fast."),
        (testing, "Fixtures in pytest", "Tables are emptied between tests."),
        (testing, "Discounts", "Save 100% on snake_case names."),
        (databases, "Percent", "Nothing special here"),
    ]
    for number, (category, title, content) in enumerate(posts):
        api.db.insert_post(category, title, content, DAY_ONE + timedelta(hours=number))
    return {"databases": databases, "testing": testing}


def test_search_is_case_insensitive(api, library):
    assert titles(api, q="table") == ["Fixtures in pytest", "Primary keys"]
    assert titles(api, q="PRIMARY") == ["Primary keys"]


def test_search_tells_emoji_and_accents_apart(api):
    """A case-insensitive collation must still tell one emoji from another, and e from é (as SQLite and PostgreSQL
    do): MariaDB's utf8mb4_unicode_ci would match 🐍 with 🎉 and cafe with café."""
    category = api.db.insert_category("Food")
    api.db.insert_post(category, "Party 🎉", "Le café du matin.", DAY_ONE)
    api.db.insert_post(category, "Snake 🐍", "A cafe by the sea.", DAY_ONE + timedelta(hours=1))
    assert titles(api, q="🐍") == ["Snake 🐍"]
    assert titles(api, q="café") == ["Party 🎉"]
    assert titles(api, q="CAFE") == ["Snake 🐍"]


def test_search_covers_title_and_content(api, library):
    assert titles(api, q="indexes") == ["Indexes"]
    assert titles(api, q="b-tree") == ["Indexes"]


def test_every_word_must_match_in_title_or_content(api, library):
    assert titles(api, q="primary needs") == ["Primary keys"]
    assert titles(api, q="  table   EVERY ") == ["Primary keys"]
    assert titles(api, q="primary fixtures") == []


def test_empty_query_means_no_filter(api, library):
    assert len(titles(api, q="")) == 5
    assert len(titles(api, q="   ")) == 5


def test_search_combines_with_category(api, library):
    assert titles(api, q="table", category_id=library["testing"]) == ["Fixtures in pytest"]
    assert titles(api, category_id=library["databases"]) == ["Percent", "Indexes", "Primary keys"]


def test_unknown_category_gives_an_empty_page(api, library):
    response = api.get("/api/posts", params={"category_id": 999})
    expect_json(response, 200)
    assert response.content == b'{"items":[],"total":0,"page":1,"per_page":10,"pages":0}'


@pytest.mark.parametrize(("q", "expected"), [("%", ["Discounts"]), ("_", ["Discounts"]), ("e_c", ["Discounts"])])
def test_percent_and_underscore_are_literal(api, library, q, expected):
    assert titles(api, q=q) == expected


def test_wildcards_match_nothing_without_the_character(api):
    category = api.db.insert_category("Plain")
    api.db.insert_post(category, "No signs", "Just letters")
    assert titles(api, q="%") == []
    assert titles(api, q="_") == []
    assert titles(api, q="No%signs") == []


def test_empty_listing(api):
    response = api.get("/api/posts")
    expect_json(response, 200)
    assert response.content == b'{"items":[],"total":0,"page":1,"per_page":10,"pages":0}'


@pytest.fixture
def twelve(api) -> list[int]:
    """Twelve posts, one hour apart; returns their ids newest first."""
    category = api.db.insert_category("Numbers")
    ids = [
        api.db.insert_post(category, f"Post {number}", created_at=DAY_ONE + timedelta(hours=number))
        for number in range(12)
    ]
    return ids[::-1]


def test_defaults_are_page_1_of_10(api, twelve):
    page = expect_json(api.get("/api/posts"), 200)
    assert list(page) == ["items", "total", "page", "per_page", "pages"]
    assert (page["total"], page["page"], page["per_page"], page["pages"]) == (12, 1, 10, 2)
    assert [post["id"] for post in page["items"]] == twelve[:10]


@pytest.mark.parametrize(
    ("page", "per_page", "pages", "count"),
    [(2, 10, 2, 2), (1, 5, 3, 5), (3, 5, 3, 2), (4, 5, 3, 0), (9, 10, 2, 0), (1, 12, 1, 12), (2, 1, 12, 1)],
)
def test_pages(api, twelve, page, per_page, pages, count):
    body = expect_json(api.get("/api/posts", params={"page": page, "per_page": per_page}), 200)
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (12, page, per_page, pages)
    start = (page - 1) * per_page
    assert [post["id"] for post in body["items"]] == twelve[start : start + per_page]
    assert len(body["items"]) == count


def test_per_page_100_is_allowed(api, twelve):
    body = expect_json(api.get("/api/posts", params={"per_page": 100}), 200)
    assert (body["per_page"], body["pages"], len(body["items"])) == (100, 1, 12)


def test_page_json_is_exact(api):
    category = api.db.insert_category("Exact")
    post_id = api.db.insert_post(category, "Only", "Body", DAY_ONE)
    response = api.get("/api/posts", params={"per_page": 3})
    expect_json(response, 200)
    post = {
        "id": post_id,
        "title": "Only",
        "content": "Body",
        "category_id": category,
        "created_at": "2026-01-05T09:00:00Z",
        "read_count": 0,
    }
    assert response.content == dumps({"items": [post], "total": 1, "page": 1, "per_page": 3, "pages": 1})


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"page": "1.5"},
        {"page": ""},
        {"per_page": 0},
        {"per_page": 101},
        {"per_page": "abc"},
        {"category_id": "abc"},
        {"category_id": "true"},
    ],
    ids=lambda params: "&".join(f"{key}={value}" for key, value in params.items()),
)
def test_bad_query_parameters_are_422(api, params):
    expect_error(api.get("/api/posts", params=params), 422)


def test_newest_first_then_highest_id(api):
    category = api.db.insert_category("Ties")
    noon = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    older = api.db.insert_post(category, "Older", created_at=noon - timedelta(seconds=1))
    first_tie = api.db.insert_post(category, "Tie one", created_at=noon)
    newest = api.db.insert_post(category, "Newest", created_at=noon + timedelta(days=1))
    second_tie = api.db.insert_post(category, "Tie two", created_at=noon)
    oldest = api.db.insert_post(category, "Oldest", created_at=noon - timedelta(days=30))
    page = expect_json(api.get("/api/posts"), 200)
    assert [post["id"] for post in page["items"]] == [newest, second_tie, first_tie, older, oldest]
    paged = [expect_json(api.get("/api/posts", params={"per_page": 1, "page": n}), 200) for n in range(1, 6)]
    assert [page["items"][0]["id"] for page in paged] == [newest, second_tie, first_tie, older, oldest]
