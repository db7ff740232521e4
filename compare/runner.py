"""Measure: run each scenario for each framework x variant x backend, in parallel, in throwaway sandboxes."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, CancelledError, ThreadPoolExecutor, wait
from functools import cache
from importlib import metadata
from pathlib import Path

import sqlalchemy as sa

from compare import checks, findings, lint, warm
from compare.adapters import ADAPTERS, Adapter
from compare.backends import Backend
from compare.model import Catalog, Report, Statement, Step, Story
from compare.sandbox import EditError, RunFault, Sandbox, SandboxError, disk_fault
from compare.scenario import TOOL_KINDS, Scenario, StepSpec
from compare.snapshot import classify, data_changes, forget, snapshots

Progress = Callable[[Story, Step | None, int, int], None]  # story, step (None: starting), done, total


class Interrupted(Exception):
    """Ctrl-C stopped the run: its tool processes were killed and its sandboxes and databases removed."""

    def __init__(self, finished: int, total: int):
        super().__init__(f"{finished} of {total} stories had finished")
        self.finished, self.total = finished, total


def plan(
    scenarios: list[Scenario], frameworks: list[str], variants: list[str] | None, backends: list[Backend]
) -> list[tuple[Scenario, str, str, Backend]]:
    """(scenario, framework, variant, backend) of every story to run, in report order."""
    return [
        (sc, fw, v, b)
        for sc in scenarios
        for b in backends
        if sc.applies(b.name)
        for v in sc.variants
        if variants is None or v in variants
        for fw in frameworks
    ]


def run(
    scenarios: list[Scenario],
    frameworks: list[str],
    variants: list[str] | None,
    backends: list[Backend],
    timeout: float = 120.0,
    keep: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
    on_report: Callable[[Report], None] | None = None,
) -> tuple[Catalog, Path]:
    """Run every story in parallel; return the catalog and the run's temp directory (removed unless kept).

    Each scenario's Report (with its findings and lint) is made as soon as its last story ends, and handed to
    `on_report` in that story's thread while the other stories go on (the reports use it to render its pages).

    A RunFault in any story (a full disk, a tool killed from outside...) or Ctrl-C (raised as Interrupted) stops
    the whole run at once: the tool processes in progress are killed, and every story drops its database.
    """
    warm.preload(m for b in backends for m in b.preload)
    run_dir = run_directory("migration-lab-")
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    runners = [
        StoryRunner(sc, ADAPTERS[fw], v, b, run_dir, timeout, progress)
        for sc, fw, v, b in plan(scenarios, frameworks, variants, backends)
    ]
    workers = max(1, min(jobs or len(runners), len(runners)))
    reports = _Reports(
        scenarios,
        runners,
        started,
        lambda: {
            **environment(backends),  # the servers' versions: asked once the first stories have started them
            "Stories in parallel": f"{workers} at once on {os.cpu_count()} CPUs",
            "Sandboxes": _where(run_dir),
        },
        on_report,
        keep,
    )
    pool = ThreadPoolExecutor(max_workers=workers)
    futures: list = []
    try:
        try:
            # The stories with the most tool calls first, so that the last ones to end are short and both cores
            # stay busy to the end; of those, the scenarios with fewest stories last: the pages rendered after the
            # last story ends are then the shortest. The futures stay in report order.
            stories = Counter(r.scenario.name for r in runners)
            order = sorted(runners, key=lambda r: (-r.tool_steps, -stories[r.scenario.name]))
            first = {id(r): pool.submit(reports.run, r) for r in order}
            futures = [first[id(r)] for r in runners]
            wait(futures, return_when=FIRST_EXCEPTION)
        except KeyboardInterrupt:
            _stop(pool)
            raise Interrupted(sum(_failure(f) is None for f in futures if f.done()), len(runners)) from None
        faults = [e for f in futures if f.done() and (e := _failure(f))]
        if faults:
            _stop(pool)
            raise faults[0]
    finally:
        pool.shutdown(cancel_futures=True)
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    seconds = round(time.perf_counter() - t0, 3)
    return Catalog(
        started_at=started, seconds=seconds, environment=reports.environment(), reports=reports.done()
    ), run_dir


class _Reports:
    """Makes each scenario's Report when the last of its stories ends."""

    def __init__(
        self, scenarios, runners, started: str, environment: Callable[[], dict[str, str]], on_report, keep: bool
    ):
        self.scenarios, self.started, self.on_report, self.keep = scenarios, started, on_report, keep
        self._environment, self._env = environment, None
        self.runners = {sc.name: [r for r in runners if r.scenario is sc] for sc in scenarios}
        self.left = {name: len(rs) for name, rs in self.runners.items()}
        self.first_start: dict[str, float] = {}
        self.made: dict[str, Report] = {}
        self.lock = threading.Lock()

    def run(self, story: StoryRunner) -> Story:
        """Run one story; the scenario's last one also makes its Report."""
        name = story.scenario.name
        with self.lock:
            self.first_start.setdefault(name, time.perf_counter())
        done = story.run()
        if not self.keep:  # nothing reads a sandbox once its story has ended: the run's end has less to remove
            shutil.rmtree(story.dir, ignore_errors=True)
        with self.lock:
            self.left[name] -= 1
            last = self.left[name] == 0
        if last:
            self.made[name] = report = self._report(story.scenario)
            if self.on_report:
                self.on_report(report)
        return done

    def environment(self) -> dict[str, str]:
        """The run's environment, the same dict for every report: made at the first report's need."""
        with self.lock:
            if self._env is None:
                self._env = self._environment()
            return self._env

    def _report(self, sc: Scenario) -> Report:
        mine = [r.story for r in self.runners[sc.name]]
        report = Report(
            scenario=sc.name,
            title=sc.title,
            started_at=self.started,
            # its own stories' time, from the first one's start to the last one's end
            seconds=round(time.perf_counter() - self.first_start[sc.name], 3),
            environment=self.environment(),
            stories=mine,
            question=sc.question,
            summary=sc.summary,
            roles=sc.roles,
            variant_titles={v: sc.variants[v].title for v in dict.fromkeys(s.variant for s in mine)},
        )
        report.findings = findings.derive(report, sc)
        report.lint = lint.lint(report, sc)
        return report

    def done(self) -> list[Report]:
        """The reports, in catalog order (scenarios with no story are left out)."""
        return [self.made[sc.name] for sc in self.scenarios if sc.name in self.made]


MEMORY_DIR = Path("/dev/shm")  # a tmpfs on Linux
MEMORY_DIR_FREE = 256 * 2**20  # a whole catalog's sandboxes take about 12 MB


def run_directory(prefix: str) -> Path:
    """A new directory for a run's sandboxes: in $TMPDIR when it is set, else in memory (/dev/shm) when there is
    room, else in the system's temp directory; RunFault (one line) if it cannot be made there.

    In memory because a run creates and deletes thousands of small files (app copies, SQL logs, and SQLite's -wal
    and -shm files at every connection): on ext4, finding an inode for each new file after so many deletions cost
    the harness up to 4 s of system CPU per catalog run, measured with perf; on tmpfs, under 1 s.
    """
    parent = sandboxes_parent()
    try:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as exc:
        raise disk_fault(exc, Path(parent)) or RunFault(
            f"cannot make the sandboxes' directory in {parent} (TMPDIR): {exc.strerror}"
        ) from None


def sandboxes_parent() -> str:
    """Where run_directory makes a run's directory: $TMPDIR, else /dev/shm when there is room, else the temp dir."""
    # $TMPDIR itself, when set: tempfile would quietly fall back to another directory if it cannot be written
    if os.environ.get("TMPDIR"):
        return os.environ["TMPDIR"]
    try:
        if os.access(MEMORY_DIR, os.W_OK | os.X_OK) and shutil.disk_usage(MEMORY_DIR).free >= MEMORY_DIR_FREE:
            return str(MEMORY_DIR)
    except OSError:
        pass
    return tempfile.gettempdir()


def _where(run_dir: Path) -> str:
    """The file system the sandboxes (and SQLite's files) lived on: it shows in the timings."""
    parent = run_dir.parent
    return f"{parent} (in memory)" if parent == MEMORY_DIR else str(parent)


def _failure(future) -> BaseException | None:
    """What a finished story raised (cancelled before it started counts as a failure)."""
    return CancelledError() if future.cancelled() else future.exception()


def _stop(pool: ThreadPoolExecutor) -> None:
    """Kill the tool calls in progress, drop the stories not started, and wait for the others to clean up."""
    warm.cancel()
    try:
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        warm.reset()


def environment(backends: list[Backend]) -> dict[str, str]:
    env = {"Python": platform.python_version(), "Platform": platform.platform(terse=True), **warm.environment()}
    for b in backends:
        env.update(b.versions())
    return {**env, **lint.versions()}


class StoryRunner:
    """Runs a scenario's steps for one framework, variant and backend."""

    def __init__(self, scenario, adapter: Adapter, variant: str, backend: Backend, run_dir: Path, timeout, progress):
        self.scenario: Scenario = scenario
        self.adapter = adapter
        self.variant_name = variant
        self.variant = scenario.variants[variant]
        self.backend = backend
        self.timeout = timeout
        self.progress = progress or (lambda *_: None)
        self.story = Story(
            framework=adapter.name,
            variant=variant,
            backend=backend.name,
            scenario=scenario.name,
            tool_versions=dict(_versions(adapter.packages)),
        )
        self.dir = run_dir / f"{scenario.name}-{adapter.name}-{variant}-{backend.name}"
        self.url: str | None = None
        self.engine: sa.Engine | None = None
        self._t0 = time.perf_counter()
        self._retried = False

    @property
    def total(self) -> int:
        return len(self.scenario.steps)

    @property
    def tool_steps(self) -> int:
        """How many steps that run a tool the story should run, as its scenario expects: up to the step expected to
        fail, and the retry of an upgrade. The story's length, roughly: over a catalog run (SQLite), its correlation
        with the stories' measured CPU time is 0.73; 0.38 counting every step of the scenario."""
        n, failed = 0, None
        for s in self.scenario.steps:
            if s.after_failure != (failed is not None):
                continue
            if failed is not None:  # the retry of a failed upgrade (see _has_work); nothing runs after it
                return n + (failed.kind == "upgrade")
            n += s.kind in TOOL_KINDS
            failed = s if self.variant.step_fails(s.id, self.adapter.name, self.backend.name) else None
        return n

    def run(self) -> Story:
        """Run every step until one fails (and its retry, if the scenario has one), then the checks.

        Raises RunFault when the machine, not a tool, broke the story (see sandbox.RunFault).
        """
        try:
            if self.start():
                for n in range(self.total):
                    if self.stopped:
                        break
                    self.run_step(n)
                self.story.checks = checks.run_all(self.story, self.adapter, self.scenario, self.variant)
        except OSError as exc:
            raise disk_fault(exc, self.dir.parent.parent) or exc from None
        finally:
            self.finish()
        return self.story

    # --- one step at a time (teaching mode drives these) -----------------------------------------------

    @property
    def stopped(self) -> bool:
        """A step failed and its retry, if any, has run: nothing more runs."""
        failed = self.story.failed
        return failed is not None and (failed is not self.story.steps[-1] or self._retried)

    def start(self) -> bool:
        """Copy the app into the sandbox and create its database; False, recorded as a failed step, if it cannot."""
        self._t0 = time.perf_counter()
        self._retried = False
        self.dir.mkdir(parents=True)
        self.story.sandbox = str(self.dir)
        try:
            name = f"{self.scenario.name}_{self.variant_name}_{self.adapter.name}"[:48]
            warm.preload(self.backend.preload)  # unless run() has named the run's databases already
            self.url = self.backend.create(self.dir, name)
            start = self.scenario.start.get(self.adapter.name, [])
            self.sandbox = Sandbox(self.adapter, self.dir, self.url, start, self.timeout)
            self.engine = self.backend.engine(self.url)
        except SandboxError as exc:
            self.story.steps.append(
                Step(id="sandbox", kind="init", title="Prepare the sandbox", command=None, ok=False, error=str(exc))
            )
            self._retried = True
            self.progress(self.story, self.story.steps[-1], self.total, self.total)
            return False
        return True

    def run_step(self, n: int) -> Step | None:
        """Run the scenario's n-th step if it applies, record it in the story and return it (None: not run)."""
        spec = self.scenario.steps[n]
        failed = self.story.failed is not None
        if self.stopped or spec.after_failure != failed or not self._has_work(spec):
            self.progress(self.story, None, n + 1, self.total)
            return None
        if spec.after_failure:
            self._retried = True
        self.progress(self.story, None, n, self.total)
        step = self.execute(spec)
        self.story.steps.append(step)
        self.progress(self.story, step, n + 1, self.total)
        return step

    def _has_work(self, spec: StepSpec) -> bool:
        if spec.kind in ("edit", "fix"):
            return bool(self._edits(spec))
        if spec.kind in ("sql", "query"):
            return bool(spec.statements(self.backend.name))
        if spec.after_failure:
            last = self.story.steps[-1] if self.story.steps else None
            return last is not None and last.kind == "upgrade"
        return True

    def finish(self) -> Story:
        """Release and drop the database (the sandbox's files stay); safe to call more than once."""
        if self.engine is not None:
            forget(self.engine)
            self.engine.dispose()
            self.engine = None
        if self.url:
            try:
                self.backend.drop(self.url)
            except Exception as exc:  # the measurements stand; the report says what was left behind
                self.story.warnings.append(f"database not dropped: {exc}")
            self.url = None
        self.story.seconds = round(time.perf_counter() - self._t0, 3)
        return self.story

    # --- steps ------------------------------------------------------------------------------------------

    def execute(self, spec: StepSpec) -> Step:
        step = Step(
            id=spec.id, kind=spec.kind, title=spec.title, command=None, cwd=self.adapter.app_dir, role=spec.role
        )
        step.expected_failure = self.variant.step_fails(spec.id, self.adapter.name, self.backend.name)
        try:
            getattr(self, f"_{spec.kind}")(step, spec)
        except EditError as exc:
            step.ok, step.error = False, f"the hand edit does not fit: {exc}"
        except (RunFault, warm.Cancelled):
            raise
        except warm.ServerError as exc:
            raise RunFault(f"{self.story.key}, {step.title.lower()}: {exc}") from None
        except OSError as exc:
            if fault := disk_fault(exc, self.dir.parent.parent):
                raise fault from None
            step.ok, step.error = False, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a crash of the harness's own step is recorded, like a failing tool
            step.ok, step.error = False, f"{type(exc).__name__}: {exc}"
        try:
            step.schema, step.data = snapshots(self.engine, self.adapter.bookkeeping, self.adapter.version_sql)
        except sa.exc.SQLAlchemyError as exc:
            step.note = (step.note or "") + f" (database not readable: {exc.__class__.__name__})"
        previous = next((s for s in reversed(self.story.steps) if s.data is not None), None)
        if previous and step.data:
            step.data_changes = data_changes(previous.data, step.data)
        return step

    def _tool(self, step: Step, argv: list[str], answers=None) -> bool:
        result = self.sandbox.run_interactive(argv, answers) if answers else self.sandbox.run(argv)
        step.command = f"{step.command}\n{result.call.command}" if step.command else result.call.command
        step.tool_calls.append(result.call)
        step.exit_code = result.call.exit_code
        step.seconds = round(step.seconds + result.call.seconds, 3)
        step.stdout += result.stdout
        step.stderr += result.stderr
        step.sql += result.sql
        step.files += result.written
        if answers:
            step.answers = [a.answer for a in answers]
        if result.error:
            step.ok, step.error = False, result.error
        return step.ok

    def _init(self, step: Step, spec: StepSpec) -> None:
        commands = self.adapter.init_commands()
        if not commands:
            step.note = f"{self.adapter.title} needs no init step: the app's migrations package is all it needs."
            return
        for argv in commands:
            if not self._tool(step, argv):
                return
        if self.adapter.init_edits:
            step.diff = self.sandbox.apply(list(self.adapter.init_edits))
            edited = sorted({e.path for e in self.adapter.init_edits})
            step.files = [f for f in step.files if f.path not in edited] + self.sandbox.read(edited)

    def _generate(self, step: Step, spec: StepSpec) -> None:
        answers = self.variant.answers.get(self.adapter.name) if spec.role == "generate" else None
        argv = self.adapter.generate_command(spec.message or spec.id, empty=spec.empty, interactive=bool(answers))
        if not self._tool(step, argv, answers):
            return
        scripts = [f for f in step.files if self.adapter.is_script(f.path)]
        if scripts:
            self.sandbox.last_migration = scripts[-1].path
        if not scripts:
            step.ok, step.error = False, f"{Step.NO_MIGRATION}: the tool detected no model changes"
        elif not spec.empty and not any(self.adapter.operations(s) for s in scripts):
            step.ok, step.error = False, f"{Step.EMPTY_MIGRATION}: {scripts[0].path} has no operations"

    def _upgrade(self, step: Step, spec: StepSpec) -> None:
        self._tool(step, self.adapter.upgrade_command())

    def _rollback(self, step: Step, spec: StepSpec) -> None:
        last = next((s.schema for s in reversed(self.story.steps) if s.schema is not None), None)
        self._tool(step, self.adapter.rollback_command(self.sandbox.app, last.version if last else []))

    def _check(self, step: Step, spec: StepSpec) -> None:
        self._tool(step, self.adapter.check_command())

    def _edit(self, step: Step, spec: StepSpec) -> None:
        step.diff = self.sandbox.apply(self._edits(spec))
        step.files = self.sandbox.read(sorted({f[6:] for f in step.diff.splitlines() if f.startswith("+++ b/")}))

    _fix = _edit

    def _edits(self, spec: StepSpec):
        return self.scenario.edit_set(spec.edits or "", self.variant_name, self.adapter.name, self.backend.name)

    def _seed(self, step: Step, spec: StepSpec) -> None:
        step.command = "INSERT INTO " + ", ".join(self.scenario.seed) + " (the same rows for every framework)"
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            for table, rows in self.scenario.seed.items():
                for row in rows:
                    cols = ", ".join(row)
                    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + k for k in row)})"
                    conn.execute(sa.text(sql), row)
                    step.sql.append(Statement(_render(sql, row), classify(sql)))
        step.seconds = round(time.perf_counter() - t0, 3)

    def _sql(self, step: Step, spec: StepSpec) -> None:
        """Statements the app would run, in one transaction; their results (for a query) as the step's output."""
        statements = spec.statements(self.backend.name)
        step.command = "\n".join(statements)
        t0 = time.perf_counter()
        out = []
        try:
            with self.engine.begin() as conn:
                for sql in statements:
                    result = conn.execute(sa.text(sql))
                    step.sql.append(Statement(sql, classify(sql)))
                    if result.returns_rows:
                        out += [" | ".join(str(v) for v in row) for row in result]
        except sa.exc.SQLAlchemyError as exc:
            step.ok, step.error = False, " ".join(str(exc.orig or exc).split())[:300]
        step.stdout = "\n".join(out) + ("\n" if out else "")
        step.seconds = round(time.perf_counter() - t0, 3)

    _query = _sql


@cache  # reading a distribution's metadata takes about 0.25 ms: a catalog run reads 5, 189 times over
def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    return {p: metadata.version(p) for p in packages}


def _render(sql: str, values: dict) -> str:
    """The statement with its values inlined, for the report."""
    for k, v in values.items():
        text = "NULL" if v is None else str(v) if isinstance(v, int | float) else repr(str(v))
        sql = sql.replace(f":{k}", text)
    return sql
