"""Under load: many clients at once get no 5xx and no failed connection, and no read or write is lost.

Each test opens all its connections at once (one asyncio client per test), so the server really holds that many
requests in flight; the counts are small enough for the whole file to run in well under a minute on 2 cores.
"""

import asyncio

import httpx
import pytest

from tests.support import TLS, TOKEN, expect_json

pytestmark = pytest.mark.contract

READERS = 200
READS_PER_READER = 1
WRITERS = 50
CREATES_PER_WRITER = 2


async def in_parallel(server_url: str, clients: int, requests: list[tuple[str, str, dict | None]]) -> list:
    """Send `requests` from `clients` connections at once; return each response, or the exception it raised."""
    # A new connection per request: a request sent on a kept-alive connection just when the server closes it
    # as idle (gunicorn after 2 s, uvicorn after 5 s) would fail whatever the app does.
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=server_url, headers=headers, limits=limits, timeout=60, verify=TLS) as client:
        start = asyncio.Event()
        queue = iter(requests)

        async def worker() -> list:
            await start.wait()
            answers = []
            for method, path, body in queue:
                try:
                    answers.append(await client.request(method, path, json=body))
                except httpx.TransportError as error:
                    answers.append(error)
            return answers

        workers = [asyncio.create_task(worker()) for _ in range(clients)]
        await asyncio.sleep(0)  # every worker waits at the start line
        start.set()
        return [answer for answers in await asyncio.gather(*workers) for answer in answers]


def statuses(answers: list) -> dict:
    """How many answers of each status, and how many requests failed without one."""
    counts: dict = {}
    for answer in answers:
        key = answer.status_code if isinstance(answer, httpx.Response) else type(answer).__name__
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_concurrent_reads_are_all_counted_and_each_answer_shows_its_own(api):
    category = api.db.insert_category("Popular")
    post_id = api.db.insert_post(category, "Read by many")
    reads = READERS * READS_PER_READER
    answers = asyncio.run(in_parallel(api.server.url, READERS, [("GET", f"/api/posts/{post_id}", None)] * reads))
    assert statuses(answers) == {200: reads}
    assert api.db.read_count(post_id) == reads
    # The counter and the answers agree: each read answered with the count its own increment made.
    assert sorted(expect_json(answer, 200)["read_count"] for answer in answers) == list(range(1, reads + 1))


def test_concurrent_creates_are_all_stored(api):
    category = api.db.insert_category("Busy")
    creates = WRITERS * CREATES_PER_WRITER
    bodies = [{"title": f"Post {n}", "content": "Written at once.", "category_id": category} for n in range(creates)]
    answers = asyncio.run(in_parallel(api.server.url, WRITERS, [("POST", "/api/posts", body) for body in bodies]))
    assert statuses(answers) == {201: creates}
    created = [expect_json(answer, 201) for answer in answers]
    assert len({post["id"] for post in created}) == creates
    assert sorted(row["title"] for row in api.db.rows("posts")) == sorted(body["title"] for body in bodies)


def test_concurrent_reads_and_writes_of_one_post(api):
    """Edits and counted reads of the same row at once: no 5xx, no lost read, the last edit wins whole."""
    category = api.db.insert_category("Contended")
    post_id = api.db.insert_post(category, "Hot")
    reads = WRITERS
    requests = [("GET", f"/api/posts/{post_id}", None)] * reads
    requests += [("PATCH", f"/api/posts/{post_id}", {"content": f"Edit {n}"}) for n in range(reads)]
    answers = asyncio.run(in_parallel(api.server.url, WRITERS, requests))
    assert statuses(answers) == {200: 2 * reads}
    assert api.db.read_count(post_id) == reads
    assert api.db.rows("posts")[0]["content"] in {f"Edit {n}" for n in range(reads)}
