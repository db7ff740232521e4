"""The whole catalog, run for real on SQLite, PostgreSQL and MariaDB: every scenario's documented outcomes hold,
every cell of the matrix is measured and explained, every schema difference is listed and every listed one is
measured."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from pydantic import TypeAdapter

from compare import jsonschema as report_schema
from compare import render, runner, views
from compare.adapters import ADAPTERS
from compare.databases import DATABASES
from compare.model import Catalog
from compare.scenario import load, names

pytestmark = [pytest.mark.harness, pytest.mark.postgresql, pytest.mark.mariadb]

REPO = Path(__file__).resolve().parents[2]
BACKENDS = tuple(DATABASES)


@pytest.fixture(scope="module")
def catalog(pg_server, mariadb_server, tmp_path_factory) -> dict:
    """One real run of the whole catalog on every backend, as `make compare DB=all` runs it."""
    out = tmp_path_factory.mktemp("catalog")
    proc = subprocess.run(
        [sys.executable, "-m", "compare", "run", "--db", "all", "--quiet", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    if not (out / "compare.json").is_file():
        pytest.fail(f"the run wrote no report (exit {proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    data = json.loads((out / "compare.json").read_text())
    return {"proc": proc, "out": out, "json": data, "model": TypeAdapter(Catalog).validate_python(data)}


def test_every_documented_outcome_holds(catalog):
    proc = catalog["proc"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    jsonschema.validate(catalog["json"], json.loads(report_schema.PATH.read_text()))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", names())
def test_scenario_runs_as_documented(catalog, name, backend):
    """Each story of the scenario on this backend: every step and check as its expectations say."""
    scenario = load(name)
    if backend not in scenario.backends:
        assert not [s for s in catalog["model"].stories if s.scenario == name and s.backend == backend]
        return
    report = catalog["model"].report(name)
    stories = {(s.framework, s.variant): s for s in report.stories if s.backend == backend}
    assert set(stories) == {(fw, v) for fw in ADAPTERS for v in scenario.variants}
    surprises = [
        (
            key,
            [(st.id, st.error) for st in s.steps if st.ok == st.expected_failure]
            + [(c.name, c.detail) for c in s.checks if not c.as_expected],
        )
        for key, s in stories.items()
        if not s.ok
    ]
    assert not surprises


def test_with_no_tmpdir_the_sandboxes_are_made_where_sandboxes_parent_says(catalog):
    """A run with the default environment (no TMPDIR) keeps its sandboxes in memory when /dev/shm has room."""
    places = {r["environment"]["Sandboxes"] for r in catalog["json"]["reports"]}
    parent = runner.sandboxes_parent()
    assert places == {f"{parent} (in memory)" if parent == str(runner.MEMORY_DIR) else parent}


def test_each_scenario_page_is_that_of_its_report_in_compare_json(catalog):
    """Each scenario's pages, rendered while the other stories still ran, are those of its report as compare.json
    holds it (every story, finding and lint result); its run time spans its own stories, within the run's. And
    compare.json, put together from each report's part made as the report ended, is the catalog serialized whole."""
    out, model = catalog["out"], catalog["model"]
    assert (out / "compare.json").read_text(encoding="utf-8") == render.catalog_json(model)
    for report in model.reports:
        for name, text in render.scenario_pages(report).items():
            assert (out / name).read_text(encoding="utf-8") == text, name
        assert max(s.seconds for s in report.stories) <= report.seconds <= model.seconds


def test_every_cell_of_the_matrix_is_measured_and_explained(catalog):
    columns, rows = views.matrix(catalog["model"].reports)
    assert set(columns) == {(fw, b) for fw in ADAPTERS for b in BACKENDS}
    assert len(rows) == sum(len(load(n).variants) for n in names())
    for row in rows:
        for cell in row.cells.values():
            assert cell.outcome in views.OUTCOMES and cell.why.strip() and not cell.unexpected, (row.scenario, cell)
    outcomes = {c.outcome for c in views.cells(rows)}
    assert {"works", "rebuild", "hand_edits", "loses_data", "fails_clean", "fails_debris", "caveat"} <= outcomes


def test_every_schema_difference_is_listed_and_every_listed_one_measured(catalog):
    measured, unexplained = set(), []
    for report in catalog["model"].reports:
        for variant, backend, stories in views.groups(report):
            for row in views.schema_rows(stories, report.step_id("change")):
                for aspect in row.differs:
                    known = views.explain(f"{row.table}.{row.column}", aspect, backend, variant, report.scenario)
                    if known is None:
                        unexplained.append((report.scenario, variant, backend, row.table, row.column, aspect))
                    else:
                        measured.add((known.scenarios, known.where, known.aspect))
    assert not unexplained
    listed = {(None, d.where, d.aspect) for d in views.known_differences()}
    for name in names():
        listed |= {((name,), d.where, d.aspect) for d in load(name).differences}
    assert listed == measured, listed ^ measured


def test_the_index_links_every_scenario_page(catalog):
    index = (catalog["out"] / "index.html").read_text(encoding="utf-8")
    for name in names():
        assert f'href="{name}.html#' in index and (catalog["out"] / f"{name}.html").is_file()
        assert f"]({name}.md)" in (catalog["out"] / "compare.md").read_text(encoding="utf-8")
    assert not re.findall(r"<(?:link|img|iframe|script\b[^>]*\bsrc)", index, re.I)


def test_each_story_runs_the_tool_steps_the_run_orders_it_by(catalog, tmp_path):
    """The run starts the longest stories first (StoryRunner.tool_steps, from the scenario's expectations): each
    story ran exactly as many tool steps as that estimate says, on every backend."""
    from compare import runner
    from compare.backends import BACKENDS as RUN_BACKENDS

    ran = {
        (s.scenario, s.framework, s.variant, s.backend): sum(st.kind in runner.TOOL_KINDS for st in s.steps)
        for s in catalog["model"].stories
    }
    scenarios = [load(n) for n in names()]
    plan = runner.plan(scenarios, list(ADAPTERS), None, [RUN_BACKENDS[b]() for b in BACKENDS])
    estimated = {
        (sc.name, fw, v, b.name): runner.StoryRunner(sc, ADAPTERS[fw], v, b, tmp_path, 60, None).tool_steps
        for sc, fw, v, b in plan
    }
    assert estimated == ran


TRICKY_PYTHON = [
    "",
    "x = 1",  # no final newline
    '"""A docstring\n\nover lines."""\nimport os\n',
    "s = f'''{1}\nx\n'''\nt = 'a\\\nb'\n",  # an f-string and a quoted string with a backslash-newline
    "from a import (\n    b,\n    c,\n)\n@dec\nclass K(\n    Base,\n):\n    y = 1 + \\\n        2\n",
    "# a comment with three quotes: '''\nx = \"'''\"\n\n\n",
    "def f(:\n  '''broken\n",  # not Python: lexed whole
    "a = 1\r\nb = '''\r\n'''\r\n",
]


def test_scripts_are_highlighted_as_pygments_highlights_them_whole(catalog):
    """The HTML of every migration script of the catalog, and of a few tricky texts, is what Pygments writes for the
    whole text at once, although the report lexes each line (or string over lines) once per run."""
    import pygments
    from pygments.lexers import PythonLexer

    from compare.render import html

    scripts = {f.text for s in catalog["model"].stories for st in s.steps for f in html.scripts(st)}
    assert len(scripts) > 100
    for code in [*scripts, *TRICKY_PYTHON]:
        whole = pygments.highlight(code, PythonLexer(stripnl=False), html.FORMATTER).removesuffix("\n")
        assert html.highlight(code, "python") == whole, code
