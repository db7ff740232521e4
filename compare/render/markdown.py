"""The Markdown reports, from Jinja2 templates: the catalog matrix, and one page per scenario."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment

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


def render_index(catalog: Catalog, matrix: tuple, scale: dict | None = None) -> str:
    """The catalog matrix (views.matrix of its reports), linking to each scenario's page (and bench-migrate's
    summary, `scale`)."""
    return environment().get_template("index.md.j2").render(catalog=catalog, scale=scale, matrix=matrix)
