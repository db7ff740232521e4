"""Every error, on any path, is JSON with `detail`; an unexpected one is a bare 500 and a logged traceback."""

import pytest

from tests.support import expect_error

pytestmark = pytest.mark.contract


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", "/api/nowhere"),
        ("GET", "/api"),
        ("POST", "/nowhere"),
        ("GET", "/posts/999"),
        ("GET", "/posts/abc"),
        ("GET", "/api/categories/1/posts"),
    ],
)
def test_unknown_routes_are_404_json(api, method, path):
    expect_error(api.request(method, path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/categories"),
        ("DELETE", "/api/categories"),
        ("GET", "/api/categories/1"),
        ("PATCH", "/api/categories/1"),
        ("PUT", "/api/posts/1"),
        ("DELETE", "/api/posts"),
        ("POST", "/api/posts/1"),
        ("POST", "/"),
        ("DELETE", "/posts/1"),
    ],
)
def test_wrong_methods_are_405_json(api, method, path):
    category = api.db.insert_category("Any")
    api.db.insert_post(category, "Any")
    expect_error(api.request(method, path, json={"title": "x"}), 405)


def test_every_kind_of_error_has_a_detail(api):
    category = api.db.insert_category("Busy")
    api.db.insert_post(category, "Post")
    with api.server.client(token=None) as anonymous:
        expect_error(anonymous.post("/api/categories", json={"name": "New"}), 401)
    expect_error(api.get("/api/posts/999"), 404)
    expect_error(api.request("PUT", "/api/posts"), 405)
    expect_error(api.post("/api/categories", json={"name": "Busy"}), 409)
    expect_error(api.delete(f"/api/categories/{category}"), 409)
    expect_error(api.post("/api/posts", json={}), 422)
    expect_error(api.get("/api/posts", params={"page": 0}), 422)
    expect_error(api.get("/", params={"per_page": 101}), 422)


def test_an_unexpected_error_is_a_bare_500_and_a_logged_traceback(api):
    category = api.db.insert_category("Any")
    api.db.insert_post(category, "Any")
    log_start = len(api.server.log())
    api.db.execute("ALTER TABLE posts RENAME TO posts_hidden")
    try:
        response = api.get("/api/posts")
    finally:
        api.db.execute("ALTER TABLE posts_hidden RENAME TO posts")
    assert expect_error(response, 500) == "Internal Server Error"
    assert response.content == b'{"detail":"Internal Server Error"}'
    assert "Traceback" not in response.text
    assert "Traceback" in api.server.wait_for_log("Traceback", start=log_start)
    # The server is still serving.
    assert api.get("/api/posts").status_code == 200


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/categories", {"name": NUL}),
        ("/api/categories", {"name": "Fine", "description": NUL}),
        ("/api/posts", {"title": NUL, "content": "c"}),
        ("/api/posts", {"title": "t", "content": NUL}),
    ],
    ids=["category-name", "category-description", "post-title", "post-content"],
)
def test_the_nul_character_is_refused_in_text(api, path, body):
    """PostgreSQL cannot store NUL in text: every app refuses it with 422 on every backend, never a 500."""
    if path == "/api/posts":
        body = {**body, "category_id": api.db.insert_category("Databases")}
    expect_error(api.post(path, json=body), 422)
    assert api.db.rows("posts") == [] and all(r["name"] != NUL for r in api.db.rows("categories"))


@pytest.mark.parametrize("path", ["/api/posts", "/"])
def test_the_nul_character_is_refused_in_the_search(api, path):
    expect_error(api.get(path, params={"q": NUL}), 422)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_body_that_is_not_utf8_is_422(api, content_type):
    response = api.post("/api/categories", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": content_type})
    expect_error(response, 422)
