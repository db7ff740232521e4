"""The HTML pages: the index with its search form and pagination links, the post page, escaping."""

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from tests.support import expect_error

pytestmark = pytest.mark.contract

SCRIPT = "<script>alert(1)</script>"


class Page(HTMLParser):
    """The parts of a page the contract talks about: its title, links and form fields."""

    def __init__(self, html: str):
        super().__init__()
        self.title = ""
        self.links: list[str] = []
        self.fields: set[str] = set()
        self.forms = 0
        self._in_title = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        elif tag == "form":
            self.forms += 1
        elif tag in ("input", "select") and attributes.get("name"):
            self.fields.add(attributes["name"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def links_with(self, **params: str) -> list[str]:
        """The links whose query string holds all of `params`."""
        found = []
        for link in self.links:
            query = parse_qs(urlsplit(link).query)
            if all(query.get(key) == [value] for key, value in params.items()):
                found.append(link)
        return found


def get_page(client, path: str, **params) -> tuple[str, Page]:
    response = client.get(path, params=params or None)  # httpx replaces the query of `path` with `params`
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html"), response.headers
    return response.text, Page(response.text)


def test_index_lists_title_category_and_read_count(api):
    gardening = api.db.insert_category("Gardening")
    post_id = api.db.insert_post(gardening, "Growing tomatoes", "Sun and water.")
    api.db.update("posts", post_id, read_count=4321)
    html, page = get_page(api, "/")
    assert page.title.strip() == "Blog"
    assert "Growing tomatoes" in html
    assert "Gardening" in html
    assert "4321" in html
    assert any(urlsplit(link).path == f"/posts/{post_id}" for link in page.links), page.links
    assert api.db.read_count(post_id) == 4321  # the index does not count reads


def test_index_has_a_search_form(api):
    api.db.insert_category("Gardening")
    _, page = get_page(api, "/")
    assert page.forms >= 1
    assert {"q", "category_id"} <= page.fields


def test_the_search_form_submitted_empty_shows_everything(api):
    # What a browser sends for an empty search box and "all categories": empty values mean no filter.
    gardening = api.db.insert_category("Gardening")
    api.db.insert_post(gardening, "Growing tomatoes")
    html, _ = get_page(api, "/", q="", category_id="")
    assert "Growing tomatoes" in html


def test_index_filters_like_the_api(api):
    gardening = api.db.insert_category("Gardening")
    cooking = api.db.insert_category("Cooking")
    api.db.insert_post(gardening, "Tomato seedlings")
    api.db.insert_post(cooking, "Tomato sauce")
    api.db.insert_post(gardening, "Pruning roses")
    html, _ = get_page(api, "/", q="TOMATO", category_id=gardening)
    assert "Tomato seedlings" in html
    assert "Tomato sauce" not in html
    assert "Pruning roses" not in html


def test_pagination_links_keep_the_filters(api):
    gardening = api.db.insert_category("Gardening")
    cooking = api.db.insert_category("Cooking")
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for number in range(12):  # newest is "Rose 11"
        api.db.insert_post(gardening, f"Rose {number:02d}", created_at=start + timedelta(hours=number))
    api.db.insert_post(gardening, "Tulips", created_at=start + timedelta(days=1))
    api.db.insert_post(cooking, "Rose jam", created_at=start + timedelta(days=1))
    filters = {"q": "rose", "category_id": str(gardening)}

    html, first = get_page(api, "/", **filters)
    assert "Rose 11" in html and "Rose 02" in html and "Rose 01" not in html
    next_links = first.links_with(page="2", **filters)
    assert next_links, f"no link to page 2 with the filters among {first.links}"

    html, second = get_page(api, urljoin("/", next_links[0]))
    assert "Rose 01" in html and "Rose 00" in html and "Rose 02" not in html
    assert "Tulips" not in html and "Rose jam" not in html
    previous = second.links_with(**filters)
    assert any(parse_qs(urlsplit(link).query).get("page", ["1"]) == ["1"] for link in previous), second.links
    assert not second.links_with(page="3")


def test_titles_are_escaped(api):
    category = api.db.insert_category("<b>Bold</b>")
    post_id = api.db.insert_post(category, SCRIPT, content=f"Body {SCRIPT}")
    for path in ("/", f"/posts/{post_id}"):
        html, _ = get_page(api, path)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert SCRIPT not in html
        assert "<b>Bold</b>" not in html


def test_post_page_shows_the_post_and_counts_the_read(api):
    gardening = api.db.insert_category("Gardening")
    post_id = api.db.insert_post(
        gardening, "Growing tomatoes", "Sun and water.", datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    )
    api.db.update("posts", post_id, read_count=4320)
    html, page = get_page(api, f"/posts/{post_id}")
    assert page.title.strip() == "Blog"
    for shown in ("Growing tomatoes", "Gardening", "Sun and water.", "2026-01-05", "4321"):
        assert shown in html
    assert api.db.read_count(post_id) == 4321
    get_page(api, f"/posts/{post_id}")
    assert api.db.read_count(post_id) == 4322


@pytest.mark.parametrize("path", ["/posts/999", "/posts/abc", "/posts/0"])
def test_unknown_post_page_is_404_json(api, path):
    expect_error(api.get(path), 404)
