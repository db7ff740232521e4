"""The Jinja2 environment every template-based report shares."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from compare import lint, views

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def environment(autoescape: bool) -> Environment:
    """Templates from compare/templates, with the views and tool titles at hand."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(views=views, lint=lint, tool_title=views.tool_title)
    env.filters["backend"] = views.backend_title
    return env
