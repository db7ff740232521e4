"""The Jinja2 environment every template-based report shares."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined

from compare import lint, views

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class _Compiled(FileSystemBytecodeCache):
    """The compiled templates, kept in templates/__pycache__ as Python keeps its own bytecode (compiling them cost
    a run about 0.1 s). Jinja2 uses one only for the same source and the same Jinja2 and Python versions; where the
    directory cannot be written, the templates are compiled at every run, as without it."""

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _compiled() -> FileSystemBytecodeCache | None:
    try:
        (TEMPLATES / "__pycache__").mkdir(exist_ok=True)
    except OSError:
        return None
    return _Compiled(str(TEMPLATES / "__pycache__"))


def environment(autoescape: bool) -> Environment:
    """Templates from compare/templates, with the views and tool titles at hand."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_compiled(),
    )
    env.globals.update(views=views, lint=lint, tool_title=views.tool_title)
    env.filters["backend"] = views.backend_title
    return env
