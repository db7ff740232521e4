"""The Markdown reports, from Jinja2 templates: the catalog matrix, and one page per scenario."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment

from compare import views
from compare.model import Catalog, Report
from compare.render import base, html


@cache
def environment() -> Environment:
    env = base.environment(autoescape=False)
    env.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", "<br>")
    env.filters["timing"] = html.timing
    return env


def render(report: Report) -> str:
    """One scenario's report."""
    return environment().get_template("report.md.j2").render(report=report)


def render_index(catalog: Catalog, scale: dict | None = None, matrix: tuple | None = None) -> str:
    """The catalog matrix, linking to each scenario's page (and bench-migrate's summary, `scale`). `matrix`:
    views.matrix(catalog.reports), when it was made already."""
    matrix = views.matrix(catalog.reports) if matrix is None else matrix
    return environment().get_template("index.md.j2").render(catalog=catalog, scale=scale, matrix=matrix)
