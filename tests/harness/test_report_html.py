"""The HTML report of a real run, opened in headless Chromium: its sections show, and it makes no network request.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), so no websocket package is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from compare import render, runner, scenario, views
from compare.adapters import ADAPTERS
from compare.backends import SQLiteBackend
from compare.model import Report
from compare.render.html import slug
from tests.support import missing

pytestmark = [pytest.mark.harness, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "reports" / "compare-report.png"
SECTIONS = [
    "Findings",
    "Known differences between the frameworks",
    "The three steps of migration, measured",
    "Steps and schemas, per variant and backend",
    "Entity-relationship diagrams",
    "Generated migration scripts and hand edits",
    "Executed SQL",
    "Lint: squawk and the lab's rules, held against the run",
    "Data: existing rows",
    "Checks",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; skip when it is missing, except on CI (CI=true), where the test must run."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "headless Chromium not found: install it with `apt-get install chromium` to run the HTML report test"
        missing(message)
    return path


class Browser:
    """Headless Chromium speaking the DevTools protocol over a pipe: JSON messages ending in NUL on fds 3 and 4."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0):
        self.timeout, self.events, self.buffer, self.next_id = timeout, [], b"", 0
        cmd_read, self.cmd = _pipe_above_9()
        self.replies, reply_write = _pipe_above_9()
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # belt and braces: no name resolves, even if something asked
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # bash moves our pipe ends to the fds Chromium expects (3: commands in, 4: replies out).
        redirect = f'exec "$0" "$@" 3<&{cmd_read} 4>&{reply_write} {cmd_read}<&- {reply_write}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", redirect, binary, *flags],
            pass_fds=(cmd_read, reply_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(cmd_read)
        os.close(reply_write)
        self.session = None

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command (to the page session once attached) and return its result."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session or self.session:
            message["sessionId"] = session or self.session
        os.write(self.cmd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, predicate, since: int = 0) -> dict:
        """The first event from index `since` on that matches, reading more until it comes."""
        while True:
            for event in self.events[since:]:
                if predicate(event):
                    return event
            since = len(self.events)
            reply = self._read()
            if "method" in reply:
                self.events.append(reply)

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                raise TimeoutError(f"Chromium did not answer within {self.timeout:.0f} s")
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe (exit code {self.proc.poll()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def open_page(self) -> None:
        """A new tab, attached, with the network, page, runtime and log domains reporting events."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Network", "Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.setLifecycleEventsEnabled", {"enabled": True})
        self.send("Emulation.setScrollbarsHidden", {"hidden": True})
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1600, "height": 1200, "deviceScaleFactor": 1, "mobile": False},
        )

    def navigate(self, url: str) -> None:
        """Load the URL and wait until the network has been idle (no request in flight for 500 ms)."""
        since = len(self.events)
        loader = self.send("Page.navigate", {"url": url})["loaderId"]
        self.wait_for(
            lambda e: (
                e["method"] == "Page.lifecycleEvent"
                and e["params"]["name"] == "networkIdle"
                and e["params"]["loaderId"] == loader
            ),
            since,
        )

    def js(self, expression: str):
        """Evaluate a JavaScript expression in the page and return its value."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise AssertionError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def key(self, key: str, code: int, text: str = "") -> None:
        for kind in ("keyDown", "keyUp"):
            event = {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": code}
            self.send("Input.dispatchKeyEvent", {**event, "text": text} if text and kind == "keyDown" else event)

    def close(self) -> None:
        try:
            self.session = None
            self.send("Browser.close")
            self.proc.wait(timeout=15)
        except (RuntimeError, TimeoutError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self.cmd)
            os.close(self.replies)


def _pipe_above_9() -> tuple[int, int]:
    """A pipe whose fds are above 9, so moving them to 3 and 4 in the child never clobbers one of them."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Report, list[Path]]:
    """One real run of every framework and variant on SQLite, written by render.write_all."""
    story = scenario.load("add_read_count")
    catalog, _ = runner.run([story], list(ADAPTERS), None, [SQLiteBackend()])
    out = tmp_path_factory.mktemp("reports")
    render.write_all(catalog, out)
    return catalog.reports[0], [out / "add_read_count.html", out / "index.html"]


@pytest.fixture(scope="module")
def html_file(report) -> Path:
    _, paths = report
    return paths[0]


@pytest.fixture(scope="module")
def index_file(report) -> Path:
    _, paths = report
    return paths[1]


@pytest.fixture(scope="module")
def page(chromium, html_file, tmp_path_factory):
    """The report loaded in headless Chromium; every DevTools event of the load is kept in page.events."""
    browser = Browser(chromium, tmp_path_factory.mktemp("chromium-profile"))
    try:
        browser.open_page()
        browser.navigate(html_file.as_uri())
        yield browser
    finally:
        browser.close()


def test_write_all_writes_the_html_report(report, html_file):
    text = html_file.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert report[0].title in text


def test_the_file_references_nothing_outside_itself(html_file):
    text = html_file.read_text(encoding="utf-8")
    assert not re.findall(r"<(?:link|img|iframe|object|embed|base)\b", text, re.I)
    assert not re.findall(r"<script\b[^>]*\bsrc\s*=", text, re.I)
    assert not re.findall(r"@import|url\(", text, re.I)
    targets = re.findall(r"\b(?:href|src|xlink:href|action|poster)\s*=\s*[\"']([^\"']*)", text, re.I)
    outside = [t for t in targets if not t.startswith("#") and t != "index.html"]
    assert targets and not outside, outside  # its own anchors, and the catalog page beside it


def test_loading_makes_no_network_request(page, html_file):
    requests = [e["params"]["request"]["url"] for e in page.events if e["method"] == "Network.requestWillBeSent"]
    assert requests and set(requests) == {html_file.as_uri()}  # the document itself, and nothing else
    errors = [
        e
        for e in page.events
        if e["method"] in ("Runtime.exceptionThrown", "Network.loadingFailed")
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
    ]
    assert errors == []


def test_sections_are_visible_in_order(page):
    headings = page.js(
        "[...document.querySelectorAll('main h2')].filter(h => h.checkVisibility()).map(h => h.textContent)"
    )
    assert headings == SECTIONS
    assert page.js("document.querySelector('#verdict').checkVisibility()")


def test_the_verdict_and_environment_come_from_the_report(page, report):
    result, _ = report
    verdict = " ".join(page.js("document.querySelector('#verdict').textContent").split())
    # it says what was verified and what was found, never a bare "all is well"
    assert verdict.startswith("3 frameworks × 3 variants × 1 backend measured:")
    _, rows = views.matrix([result])
    for outcome, n in views.tally(rows).items():
        assert f"{n} {views.OUTCOMES[outcome]}" in verdict
    assert ("every outcome as the scenario documents" in verdict) == result.ok
    header = page.js("document.querySelector('header.top').textContent")
    for key, value in result.environment.items():
        assert f"{key} {value}" in header
    for s in result.stories:
        for package, version in s.tool_versions.items():
            assert f"{package} {version}" in header


def test_the_comparison_table_shows_each_command_and_the_manual_steps(page, report):
    result, _ = report
    _, _, stories = views.main_group(result)
    table = page.js(
        """[...document.querySelectorAll('#operations table tr')].map(tr =>
             [...tr.children].map(c => c.textContent.replace(/\\s+/g, ' ').trim()))"""
    )
    assert table[0] == ["operation", *(views.tool_title(s.framework) for s in stories)]
    assert [row[0] for row in table[1:]] == [label for label, _ in views.operations(stories)] + ["Manual steps"]
    for (label, cells), row in zip(views.operations(stories), table[1:], strict=False):
        for s, text in zip(stories, row[1:], strict=True):
            step = cells[s.framework]
            if step and step.command:
                assert all(line in text for line in step.command.splitlines()), (label, text)
                assert f"{step.seconds:.2f} s" in text
    for s, text in zip(stories, table[-1][1:], strict=True):
        init = s.role("init")
        n = views.manual_edit_lines(init)
        files = sorted({line[6:] for line in (init.diff or "").splitlines() if line.startswith("+++ b/")})
        assert text == (f"{n} hand-edited lines in {', '.join(files)}" if n else "none")


def test_schema_grids_mark_added_columns_and_known_differences(page, report):
    result, _ = report
    seen = Counter()
    for variant, backend, stories in views.groups(result):
        rows = views.schema_rows(stories, "upgrade_change", "seed")
        if not any(s.step("upgrade_change") for s in stories):
            continue
        anchor = slug("group", variant, backend, "upgrade_change")
        grid = page.js(
            f"""[...document.querySelectorAll('#{anchor} + .scroll tbody tr')]
                .map(tr => [tr.querySelector('th').textContent, [...tr.querySelectorAll('td')]
                .map(td => ({{cls: td.className, title: td.title}}))])"""
        )
        marked = dict(grid)
        for r in rows:
            if r.bookkeeping:  # shown once per page, in the first grid only
                assert f"{r.table}.{r.column}" not in marked
                continue
            cells = marked[f"{r.table}.{r.column}"]
            for s, cell in zip(stories, cells, strict=True):
                if r.change.get(s.framework) == "added":
                    assert "added" in cell["cls"].split()
                    seen["added"] += 1
            for d in r.known:
                assert any(d.text in c["title"] and "differs-known" in c["cls"] for c in cells), (r.table, r.column)
                seen["known"] += 1
            assert any("differs-unexplained" in c["cls"] for c in cells) == bool(r.unexplained)
    assert seen["added"] and seen["known"]  # the run added a column and measured known differences


def test_er_diagrams_draw_every_table_column_and_foreign_key(page, report):
    result, _ = report
    variant, backend, stories = views.main_group(result)
    figures = page.js(
        f"""[...document.querySelectorAll('#{slug("er", variant, backend)} figure')].map(f => ({{
              visible: !!f.querySelector('svg') && f.querySelector('svg').getBoundingClientRect().width > 100,
              tables: [...f.querySelectorAll('.er-name')].map(t => t.textContent),
              columns: [...f.querySelectorAll('.er-col')].map(t => t.textContent),
              links: f.querySelectorAll('.er-link').length}}))"""
    )
    assert len(figures) == len(stories)
    for s, fig in zip(stories, figures, strict=True):
        schema = s.step("upgrade_change").schema
        assert fig["visible"]
        assert sorted(fig["tables"]) == sorted(t.name for t in schema.tables)
        assert sorted(fig["columns"]) == sorted(c.name for t in schema.tables for c in t.columns)
        assert fig["links"] == sum(len(t.foreign_keys) for t in schema.tables)


def test_table_rebuilds_are_flagged_in_the_sql(page, report):
    result, _ = report
    rebuilds = 0
    for s in result.stories:
        for st in s.steps:
            shown = page.js(
                f"""(() => {{ const d = document.querySelector('[data-story="{s.key}"][data-step="{st.id}"]');
                     return d && {{badges: [...d.querySelectorAll('.badge.rebuild')].map(b => b.textContent),
                                   flagged: d.querySelectorAll('.stmt.flagged').length}}; }})()"""
            )
            if st.kind not in ("upgrade", "rollback"):
                assert shown is None
                continue
            tables = views.rebuilt_tables(st)
            rebuilds += len(tables)
            assert shown["badges"] == [f"table rebuild: {t}" for t in tables]
            assert shown["flagged"] == len(views.rebuild_statements(st))
    assert rebuilds  # the run did rebuild tables (Django and Flask-Migrate on SQLite)


def test_data_section_shows_the_old_rows_values_and_survival(page, report):
    result, _ = report
    for variant, backend, stories in views.groups(result):
        table = page.js(
            f"""[...document.querySelectorAll('#{slug("data", variant, backend)} + .scroll tbody tr:not(.sub)')]
                .map(tr => [...tr.children].map(c => c.textContent.replace(/\\s+/g, ' ').trim()))"""
        )
        survival = table[-1]
        assert survival[0] == "Every row and value from before the change survived"
        for s, text in zip(stories, survival[1:], strict=True):
            c = next((c for c in s.checks if c.name == "data_survives"), None)
            assert (c.detail in text) if c else text == "not checked in this variant"
        columns = [
            (r.table, r.column)
            for r in views.schema_rows(stories, "upgrade_change", "seed")
            if "added" in r.change.values()
        ]
        if not columns:
            continue
        (name, column) = columns[0]
        values = table[
            : max(len(s.step("upgrade_change").data.rows[name]) for s in stories if s.step("upgrade_change"))
        ]
        for s, i in zip(stories, range(1, len(stories) + 1), strict=True):
            step = s.step("upgrade_change")
            if step is None:  # the story stopped earlier (Django refuses the unsafe change at generate)
                assert {row[i] for row in values} == {"—"}
                continue
            rows = step.data.rows[name]
            assert [row[i] for row in values] == ["NULL" if r.get(column) is None else str(r[column]) for r in rows]


def test_checks_matrix_with_outputs_one_click_away(page, report):
    result, _ = report
    for variant, backend, stories in views.groups(result):
        cells = page.js(
            f"""[...document.querySelectorAll('#{slug("checks", variant, backend)} + .scroll tbody tr')].map(tr =>
                [tr.querySelector('th').textContent, [...tr.querySelectorAll('td')].map(td => ({{
                    badge: td.querySelector('.badge').textContent,
                    output: td.querySelector('details.more') && !td.querySelector('details.more').open}}))])"""
        )
        assert [name for name, _ in cells] == list(dict.fromkeys(c.name for s in stories for c in s.checks))
        for name, row in cells:
            for s, cell in zip(stories, row, strict=True):
                c = next(c for c in s.checks if c.name == name)
                expected = {
                    (True, True): "pass",
                    (True, False): "pass, but a failure was expected",
                    (False, False): "known failure",
                    (False, True): "FAIL",
                }[c.passed, c.expected]
                assert cell["badge"] == expected
                assert bool(cell["output"]) == bool(c.output)  # output present, and closed until clicked
    opened = page.js(
        """(() => { const d = document.querySelector('#checks details.more');
                    d.querySelector('summary').click();
                    return d.open && d.querySelector('pre').checkVisibility(); })()"""
    )
    assert opened


def test_keyboard_reaches_the_contents_with_a_visible_focus(page, html_file):
    page.navigate(html_file.as_uri())
    page.key("Tab", 9)
    first = page.js("[document.activeElement.className, document.activeElement.checkVisibility()]")
    assert first == ["skip", True]
    page.key("Tab", 9)
    assert page.js("document.activeElement.getAttribute('href')") == "index.html"  # back to the catalog
    page.key("Tab", 9)
    focused = page.js(
        """(() => { const a = document.activeElement, s = getComputedStyle(a);
                    return [a.getAttribute('href'), s.outlineStyle, parseFloat(s.outlineWidth)]; })()"""
    )
    # the first matrix row links to its variant's detail further down
    assert focused[0] == "#group-tutorial-sqlite" and focused[1] != "none" and focused[2] >= 2
    # A section is a real <details>: focus its summary and press Enter to fold it.
    assert page.js(
        "(() => { const s = document.querySelector('#findings summary'); s.focus(); return s.parentElement.open; })()"
    )
    page.key("Enter", 13, "\r")
    assert page.js("document.querySelector('#findings details').open") is False


def test_print_shows_every_section_expanded(page, html_file):
    page.navigate(html_file.as_uri())
    closed = page.js("document.querySelectorAll('details:not([open])').length")
    assert closed > 0  # the check outputs start folded on screen
    page.send("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        hidden = page.js(
            """[...document.querySelectorAll('details')].flatMap(d => [...d.children])
                 .filter(c => c.tagName !== 'SUMMARY' && !c.checkVisibility()).length"""
        )
    finally:
        page.send("Emulation.setEmulatedMedia", {"media": ""})
    assert hidden == 0


def test_the_rollback_losses_are_shown_beside_the_data(page, report):
    """What the rollback destroyed (the counted reads) is on the page, as measured."""
    result, _ = report
    _, _, stories = next(g for g in views.groups(result) if g[0] == "safe")
    text = page.js(f"document.querySelector('#{slug('data', 'safe', 'sqlite')} + .scroll').textContent")
    for s in stories:
        (lost,) = s.step("rollback").data_changes
        assert views.change_text(lost) in text


def test_a_failed_step_says_what_it_left(page, report):
    """The unsafe variant's ER section says what the failed upgrade left, never that the schema did not change."""
    figures = page.js(
        f"[...document.querySelectorAll('#{slug('er', 'unsafe', 'sqlite')} figure')].map(f => f.textContent)"
    )
    assert any("it left behind: posts.subtitle added" in f for f in figures), figures
    assert not any("did not change" in f for f in figures)


def test_the_first_screen_of_the_catalog_shows_the_matrix(chromium, index_file, tmp_path_factory):
    """At 1024x768 the matrix is on the first screen, fits the width, and each cell names its outcome."""
    browser = Browser(chromium, tmp_path_factory.mktemp("chromium-index"))
    try:
        browser.open_page()
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1024, "height": 768, "deviceScaleFactor": 1, "mobile": False},
        )
        browser.navigate(index_file.as_uri())
        box = browser.js(
            """(() => { const r = document.querySelector('table.matrix').getBoundingClientRect();
                        return {top: r.top, right: r.right, scroll: document.documentElement.scrollWidth}; })()"""
        )
        assert box["top"] < 400 and box["right"] <= 1024 and box["scroll"] <= 1024, box
        cells = browser.js("[...document.querySelectorAll('table.matrix td b')].map(b => b.textContent)")
        assert len(cells) == 9 and set(cells) <= set(views.OUTCOMES.values())
        verdict = browser.js("document.querySelector('#verdict').textContent")
        assert "9 stories measured" in verdict and "as expected" not in verdict.split(";")[0]
        data = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"})["data"])
        SCREENSHOT.parent.mkdir(exist_ok=True)
        (SCREENSHOT.parent / "catalog-1024.png").write_bytes(data)
    finally:
        browser.close()


def test_screenshot(page, html_file):
    """The top of the report at projector size, saved to reports/compare-report.png to look at."""
    page.navigate(html_file.as_uri())
    data = base64.b64decode(page.send("Page.captureScreenshot", {"format": "png"})["data"])
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20]) == 1600
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(data)
