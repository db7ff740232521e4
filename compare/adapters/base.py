"""The adapter contract: what the harness needs to know about one framework's migration tool."""

from __future__ import annotations

import ast
import re
import threading
from functools import lru_cache
from pathlib import Path, PurePath

from compare.model import File
from compare.scenario import Edit


class Adapter:
    """One framework. Subclasses are data plus a few small methods; register them in `compare.adapters`.

    Commands are argument lists whose first item is a console script of the project's virtualenv
    (`python`, `flask`, `alembic`); they run with the app directory as the working directory.
    """

    name: str  # "django"
    title: str  # "Django"
    tool: str  # the migration tool's name, as the report shows it
    app_dir: str  # the app's directory in the repo
    model_file: str  # relative to app_dir
    scaffold: tuple[str, ...]  # what the tool's init writes (removed from the sandbox, compared with the repo)
    migrations_glob: str  # the generated migration scripts
    bookkeeping: tuple[str, ...]  # the tool's own tables
    version_sql: str  # reads the applied migrations from the bookkeeping table
    packages: tuple[str, ...]  # distributions whose versions the report shows
    init_edits: tuple[Edit, ...] = ()  # hand edits the tutorial makes after init

    def init_commands(self) -> list[list[str]]:
        """Commands that set up the migration environment (none for Django)."""
        return []

    def generate_command(self, message: str, *, empty: bool = False, interactive: bool = False) -> list[str]:
        """Autogenerate a migration; `empty`: an empty one to write by hand; `interactive`: a person answers."""
        raise NotImplementedError

    def upgrade_command(self) -> list[str]:
        raise NotImplementedError

    def rollback_command(self, app: Path, applied: list[str]) -> list[str]:
        """Roll back exactly one migration, given the sandbox's app directory and the applied migrations (the
        version table's rows, oldest first)."""
        raise NotImplementedError

    def check_command(self) -> list[str]:
        raise NotImplementedError

    def script(self) -> str:
        """The script the commands run (a console script, or `manage.py` for `python manage.py`)."""
        argv = self.upgrade_command()
        return argv[1] if argv[0] == "python" else argv[0]

    def migration_files(self, app: Path) -> list[Path]:
        return sorted(p for p in app.glob(self.migrations_glob) if self.is_script(str(p.relative_to(app))))

    def is_script(self, path: str) -> bool:
        """Whether `path` (relative to the app directory) is a generated migration script."""
        return PurePath(path).match(self.migrations_glob) and not path.endswith("__init__.py")

    def operations(self, script: File) -> int:
        """How many schema operations a generated migration script holds."""
        raise NotImplementedError

    def heads(self, scripts: list[File]) -> list[str]:
        """The migrations that no other migration builds on (one, in a healthy history)."""
        raise NotImplementedError

    def normalize(self, files: list[File]) -> dict[str, str]:
        """Map path -> text with revision ids, dates and tool-version headers made comparable."""
        return {f.path: f.text for f in files}


class AlembicAdapter(Adapter):
    """Shared by Flask-Migrate and Alembic: both write Alembic revision scripts."""

    bookkeeping = ("alembic_version",)
    version_sql = "SELECT version_num FROM alembic_version"

    def operations(self, script: File) -> int:
        return _function_statements(script.text, "upgrade")

    def heads(self, scripts: list[File]) -> list[str]:
        revs = {_assigned(s.text, "revision"): _assigned(s.text, "down_revision") for s in scripts}
        return sorted(r for r in revs if r not in set(revs.values()))

    def normalize(self, files: list[File]) -> dict[str, str]:
        down = {rev: _assigned(f.text, "down_revision") for f in files if (rev := _assigned(f.text, "revision"))}

        def depth(rev: str | None) -> int:
            n = 0
            while down.get(rev) and n < len(down):
                rev, n = down[rev], n + 1
            return n

        # revision ids are random: name them by their place in the history instead
        names = {rev: f"<revision {depth(rev) + 1}>" for rev in down}
        out = {}
        for f in files:
            path, text = f.path, re.sub(r"(?m)^Create Date: .*$", "Create Date: <date>", f.text)
            for rev, name in names.items():
                path, text = path.replace(rev, name), text.replace(rev, name)
            out[path] = text
        return out


_PARSE = threading.Lock()


@lru_cache(maxsize=1024)  # the stories of a framework write the same scripts again and again (callers only read)
def parse(text: str) -> ast.Module:
    """ast.parse, one thread at a time: CPython 3.11's parser can fail with "AST constructor recursion depth
    mismatch" when threads parse at once (the stories run in parallel threads)."""
    with _PARSE:
        return ast.parse(text)


def _assigned(text: str, name: str) -> str | None:
    """The string assigned to a module-level name (`revision = "abc"` or `revision: str = "abc"`)."""
    try:
        tree = parse(text)
    except SyntaxError:
        return None
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == name and isinstance(node.value, ast.Constant):
            return node.value.value
    return None


def _function_statements(text: str, name: str) -> int:
    """Statements in a module-level function, not counting `pass` and docstrings."""
    for node in parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return sum(
                1
                for s in node.body
                if not isinstance(s, ast.Pass) and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
            )
    return 0
