"""Reads are counted by one atomic UPDATE: parallel reads are never lost."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import expect_json

pytestmark = pytest.mark.contract

READS = 50
THREADS = 25


def test_parallel_reads_are_all_counted(api):
    category = api.db.insert_category("Popular")
    post_id = api.db.insert_post(category, "Read by many")
    limits = httpx.Limits(max_connections=THREADS)
    with httpx.Client(base_url=api.server.url, timeout=60, limits=limits) as client:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            responses = list(pool.map(lambda _: client.get(f"/api/posts/{post_id}"), range(READS)))
    counts = [expect_json(response, 200)["read_count"] for response in responses]
    assert api.db.read_count(post_id) == READS
    # Each answer includes its own read and none counts reads that did not happen.
    assert all(1 <= count <= READS for count in counts), counts
    assert max(counts) == READS
