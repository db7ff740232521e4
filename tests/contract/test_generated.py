"""Generated requests: schemathesis cases from FastAPI's OpenAPI schema, replayed against all three apps.

Every case (valid and invalid ones, derived from the schema with a fixed seed) goes to FastAPI, Django and Flask
in turn, on the same backend and the same rows, and the three answers must agree: the status code always, the
body too for 2xx answers (with `created_at`, the time of the request, left out). Error bodies may differ by
contract. Then hypothesis property tests of the validation rules: for generated bodies and parameters, every app
answers what docs/contract.md's rule, written here independently of the apps, says. The number of examples is
fixed and the generation derandomized, so each run is bounded and the same every time.
"""

import json
import re

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.apps import BACKENDS, NAMES
from tests.support import TLS, TOKEN

pytestmark = [pytest.mark.contract, pytest.mark.generated]

EXAMPLES = 120
AUTHORIZATION = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(params=BACKENDS)
def trio(request: pytest.FixtureRequest, servers) -> dict:
    """The three live servers on one backend, each on the same rows."""
    trio = {name: servers.get(name, request.param) for name in NAMES}
    for server in trio.values():
        server.db.reset()
        for name in ("Databases", "Python"):
            category = server.db.insert_category(name, f"All about {name}")
            for number in range(3):
                server.db.insert_post(category, f"{name} {number}", f"Post {number} on {name.lower()}.")
    return trio


def comparable(response: httpx.Response) -> tuple:
    """What must be the same in every app: the status, and a 2xx body without the request times."""
    if response.status_code >= 300 or not response.content:
        return (response.status_code,)
    return (response.status_code, json.loads(response.content, object_hook=without_created_at))


def without_created_at(value: dict) -> dict:
    value.pop("created_at", None)
    return value


def send(client: httpx.Client, kwargs: dict) -> httpx.Response:
    """Send a case serialised for `requests` (schemathesis' transport) through httpx."""
    body = kwargs.get("json")
    content = kwargs.get("data") if body is None else json.dumps(body).encode()
    if isinstance(content, str):
        content = content.encode()
    return client.request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=kwargs["headers"], content=content
    )


def test_generated_requests_are_answered_alike(trio):
    fastapi = trio["fastapi"]
    schema = schemathesis.openapi.from_dict(httpx.get(f"{fastapi.url}/openapi.json", timeout=30).json())
    operations = [result.ok() for result in schema.get_all_operations()]
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    cases = st.one_of(*(operation.as_strategy(generation_mode=mode) for operation in operations for mode in modes))
    clients = {name: httpx.Client(timeout=30, verify=TLS) for name in trio}
    seen: set[tuple[str, int]] = set()

    @settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def answered_alike(case) -> None:
        answers = {}
        for name, server in trio.items():
            kwargs = case.as_transport_kwargs(base_url=server.url, headers=AUTHORIZATION)
            answers[name] = send(clients[name], kwargs)
        shown = {name: comparable(response) for name, response in answers.items()}
        request = answers["fastapi"].request
        where = f"{request.method} {request.url.raw_path.decode()} {request.content[:300]!r}"
        assert all(status < 500 for status, *_ in shown.values()), f"{where}: {shown}"
        assert shown["django"] == shown["fastapi"] == shown["flask"], f"{where}: {shown}"
        seen.add((request.method, shown["fastapi"][0]))

    try:
        answered_alike()
    finally:
        for client in clients.values():
            client.close()
    # The cases reached the apps' logic, not only their validation: some succeeded and some were refused.
    assert {status for _, status in seen if status < 300} and {status for _, status in seen if status == 422}, seen


# --- property-based tests of the validation rules ------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udbff"])
TEXT = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=" \t\n\x00\x1fab", max_size=5),
    SURROGATES,
    st.text(min_size=195, max_size=205),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)


def is_text(value: object, max_length: int | None = None) -> bool:
    """The contract's rule for a text field: a string, not blank, not too long, no NUL, no lone surrogate."""
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        return False
    if max_length is not None and len(value) > max_length:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def post_is_valid(body: dict, category_id: int) -> bool:
    """docs/contract.md's rules for a new post, written independently of the three apps."""
    text = json.dumps(body)
    if "NaN" in text or "Infinity" in text or nesting(body) > 32:  # NaN and Infinity only appear as literals here
        return False
    return (
        is_text(body.get("title"), 200)
        and is_text(body.get("content"))
        and type(body.get("category_id")) is int
        and body["category_id"] == category_id
    )


def nesting(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    return 0


def statuses_of(trio: dict, clients: dict, method: str, path: str, **kwargs) -> dict:
    return {
        name: clients[name].request(method, f"{server.url}{path}", **kwargs).status_code
        for name, server in trio.items()
    }


@pytest.fixture
def clients(trio) -> dict:
    clients = {name: httpx.Client(timeout=30, headers=AUTHORIZATION, verify=TLS) for name in trio}
    yield clients
    for client in clients.values():
        client.close()


def test_a_new_post_is_created_exactly_when_the_contract_says(trio, clients):
    category_id = 1
    outcomes = set()

    @PROPERTY_SETTINGS
    @given(
        title=st.text(min_size=1, max_size=30).filter(str.strip),
        content=st.text(min_size=1, max_size=30).filter(str.strip),
        field=st.sampled_from([None, "title", "content", "category_id", "extra"]),
        value=st.one_of(TEXT, st.integers(-2, 10**20), JSON_VALUES),
        drop=st.booleans(),
    )
    def created_when_valid(title, content, field, value, drop) -> None:
        # A valid post, then at most one field replaced by anything (or left out).
        body = {"title": title, "content": content, "category_id": category_id}
        if field is not None and drop and field in body:
            del body[field]
        elif field is not None:
            body[field] = value
        content_bytes = json.dumps(body).encode()  # ASCII: lone surrogates travel as \\ud800 escapes
        statuses = statuses_of(trio, clients, "POST", "/api/posts", content=content_bytes)
        expected = 201 if post_is_valid(body, category_id) else 422
        assert statuses == dict.fromkeys(trio, expected), body
        outcomes.add(expected)

    created_when_valid()
    assert outcomes == {201, 422}  # the examples reached both sides of the rule


def test_integer_parameters_follow_the_contract(trio, clients):
    @PROPERTY_SETTINGS
    @given(
        name=st.sampled_from(["page", "per_page", "category_id"]),
        value=st.one_of(st.text(max_size=6), st.integers(-5, 200).map(str)),
    )
    def answered_as_the_rule_says(name, value) -> None:
        statuses = statuses_of(trio, clients, "GET", "/api/posts", params={name: value})
        integer = re.fullmatch(r"-?[0-9]+", value) is not None
        if name == "page":
            valid = integer and int(value) >= 1
        elif name == "per_page":
            valid = integer and 1 <= int(value) <= 100
        else:
            valid = value == "" or integer
        assert statuses == dict.fromkeys(trio, 200 if valid else 422), (name, value)

    answered_as_the_rule_says()


def test_a_search_is_refused_exactly_when_it_has_too_many_words(trio, clients):
    @PROPERTY_SETTINGS
    @given(
        words=st.lists(st.text(alphabet="ab%_\u00e9", min_size=1, max_size=3), max_size=40),
        gap=st.sampled_from([" ", "  ", "\t", "\n"]),
    )
    def refused_when_too_long(words, gap) -> None:
        q = gap.join(words)
        statuses = statuses_of(trio, clients, "GET", "/api/posts", params={"q": q})
        assert statuses == dict.fromkeys(trio, 422 if len(q.split()) > 32 else 200), q

    refused_when_too_long()
