"""HTTP load on the three apps: requests/s and p50/p99 per app x backend -> reports/bench-http.json.

    python -m benchmarks.http_load [--framework flask] [--backend sqlite] [--requests 2000] [--concurrency 50]

Each app is served as in production (gunicorn or uvicorn, see tests/apps.py) on 127.0.0.1, on a fresh database
(a SQLite file in a temp directory, or a new database on the project's PostgreSQL server, dropped afterwards),
seeded with the same rows. Two workloads, each a fixed number of requests in a fixed, seeded order, sent by
`--concurrency` clients at once over keep-alive connections (httpx's async client):

- read-heavy: 90% counted reads of one hot post (GET /api/posts/{id}), 10% searches of the listing;
- mixed: 50% counted reads of the hot post, 20% searches, 20% new posts, 10% edits of a post.

Besides the speed, every run checks what the contract promises under load: the number of 5xx answers and of
failed connections, and whether the hot post's read counter moved by exactly the number of successful reads.
A run stops sending after `--time-limit` seconds; the report says how many requests were sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from compare import pg
from tests.apps import APPS_BY_NAME, BACKENDS, NAMES
from tests.support import TOKEN, LiveServer

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = {
    "read-heavy": {"read": 90, "search": 10},
    "mixed": {"read": 50, "search": 20, "create": 20, "edit": 10},
}
SEARCH_WORDS = ("post", "migration", "sqlite", "tutorial", "")
POSTS = 50
REQUEST_TIMEOUT = 30.0


@dataclass
class Result:
    """The figures of one workload on one app and backend."""

    framework: str
    backend: str
    workload: str
    concurrency: int
    requests_planned: int
    requests_sent: int = 0
    seconds: float = 0.0
    requests_per_second: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0  # 5xx answers
    failed_requests: int = 0  # no answer at all: refused, reset or timed out
    failures: dict[str, int] = field(default_factory=dict)  # by kind (httpx's exception class)
    successful_reads: int = 0
    read_counter_delta: int = 0
    read_counter_matches: bool = True


def plan(workload: str, count: int, seed: int) -> list[str]:
    """The kinds of request of one run, in a fixed order."""
    kinds, weights = zip(*WORKLOADS[workload].items(), strict=True)
    return random.Random(seed).choices(kinds, weights=weights, k=count)


def seed_rows(server: LiveServer) -> tuple[int, int]:
    """The same rows in every database; returns (a category id, the hot post's id)."""
    server.db.reset()
    category = server.db.insert_category("Benchmarks")
    for number in range(POSTS):
        server.db.insert_post(category, f"Post {number} about migration", f"Content {number}: sqlite tutorial.")
    return category, server.db.insert_post(category, "The hot post", "Read by everyone.")


async def send(client: httpx.AsyncClient, kind: str, category: int, hot: int, rng: random.Random) -> httpx.Response:
    if kind == "read":
        return await client.get(f"/api/posts/{hot}")
    if kind == "search":
        return await client.get("/api/posts", params={"q": rng.choice(SEARCH_WORDS), "page": rng.randint(1, 3)})
    if kind == "create":
        body = {"title": f"New post {rng.random()}", "content": "Written under load.", "category_id": category}
        return await client.post("/api/posts", json=body)
    return await client.patch(f"/api/posts/{rng.randint(1, POSTS)}", json={"content": f"Edited {rng.random()}"})


async def drive(server: LiveServer, result: Result, kinds: list[str], time_limit: float) -> None:
    category, hot = seed_rows(server)
    # Idle connections expire in the client before the servers close them (gunicorn after 2 s, uvicorn after 5 s).
    limits = httpx.Limits(
        max_connections=result.concurrency, max_keepalive_connections=result.concurrency, keepalive_expiry=1
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    queue = iter(kinds)
    deadline = time.monotonic() + time_limit

    async def worker(number: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(number)
        for kind in queue:
            if time.monotonic() > deadline:
                return
            result.requests_sent += 1
            started = time.perf_counter()
            try:
                response = await send(client, kind, category, hot, rng)
            except httpx.TransportError as error:
                result.failed_requests += 1
                failures[type(error).__name__] += 1
                continue
            latencies.append(time.perf_counter() - started)
            statuses[str(response.status_code)] += 1
            result.server_errors += response.status_code >= 500
            result.successful_reads += kind == "read" and response.status_code == 200

    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, limits=limits, timeout=REQUEST_TIMEOUT
    ) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(number, client) for number in range(result.concurrency)))
        result.seconds = round(time.perf_counter() - started, 3)

    result.statuses = dict(sorted(statuses.items()))
    result.failures = dict(sorted(failures.items()))
    result.requests_per_second = round(len(latencies) / result.seconds, 1) if result.seconds else 0.0
    if latencies:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        result.p50_ms, result.p99_ms = round(cuts[49] * 1000, 1), round(cuts[98] * 1000, 1)
    result.read_counter_delta = server.db.read_count(hot)
    result.read_counter_matches = result.read_counter_delta == result.successful_reads


def database_url(framework: str, backend: str, root: Path, created: list[str]) -> str:
    if backend == "sqlite":
        return f"sqlite:///{root / f'{framework}.sqlite3'}"
    name = f"bench_http_{framework}_{os.getpid()}"
    url = pg.create_database(name, exist_ok=False)
    created.append(name)
    return url


def run(args: argparse.Namespace) -> dict:
    results: list[Result] = []
    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        root = Path(tmp)
        try:
            for backend in args.backend:
                for framework in args.framework:
                    url = database_url(framework, backend, root, created)
                    server = LiveServer(APPS_BY_NAME[framework], url, TOKEN, root / f"{framework}-{backend}.log")
                    server.start()
                    try:
                        for index, workload in enumerate(args.workload):
                            result = Result(framework, backend, workload, args.concurrency, args.requests)
                            kinds = plan(workload, args.requests, seed=index)
                            asyncio.run(drive(server, result, kinds, args.time_limit))
                            results.append(result)
                            print(summary(result), flush=True)
                    finally:
                        server.stop()
                        server.db.engine.dispose()
        finally:
            for name in created:
                pg.drop_database(name)
    return {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "tool": f"httpx {httpx.__version__} AsyncClient, one event loop",
        "settings": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "time_limit_seconds": args.time_limit,
            "workloads": {name: WORKLOADS[name] for name in args.workload},
        },
        "results": [asdict(result) for result in results],
    }


def summary(result: Result) -> str:
    counter = "ok" if result.read_counter_matches else f"MOVED {result.read_counter_delta}"
    return (
        f"{result.framework:8} {result.backend:10} {result.workload:10} c={result.concurrency:<4}"
        f"{result.requests_per_second:8.1f} req/s  p50 {result.p50_ms} ms  p99 {result.p99_ms} ms  "
        f"sent {result.requests_sent}  5xx {result.server_errors}  "
        f"failed {result.failed_requests} {result.failures or ''}  "
        f"reads {result.successful_reads}, counter {counter}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_load", description=__doc__.split("\n")[0])
    parser.add_argument("--framework", action="append", choices=NAMES, help="repeat for several (default: all)")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="repeat for several (default: both)")
    parser.add_argument("--workload", action="append", choices=tuple(WORKLOADS), help="default: both")
    parser.add_argument("--requests", type=int, default=2000, help="per workload and app (default 2000)")
    parser.add_argument("--concurrency", type=int, default=50, help="clients at once (default 50)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per workload (default 60)")
    parser.add_argument("--output", type=Path, default=REPO / "reports" / "bench-http.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.framework = args.framework or list(NAMES)
    args.backend = args.backend or list(BACKENDS)
    args.workload = args.workload or list(WORKLOADS)
    report = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(f".{args.output.name}.{os.getpid()}")
    partial.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    partial.replace(args.output)
    print(f"wrote {args.output}")
    # Failed connections are reported, not judged: under overload, a kept-alive connection that the server closes
    # as idle just as the client reuses it fails whatever the app does (the contract tests use one per request).
    broken = [r for r in report["results"] if r["server_errors"] or not r["read_counter_matches"]]
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
