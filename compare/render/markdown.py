"""The Markdown report, from a Jinja2 template."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from compare import views
from compare.model import Report

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def environment(autoescape: bool = False) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(views=views, tool_title=views.tool_title)
    env.filters["cell"] = lambda text: str(text).replace("|", "\\|").replace("\n", "<br>")
    return env


def render(report: Report) -> str:
    return environment().get_template("report.md.j2").render(report=report)
