"""Writes need `Authorization: Bearer <BLOG_API_TOKEN>`, reads never do; with no token set, none passes."""

import pytest

from tests.support import TOKEN, expect_error, expect_json

pytestmark = pytest.mark.contract

# (token, scheme) of the refused clients: no header, a wrong token, the right token in another scheme.
REFUSED = {"no header": (None, "Bearer"), "wrong token": ("wrong", "Bearer"), "basic": (TOKEN, "Basic")}


@pytest.fixture(params=list(REFUSED))
def intruder(request, server):
    token, scheme = REFUSED[request.param]
    with server.client(token, scheme) as client:
        yield client


@pytest.fixture
def existing(api) -> dict[str, int]:
    category = api.db.insert_category("Kept")
    post = api.db.insert_post(category, "Kept post")
    return {"category": category, "post": post}


def test_writes_without_the_token_are_401_and_change_nothing(api, existing, intruder):
    empty = api.db.insert_category("Empty")  # deleting it would succeed with the token
    writes = [
        ("POST", "/api/categories", {"name": "New"}),
        ("DELETE", f"/api/categories/{empty}", None),
        ("POST", "/api/posts", {"title": "New", "content": "New", "category_id": existing["category"]}),
        ("PATCH", f"/api/posts/{existing['post']}", {"title": "Changed"}),
        ("DELETE", f"/api/posts/{existing['post']}", None),
    ]
    before = (api.db.rows("categories"), api.db.rows("posts"))
    for method, path, body in writes:
        expect_error(intruder.request(method, path, json=body), 401)
    assert (api.db.rows("categories"), api.db.rows("posts")) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/posts", {"title": ""}),
        ("POST", "/api/categories", {}),
        ("PATCH", "/api/posts/999", {"title": "x"}),
        ("DELETE", "/api/posts/999", None),
        ("DELETE", "/api/categories/999", None),
    ],
)
def test_authentication_comes_before_validation_and_lookup(api, intruder, method, path, body):
    expect_error(intruder.request(method, path, json=body), 401)


@pytest.mark.parametrize("content", [b"{not json", b'{"name": "\xff"}'], ids=["malformed", "not-utf8"])
def test_authentication_comes_before_parsing_the_body(api, intruder, content):
    response = intruder.post("/api/categories", content=content, headers={"Content-Type": "application/json"})
    expect_error(response, 401)


def test_reads_need_no_token(api, existing, intruder):
    expect_json(intruder.get("/api/categories"), 200)
    expect_json(intruder.get("/api/posts"), 200)
    assert expect_json(intruder.get(f"/api/posts/{existing['post']}"), 200)["read_count"] == 1
    assert intruder.get("/").status_code == 200
    assert intruder.get(f"/posts/{existing['post']}").status_code == 200


def test_the_token_is_accepted(api, existing):
    expect_json(api.patch(f"/api/posts/{existing['post']}", json={"title": "Changed"}), 200)


def test_a_server_with_a_token_does_not_warn(server):
    assert "BLOG_API_TOKEN" not in server.log()


@pytest.fixture
def tokenless(server, servers):
    """The same app started without BLOG_API_TOKEN, on its own database."""
    unset = servers.get(server.app.name, server.backend, token=None)
    unset.db.reset()
    return unset


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer None", f"Bearer {TOKEN}", "Basic x"])
def test_a_server_without_token_refuses_every_write(tokenless, header):
    category = tokenless.db.insert_category("Kept")
    post = tokenless.db.insert_post(category, "Kept post")
    with tokenless.client(token=None) as client:
        headers = {} if header is None else {"Authorization": header}
        requests = [
            ("POST", "/api/categories", {"name": "New"}),
            ("POST", "/api/posts", {"title": "New", "content": "New", "category_id": category}),
            ("PATCH", f"/api/posts/{post}", {"title": "Changed"}),
            ("DELETE", f"/api/posts/{post}", None),
            ("DELETE", f"/api/categories/{category}", None),
        ]
        for method, path, body in requests:
            expect_error(client.request(method, path, json=body, headers=headers), 401)
        expect_json(client.get(f"/api/posts/{post}"), 200)
    assert [row["title"] for row in tokenless.db.rows("posts")] == ["Kept post"]
    assert tokenless.db.count("categories") == 1


def test_a_server_without_token_warns_once_per_process(tokenless):
    # One line per worker process is acceptable; each mentions the variable.
    warnings = [line for line in tokenless.log().splitlines() if "BLOG_API_TOKEN" in line]
    assert 1 <= len(warnings) <= tokenless.app.workers, warnings
