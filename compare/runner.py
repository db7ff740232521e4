"""Measure: run the scenario for each framework x variant x backend, in parallel, in throwaway sandboxes."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import sqlalchemy as sa

from compare import checks, findings
from compare.adapters import ADAPTERS, Adapter, Edit
from compare.backends import Backend
from compare.model import Report, Statement, Step, Story
from compare.sandbox import Sandbox, SandboxError
from compare.scenario import Scenario, StepSpec
from compare.snapshot import classify, data_snapshot, schema_snapshot

Progress = Callable[[Story, Step | None, int], None]


def run(
    scenario: Scenario,
    frameworks: list[str],
    variants: list[str],
    backends: list[Backend],
    timeout: float = 120.0,
    keep: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> tuple[Report, Path]:
    """Run every story in parallel; return the report and the run's temp directory (removed unless kept)."""
    run_dir = Path(tempfile.mkdtemp(prefix="migration-lab-"))
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    runners = [
        StoryRunner(scenario, ADAPTERS[fw], variant, backend, run_dir, timeout, progress)
        for backend in backends
        for variant in variants
        for fw in frameworks
    ]
    workers = min(jobs or len(runners), len(runners))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            stories = list(pool.map(StoryRunner.run, runners))
    finally:
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)
    report = Report(
        scenario=scenario.name,
        title=scenario.title,
        started_at=started.isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - t0, 3),
        environment={**environment(backends), "Stories in parallel": f"{workers} at once on {os.cpu_count()} CPUs"},
        stories=stories,
    )
    report.findings = findings.derive(report, scenario)
    return report, run_dir


def environment(backends: list[Backend]) -> dict[str, str]:
    env = {"Python": platform.python_version(), "Platform": platform.platform(terse=True)}
    for b in backends:
        env.update(b.versions())
    return env


class StoryRunner:
    """Runs the scenario's steps for one framework, variant and backend."""

    def __init__(self, scenario, adapter: Adapter, variant: str, backend: Backend, run_dir: Path, timeout, progress):
        self.scenario: Scenario = scenario
        self.adapter = adapter
        self.variant = scenario.variants[variant]
        self.backend = backend
        self.timeout = timeout
        self.progress = progress or (lambda *_: None)
        self.story = Story(
            framework=adapter.name,
            variant=variant,
            backend=backend.name,
            tool_versions={p: metadata.version(p) for p in adapter.packages},
        )
        self.dir = run_dir / f"{adapter.name}-{variant}-{backend.name}"
        self.url: str | None = None
        self.engine: sa.Engine | None = None
        self._t0 = time.perf_counter()

    def run(self) -> Story:
        """Run every step until one fails, then the checks; the database is dropped at the end."""
        try:
            if self.start():
                for n in range(len(self.scenario.steps)):
                    if not self.run_step(n).ok:
                        break
                self.story.checks = checks.run_all(self.story, self.adapter, self.scenario, self.variant)
        finally:
            self.finish()
        return self.story

    # --- one step at a time (teaching mode drives these) -----------------------------------------------

    def start(self) -> bool:
        """Copy the app into the sandbox and create its database; False, recorded as a failed step, if it cannot."""
        self._t0 = time.perf_counter()
        self.dir.mkdir(parents=True)
        self.story.sandbox = str(self.dir)
        try:
            self.url = self.backend.create(self.dir, f"{self.adapter.name}_{self.story.variant}")
            safe_line = self.scenario.variants["safe"].fields[self.adapter.name]
            self.sandbox = Sandbox(self.adapter, self.dir, self.url, safe_line, self.timeout)
            self.engine = self.backend.engine(self.url)
        except SandboxError as exc:
            self.story.steps.append(
                Step(
                    id="sandbox",
                    kind="init",
                    title="Prepare the sandbox",
                    command=None,
                    ok=False,
                    error=str(exc),
                )
            )
            self.progress(self.story, self.story.steps[-1], len(self.scenario.steps))
            return False
        return True

    def run_step(self, n: int) -> Step:
        """Run the scenario's n-th step, record it in the story and return it."""
        self.progress(self.story, None, n)
        step = self.execute(self.scenario.steps[n])
        self.story.steps.append(step)
        self.progress(self.story, step, n + 1)
        return step

    def finish(self) -> Story:
        """Release and drop the database (the sandbox's files stay); safe to call more than once."""
        if self.engine is not None:
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
        step = Step(id=spec.id, kind=spec.kind, title=spec.title, command=None, cwd=self.adapter.app_dir)
        step.expected_failure = self.variant.step_fails(spec.id, self.adapter.name, self.backend.name)
        try:
            getattr(self, f"_{spec.kind}")(step, spec)
        except Exception as exc:  # a crash of the harness's own step is recorded, like a failing tool
            step.ok, step.error = False, f"{type(exc).__name__}: {exc}"
        try:
            step.schema = schema_snapshot(self.engine, self.adapter.bookkeeping, self.adapter.version_sql)
            step.data = data_snapshot(self.engine, self.scenario.seed.tables())
        except sa.exc.SQLAlchemyError as exc:
            step.note = (step.note or "") + f" (database not readable: {exc.__class__.__name__})"
        return step

    def _tool(self, step: Step, argv: list[str]) -> bool:
        result = self.sandbox.run(argv)
        step.command = f"{step.command}\n{result.call.command}" if step.command else result.call.command
        step.tool_calls.append(result.call)
        step.exit_code = result.call.exit_code
        step.seconds = round(step.seconds + result.call.seconds, 3)
        step.stdout += result.stdout
        step.stderr += result.stderr
        step.sql += result.sql
        step.files += result.written
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
            step.diff = self._apply_edits(self.adapter.init_edits)
            edited = {e.path for e in self.adapter.init_edits}
            step.files = [f for f in step.files if f.path not in edited] + self.sandbox.read(sorted(edited))

    def _generate(self, step: Step, spec: StepSpec) -> None:
        if not self._tool(step, self.adapter.generate_command(spec.message or spec.id)):
            return
        scripts = [f for f in step.files if self.adapter.is_script(f.path)]
        if not scripts:
            step.ok, step.error = False, f"{Step.NO_MIGRATION}: the tool detected no model changes"
        elif not any(self.adapter.operations(s) for s in scripts):
            step.ok, step.error = False, f"{Step.EMPTY_MIGRATION}: {scripts[0].path} has no operations"

    def _upgrade(self, step: Step, spec: StepSpec) -> None:
        self._tool(step, self.adapter.upgrade_command())

    def _rollback(self, step: Step, spec: StepSpec) -> None:
        self._tool(step, self.adapter.rollback_command(self.sandbox.app))

    def _check(self, step: Step, spec: StepSpec) -> None:
        self._tool(step, self.adapter.check_command())

    def _seed(self, step: Step, spec: StepSpec) -> None:
        step.command = "INSERT INTO categories / posts (by the harness, the same rows for every framework)"
        t0 = time.perf_counter()
        with self.engine.begin() as conn:
            for table in self.scenario.seed.tables():
                for row in getattr(self.scenario.seed, table):
                    values = {k: _db_value(v) for k, v in row.items()}
                    cols = ", ".join(values)
                    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(':' + k for k in values)})"
                    conn.execute(sa.text(sql), values)
                    step.sql.append(Statement(_render(sql, values), classify(sql)))
        step.seconds = round(time.perf_counter() - t0, 3)

    def _apply_edits(self, edits: tuple[Edit, ...]) -> str:
        """Apply hand edits to the sandbox's files; return them as one unified diff."""
        diff = []
        for path in dict.fromkeys(e.path for e in edits):
            file = self.sandbox.app / path
            old = file.read_text(encoding="utf-8").splitlines()
            new = list(old)
            for e in (e for e in edits if e.path == path):
                i = new.index(e.anchor)
                new[i : i + 1] = list(e.lines) if e.replace else [e.anchor, *e.lines]
            file.write_text("\n".join(new) + "\n", encoding="utf-8")
            diff += difflib.unified_diff(old, new, f"a/{path}", f"b/{path}", lineterm="")
        return "\n".join(diff)

    def _edit(self, step: Step, spec: StepSpec) -> None:
        line = self.variant.fields[self.adapter.name]
        path = self.sandbox.app / self.adapter.model_file
        old = path.read_text(encoding="utf-8").splitlines()
        new = old[: self.sandbox.field_index] + [line] + old[self.sandbox.field_index :]
        path.write_text("\n".join(new) + "\n", encoding="utf-8")
        step.diff = "\n".join(
            difflib.unified_diff(old, new, f"a/{self.adapter.model_file}", f"b/{self.adapter.model_file}", lineterm="")
        )
        step.files = self.sandbox.read([self.adapter.model_file])


def _db_value(value):
    if isinstance(value, str) and len(value) == 20 and value.endswith("Z") and value[10] == "T":
        return dt.datetime.fromisoformat(value).replace(tzinfo=None)
    return value


def _render(sql: str, values: dict) -> str:
    for k, v in values.items():
        sql = sql.replace(f":{k}", "NULL" if v is None else repr(str(v)) if not isinstance(v, int) else str(v))
    return sql
