"""The HTML report: one self-contained file (inline CSS, JS and SVG), rendered from Jinja2 templates.

Everything here arranges what the Report holds; nothing re-runs or re-measures.
"""

from __future__ import annotations

import ast
import datetime as dt
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache, lru_cache

import pygments
from jinja2 import Environment
from markupsafe import Markup
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer, SqlLexer

from compare import views
from compare.model import Catalog, Check, File, Report, Schema, Step, Story
from compare.render import base

FORMATTER = HtmlFormatter(style="vs", nowrap=True)
LEXERS = {"python": PythonLexer, "sql": SqlLexer, "diff": DiffLexer}

MISSING = object()  # a value a framework's rows do not have (column absent, row absent)
HELPERS: dict[str, Callable] = {}  # the functions templates call


def helper(fn: Callable) -> Callable:
    HELPERS[fn.__name__] = fn
    return fn


def render(report: Report) -> str:
    """One scenario's report as one HTML document."""
    return environment().get_template("report.html.j2").render(report=report)


def render_index(catalog: Catalog, matrix: tuple, scale: dict | None = None) -> str:
    """The catalog's front page: the matrix (views.matrix of its reports), linking to each scenario's page (and
    bench-migrate's summary, `scale`)."""
    return environment().get_template("index.html.j2").render(catalog=catalog, scale=scale, matrix=matrix)


@cache
def environment() -> Environment:
    env = base.environment(autoescape=True)
    env.globals.update(
        step_ids=views.step_ids,
        step_title=views.step_title,
        MISSING=MISSING,
        pygments_css=Markup(FORMATTER.get_style_defs(".hl")),
        **HELPERS,
    )
    env.filters["highlight"] = highlight
    env.filters["seconds"] = lambda s: f"{s:.2f} s"
    env.filters["timing"] = timing
    return env


def timing(step: Step) -> str:
    """A step's time: its tool processes' CPU time first (the same however many stories ran at once), then wall."""
    if step.tool_calls:
        return f"{step.cpu_seconds:.2f} s CPU · {step.seconds:.2f} s wall"
    return f"{step.seconds:.2f} s"


@lru_cache(maxsize=4096)  # the stories of a framework share most of their scripts and statements
def highlight(code: str, language: str) -> Markup:
    """Pygments-highlighted code (spans only, to go inside a <pre>)."""
    if language == "python" and (pieces := _python_pieces(code)) is not None:
        html = "".join(map(_python_piece_html, pieces))
    else:
        html = pygments.format(LEXERS[language](stripnl=False).get_tokens(code), FORMATTER)
    return Markup(html.removesuffix("\n"))


def _python_pieces(code: str) -> list[str] | None:
    """`code` cut after each line that does not end inside a string, to be lexed and formatted a piece at a time,
    each piece once per run: the catalog's scripts differ by a few lines (150 KB of scripts, 28 KB of distinct lines;
    lexing and formatting them whole took 0.19 s of a run's CPU). Pygments' Python lexer starts every line outside a
    string in its root state, and its HTML formatter closes every span at a line's end, so the pieces' HTML, put
    together, is the whole script's (a test compares them). None: lex it whole (not Python after all)."""
    if "\r" in code:  # ast would count a lone CR as a line's end, and the split below does not
        return None
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    inside = set()  # the lines (from 1) that end inside a string
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant | ast.JoinedStr) and node.end_lineno > node.lineno:
            inside.update(range(node.lineno, node.end_lineno))
    text = code if code.endswith("\n") else code + "\n"  # Pygments ends the text with a newline too
    pieces, piece = [], []
    for number, line in enumerate(text.split("\n")[:-1], 1):
        piece.append(line)
        if number not in inside:
            pieces.append("\n".join(piece) + "\n")
            piece = []
    if piece:
        pieces.append("\n".join(piece) + "\n")
    return pieces


_PYTHON = PythonLexer(stripnl=False)  # a RegexLexer keeps no state between texts: one serves every thread


@lru_cache(maxsize=16384)
def _python_piece_html(text: str) -> str:
    return pygments.format(_PYTHON.get_tokens(text), FORMATTER)


# --- small views for the template ----------------------------------------------------------------------


@helper
def when(report: Report) -> str:
    """The run's start as a readable UTC time."""
    try:
        return dt.datetime.fromisoformat(report.started_at).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return report.started_at


@helper
def tool_versions(report: Report) -> dict[str, dict[str, str]]:
    """framework -> package versions, from the first story of each framework."""
    out: dict[str, dict[str, str]] = {}
    for s in report.stories:
        out.setdefault(s.framework, s.tool_versions)
    return out


@helper
def slug(*parts: str) -> str:
    return "-".join(p.replace("_", "-").replace("/", "-") for p in parts)


@helper
def step_status(step: Step) -> tuple[str, str]:
    """(label, css class) of a step's outcome, measured against what the scenario expected."""
    if step.ok and not step.expected_failure:
        return "ok", "pass"
    if not step.ok and step.expected_failure:
        return "failed, as expected", "known"
    if step.ok:
        return "ok, but a failure was expected", "fail"
    return "FAILED", "fail"


@helper
def check_status(check: Check | None) -> tuple[str, str]:
    """(label, css class) of a check's outcome."""
    if check is None:
        return "not run", "none"
    if check.passed:
        return ("pass", "pass") if check.expected else ("pass, but a failure was expected", "fail")
    return ("known failure", "known") if not check.expected else ("FAIL", "fail")


@helper
def check_names(stories: list[Story]) -> list[str]:
    return list(dict.fromkeys(c.name for s in stories for c in s.checks))


@helper
def check(story: Story, name: str) -> Check | None:
    return next((c for c in story.checks if c.name == name), None)


@helper
def edited_files(step: Step | None) -> list[str]:
    """The files a step's hand-edit diff touches."""
    if step is None or not step.diff:
        return []
    return sorted({line[6:] for line in step.diff.splitlines() if line.startswith("+++ b/")})


@helper
def scripts(step: Step | None) -> list[File]:
    """The Python files a generate step wrote (its migration scripts)."""
    return [f for f in step.files if f.path.endswith(".py")] if step else []


@helper
def sql_steps(stories: list[Story]) -> list[str]:
    """Ids of the upgrade and rollback steps that ran in any of the stories, in story order."""
    return [i for i in views.step_ids(stories) if any(st.kind in ("upgrade", "rollback") for st in _steps(stories, i))]


@helper
def query_steps(stories: list[Story]) -> list[str]:
    """Ids of the steps where the harness ran SQL itself (as the app would, or a query plan to look at)."""
    return [i for i in views.step_ids(stories) if any(st.kind in ("sql", "query") for st in _steps(stories, i))]


@helper
def generate_steps(stories: list[Story]) -> list[str]:
    return [i for i in views.step_ids(stories) if any(st.kind == "generate" for st in _steps(stories, i))]


@helper
def diff_steps(stories: list[Story]) -> list[str]:
    """Ids of the steps that carry a hand edit in any of the stories."""
    return [i for i in views.step_ids(stories) if any(st.diff for st in _steps(stories, i))]


@helper
def data_steps(stories: list[Story]) -> list[str]:
    """Ids of the steps after the baseline that changed any data, in any of the stories."""
    return [
        i
        for i in views.step_ids(stories)
        if any(st.data_changes and st.role not in ("baseline", "start") for st in _steps(stories, i))
    ]


def _steps(stories: list[Story], step_id: str) -> list[Step]:
    return [st for s in stories if (st := s.step(step_id))]


# --- schema grids ----------------------------------------------------------------------------------------


@dataclass
class Cell:
    """How one framework's cell of a schema grid row shows: its classes, its tooltip (what differs, and why when
    differences.toml says), whether the difference is unexplained ("!"), and the page's note numbers for it."""

    css: str
    title: str
    unexplained: bool
    notes: list[int]


@dataclass
class Grid:
    """A schema grid ready to show: application rows, bookkeeping rows, and the page's notes its cells point to."""

    rows: list[views.SchemaRow]
    bookkeeping: list[views.SchemaRow]
    notes: list[str]  # the page's (schema_grids)

    def cell(self, row: views.SchemaRow, framework: str) -> Cell:
        odd = odd_aspects(row, framework)
        unexplained = [a for a in odd if a in row.unexplained]
        change = row.change.get(framework)
        css = "mono" + (f" {change}" if change else "")
        css += " differs-unexplained" if unexplained else " differs-known" if odd else ""
        title = ""
        if odd:
            title = f"differs: {', '.join(odd)}" + "".join(f". {d.text}" for d in row.known if d.aspect in odd)
            title += ". Not listed in compare/differences.toml" if unexplained else ""
        notes = sorted({self.notes.index(d.text) + 1 for d in row.known}) if odd and not unexplained else []
        return Cell(css, title, bool(unexplained), notes)


@helper
def schema_grids(report: Report) -> tuple[dict[tuple[str, str, str], Grid], list[str]]:
    """Every schema grid of the page, by (variant, backend, step id), and the known differences they point to, each
    numbered once for the whole page (the grids' notes)."""
    rows = {
        (variant, backend, step_id): views.schema_rows(stories, step_id, previous)
        for variant, backend, stories in views.groups(report)
        for step_id, previous in views.schema_steps(report)
    }
    notes = list(dict.fromkeys(d.text for found in rows.values() for r in found for d in r.known))
    grids = {
        key: Grid([r for r in found if not r.bookkeeping], [r for r in found if r.bookkeeping], notes)
        for key, found in rows.items()
    }
    return grids, notes


@helper
def known_findings(report: Report) -> list:
    """The schema-difference findings that differences.toml explains (they get their own section)."""
    return [f for f in report.findings if f.rule == "schema_difference" and "Known:" in f.text]


def odd_aspects(row: views.SchemaRow, framework: str) -> list[str]:
    """The aspects in which this framework's column departs from the others' (all of them when no majority)."""
    odd = []
    present = [fw for fw, c in row.cells.items() if c is not None]
    if framework not in present:
        return odd
    for aspect in row.differs:
        values = Counter(row.value(fw, aspect) for fw in present)
        (top, n), *rest = values.most_common()
        if n == 1 or (rest and rest[0][1] == n) or row.value(framework, aspect) != top:
            odd.append(aspect)
    return odd


# --- data --------------------------------------------------------------------------------------------------


@helper
def added_columns(stories: list[Story], step_id: str) -> list[tuple]:
    """(table, column) of the application columns the step added in any framework."""
    return [
        (r.table, r.column)
        for r in views.schema_rows(stories, step_id, views.BEFORE)
        if not r.bookkeeping and "added" in r.change.values()
    ]


@helper
def left_by(story: Story, step: Step) -> list[str]:
    """What a failed step left in the database, measured against the step before it."""
    from compare.checks import left_behind

    before = story.before(step)
    return left_behind(before.schema if before else None, step.schema)


@helper
def column_values(stories: list[Story], table: str, column: str, step_id: str) -> list[tuple]:
    """(row label, {framework: value or MISSING}) for every row of `table` after the step, aligned by position."""
    rows = {s.framework: _rows(s.step(step_id), table) for s in stories}
    longest = max(rows.values(), key=len, default=[])
    return [
        (
            " · ".join(str(v) for v in list(row.values())[:2]),
            {fw: r[i].get(column, MISSING) if i < len(r) else MISSING for fw, r in rows.items()},
        )
        for i, row in enumerate(longest)
    ]


def _rows(step: Step | None, table: str) -> list[dict]:
    return step.data.rows.get(table, []) if step and step.data else []


# --- entity-relationship diagram (inline SVG) -----------------------------------------------------------

CHAR = 9.6  # width of one character of the diagram's 16px monospace font
ROW, HEAD, PAD, GAP, MARGIN = 28, 36, 12, 100, 16


@dataclass
class BoxRow:
    y: float  # top of the row
    keys: str
    name: str
    type: str
    note: str
    added: bool


@dataclass
class Box:
    name: str
    x: float
    y: float
    w: float
    h: float
    cols: tuple[float, float, float, float]  # x of the keys, name, type and note texts
    rows: list[BoxRow]

    def row_mid(self, column: str) -> float:
        """The y of a column's row (of the table name, if the column is not there): where a link ends."""
        row = next((r for r in self.rows if r.name == column), None)
        return row.y + ROW / 2 if row else self.y + HEAD / 2


@dataclass
class Link:
    path: str
    marks: list[tuple[float, float, float, float]]  # short lines: the "one" bar and the "many" crow's foot
    label: str


@helper
def er_diagram(schema: Schema | None, title: str, added: Collection[str] = ()) -> Markup:
    """An entity-relationship diagram of the schema's application tables, as inline SVG.

    `added` holds "table.column" names to mark as added by the step.
    """
    if schema is None or not schema.tables:
        return Markup("")
    boxes, x = {}, MARGIN
    for t in _fk_order(schema):
        fk_cols = {c for fk in t.foreign_keys for c in fk.columns}
        rows = [
            (
                " ".join(k for k, on in (("PK", c.primary_key), ("FK", c.name in fk_cols)) if on),
                c.name,
                c.type,
                " ".join(n for n in ("NULL" if c.nullable else "", _default(c.default)) if n),
                f"{t.name}.{c.name}" in added,
            )
            for c in t.columns
        ]
        widths = [max([len(r[i]) for r in rows] + [0]) for i in range(4)]
        cols, cx = [], x + PAD
        for w in widths:
            cols.append(cx)
            cx += (w + 2) * CHAR if w else 0
        width = max(cx - x + PAD - 2 * CHAR, len(t.name) * CHAR + 2 * PAD)
        box_rows = [BoxRow(MARGIN + HEAD + i * ROW, *r) for i, r in enumerate(rows)]
        boxes[t.name] = Box(t.name, x, MARGIN, width, HEAD + ROW * len(rows), tuple(cols), box_rows)
        x += width + GAP
    links = [
        _link(boxes[t.name], fk.columns[0], boxes[fk.ref_table], fk.ref_columns[0])
        for t in schema.tables
        for fk in t.foreign_keys
        if fk.ref_table in boxes and fk.columns and fk.ref_columns
    ]
    height = max(b.h for b in boxes.values()) + 2 * MARGIN
    svg = environment().get_template("html/er.svg.j2")
    return Markup(
        svg.render(
            boxes=list(boxes.values()),
            links=links,
            width=x - GAP + MARGIN,
            height=height,
            title=title,
            head=HEAD,
            row=ROW,
        )
    )


def _default(value: str | None) -> str:
    return "" if value is None else f"default {value}"


def _fk_order(schema: Schema) -> list:
    """Tables ordered so that a referenced table comes before (left of) the tables referencing it."""
    placed: list = []
    rest = list(schema.tables)
    while rest:
        names = {t.name for t in placed}
        ready = [
            t for t in rest if all(fk.ref_table in names or fk.ref_table == t.name for fk in t.foreign_keys)
        ] or rest[:1]
        placed += ready
        rest = [t for t in rest if t not in ready]
    return placed


def _link(child: Box, column: str, parent: Box, ref_column: str) -> Link:
    """A foreign key line from the child's column to the parent's key, with crow's-foot ends."""
    y1, y2 = parent.row_mid(ref_column), child.row_mid(column)
    if parent is child:  # self-reference: a loop on the right side
        x1 = x2 = parent.x + parent.w
        d1, d2 = 1, 1
    elif parent.x < child.x:
        x1, x2, d1, d2 = parent.x + parent.w, child.x, 1, -1
    else:
        x1, x2, d1, d2 = parent.x, child.x + child.w, -1, 1
    bend = max(abs(x2 - x1) / 2, 60)
    path = f"M {x1:.1f} {y1:.1f} C {x1 + d1 * bend:.1f} {y1:.1f}, {x2 + d2 * bend:.1f} {y2:.1f}, {x2:.1f} {y2:.1f}"
    one = (x1 + d1 * 10, y1 - 9, x1 + d1 * 10, y1 + 9)
    foot = [(x2 + d2 * 14, y2, x2, y2 + dy) for dy in (-9, 0, 9)]
    return Link(path, [one, *foot], f"{child.name}.{column} → {parent.name}.{ref_column}")
