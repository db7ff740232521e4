"""Render: every output format is a view of one Catalog (each scenario's pages, of its Report)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from pydantic import TypeAdapter

from compare import bench_migrate, views
from compare.model import Catalog, Report
from compare.render import html, markdown
from compare.scenario import names


class ReportsError(Exception):
    """The reports directory cannot be used: another run holds it, or it cannot be written. One line, for the user."""


@contextmanager
def reserved(out: Path) -> Iterator[None]:
    """Hold `out` for one run, from before its first story to its last report file.

    A second run with the same reports directory stops at once (ReportsError) and says which run holds it, instead
    of overwriting the first one's reports later. The lock is `out/.lock`, released by the kernel if the run dies.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = open(out / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 (held until the end of the with block)
    except OSError as exc:
        raise ReportsError(f"cannot write the reports to {out}: {exc.strerror}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another run"
            raise ReportsError(f"{out} is in use by {holder}: wait for it to end, or choose --out DIR") from None
        previous = sum(f.stat().st_size for f in out.iterdir() if f.suffix in (".html", ".md", ".json"))
        free = shutil.disk_usage(out).free
        if free < previous:  # the new files are written beside the old ones before they replace them
            raise ReportsError(
                f"cannot write the reports to {out}: No space left on device ({_size(free)} free, the last run's "
                f"reports take {_size(previous)})"
            )
        try:
            lock.truncate(0)
            started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            lock.write(f"the run of pid {os.getpid()} started at {started}\n")
            lock.flush()
        except OSError as exc:  # the disk is full: the reports could not be written either
            raise ReportsError(f"cannot write the reports to {out}: {exc.strerror}") from None
        yield


def _size(n: int) -> str:
    return f"{n} bytes" if n < 10240 else f"{n // 1024} KiB"


def catalog_json(catalog: Catalog, parts: dict[str, bytes] | None = None) -> str:
    """compare.json's text: compact (the catalog is megabytes; `jq .` pretty-prints it), UTF-8 as it is. `parts`:
    scenario -> report_json() of its report in this catalog, when they were made already.

    pydantic-core's serializer writes what json.dumps(dataclasses.asdict(catalog)) writes, ten times faster (a float
    under 1e-4 spelled 0.00005 instead of 5e-05).
    """
    return b"".join(_catalog_chunks(catalog, parts)).decode()


def _catalog_chunks(catalog: Catalog, parts: dict[str, bytes] | None) -> list[bytes]:
    """catalog_json's UTF-8, in pieces to be written one after another (megabytes need not be copied once more)."""
    if not parts:
        return [_adapter(Catalog).dump_json(catalog), b"\n"]
    # the catalog without its reports, with each report's own text in its place: the same bytes as the whole at once
    # (no string of the JSON can hold the unescaped quotes of '"reports":[]')
    before, after = _adapter(Catalog).dump_json(dataclasses.replace(catalog, reports=[])).split(b'"reports":[]', 1)
    reports = b",".join(parts.get(r.scenario) or report_json(r) for r in catalog.reports)
    return [before, b'"reports":[', reports, b"]", after, b"\n"]


def report_json(report: Report) -> bytes:
    """A report's text inside compare.json: a run makes it as soon as the scenario's last story ends, while the other
    stories go on, so that the end of the run has only the last report's to make."""
    return _adapter(Report).dump_json(report)


@cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def write_json(catalog: Catalog, path: Path) -> None:
    _write(path, catalog_json(catalog))


def prepare() -> None:
    """Compile the templates and the highlighters the pages need (a run does it while the warm server starts)."""
    for env, kind in ((html.environment(), "html"), (markdown.environment(), "md")):
        for page in ("report", "index"):
            env.get_template(f"{page}.{kind}.j2")
    for language in html.LEXERS:
        html.highlight("", language)


def scenario_pages(report: Report) -> dict[str, str]:
    """A scenario's own pages (file name -> text): they need only its Report, so a run renders them as soon as the
    scenario's last story ends, while the other stories go on."""
    return {f"{report.scenario}.html": html.render(report), f"{report.scenario}.md": markdown.render(report)}


def write_all(
    catalog: Catalog,
    out: Path,
    rendered: dict[str, dict[str, str]] | None = None,
    parts: dict[str, bytes] | None = None,
) -> list[Path]:
    """Write compare.json, index.html and compare.md, and each scenario's .html and .md, into `out`; the index
    has a section on migrations at scale when `out` holds a bench-migrate.json. `rendered`: scenario ->
    scenario_pages() of its report in this catalog, when they were rendered already; `parts`: the same for
    report_json().

    All or nothing: every file is written to a temporary file first, and only when all are written do they replace
    the old ones (a reader never sees half a report, nor a new index beside old pages). Pages of scenarios that this
    run did not measure are removed, so that nothing on disk is older than the index that links to it. Raises
    ReportsError (the old reports left as they were) when the directory cannot be written.
    """
    scale = bench_migrate.index_summary(out / "bench-migrate.json")  # make bench-migrate's, when it ran here
    matrix = views.matrix(catalog.reports)  # once for both indexes: it is most of their time, at the run's end
    pages = {
        "compare.json": _catalog_chunks(catalog, parts),  # UTF-8 already: written as it is
        "index.html": html.render_index(catalog, matrix, scale),
        "compare.md": markdown.render_index(catalog, matrix, scale),
    }
    for report in catalog.reports:
        pages.update((rendered or {}).get(report.scenario) or scenario_pages(report))
    written: dict[Path, str] = {}
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            written[out / name] = _temp(out, name, text)
    except OSError as exc:
        for tmp in written.values():
            Path(tmp).unlink(missing_ok=True)
        raise ReportsError(
            f"cannot write the reports to {out}: {exc.strerror}; the reports there are unchanged"
        ) from None
    for path, tmp in written.items():
        os.replace(tmp, path)
    ran = {r.scenario for r in catalog.reports}
    for name in set(names()) - ran:
        for suffix in (".html", ".md"):
            (out / f"{name}{suffix}").unlink(missing_ok=True)
    (out / "compare.html").unlink(missing_ok=True)  # the single-scenario report of format 1
    return [out / "index.html", out / "compare.md", out / "compare.json"]


def _temp(directory: Path, name: str, text: str | list[bytes]) -> str:
    """Write `text` (or its UTF-8, in pieces) to a new temporary file beside `name` in `directory`; return its path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.writelines([text.encode()] if isinstance(text, str) else text)
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _write(path: Path, text: str) -> None:
    os.replace(_temp(path.parent, path.name, text), path)
