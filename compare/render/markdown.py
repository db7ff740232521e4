"""The Markdown report, from a Jinja2 template."""

from __future__ import annotations

from jinja2 import Environment

from compare.model import Report
from compare.render import base


def environment() -> Environment:
    env = base.environment(autoescape=False)
    env.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", "<br>")
    return env


def render(report: Report) -> str:
    return environment().get_template("report.md.j2").render(report=report)
