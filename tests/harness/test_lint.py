"""Safety lint on real runs: each of the lab's rules on a scenario that triggers it and one that does not, the real
squawk binary on PostgreSQL with the run's verdicts, and `python -m compare lint`'s exit codes."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compare import lint, render, runner
from compare.adapters import ADAPTERS
from compare.backends import PostgresBackend, SQLiteBackend
from compare.model import Catalog, LintFinding, Report
from compare.scenario import load
from tests.postgres import PgServer

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[2]
FRAMEWORKS = list(ADAPTERS)

# rule -> (scenario, variant, framework, step) where it fires on SQLite, and one where it does not
CASES = {
    "sqlite-table-rebuild": (
        ("add_read_count", "safe", "django", "upgrade_change"),
        ("add_read_count", "safe", "fastapi", "upgrade_change"),
    ),
    "ddl-outside-transaction": (
        ("add_read_count", "safe", "fastapi", "upgrade_change"),
        ("add_read_count", "safe", "django", "upgrade_change"),
    ),
    "not-null-without-default": (
        ("add_read_count", "tutorial", "django", "upgrade_change"),
        ("add_read_count", "safe", "fastapi", "upgrade_change"),
    ),
    "rollback-drops-data": (
        ("add_read_count", "safe", "fastapi", "rollback"),
        ("add_read_count", "tutorial", "fastapi", "rollback"),
    ),
    "irreversible-data-migration": (
        ("data_migration", "irreversible", "django", "rollback"),
        ("data_migration", "reversible", "django", "rollback"),
    ),
    "unnamed-constraint-in-batch": (
        ("add_unique", "unnamed", "flask", "upgrade_change"),
        ("add_unique", "named", "flask", "upgrade_change"),
    ),
    "ddl-left-half-done": (
        ("add_read_count", "unsafe", "flask", "upgrade_change"),
        ("add_read_count", "safe", "flask", "upgrade_change"),
    ),
}


@pytest.fixture(scope="module")
def sqlite_run() -> Catalog:
    scenarios = [load(n) for n in ("add_read_count", "data_migration", "add_unique", "drop_column")]
    variants = ["safe", "unsafe", "tutorial", "reversible", "irreversible", "unnamed", "named", "generated"]
    catalog, _ = runner.run(scenarios, FRAMEWORKS, variants, [SQLiteBackend()])
    return catalog


@pytest.fixture(scope="module")
def pg_run(pg_server: PgServer) -> Catalog:
    scenarios = [load(n) for n in ("add_read_count", "widen_type", "narrow_type")]
    catalog, _ = runner.run(scenarios, FRAMEWORKS, ["safe", "unsafe", "default", "truncate_first"], [PostgresBackend()])
    return catalog


def found(catalog: Catalog, scenario: str, variant: str, framework: str, step: str, backend="sqlite"):
    report = catalog.report(scenario)
    story = report.story(framework, variant, backend)
    assert story is not None and story.step(step) is not None, (scenario, variant, framework, step, "did not run")
    return [f for f in lint.of(report, story) if f.step == step]


def test_every_rule_of_lint_toml_is_tested_and_its_predicate_documented():
    assert {r.id for r in lint.rules().rules} == set(CASES)
    for r in lint.rules().rules:
        assert r.severity in lint.SEVERITIES and r.why and r.when in lint.PREDICATES
        assert set(r.safe) == set(FRAMEWORKS) and all(r.safe.values()), r.id
        assert "http" not in " ".join(r.safe.values()), r.id
    for name, fn in lint.PREDICATES.items():
        assert fn.__doc__ and fn.__doc__.strip(), name
    assert all(h.when in lint.PREDICATES for h in lint.rules().hazards)


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_fires_where_measured_and_not_elsewhere(sqlite_run, rule):
    fires, quiet = CASES[rule]
    hits = [f for f in found(sqlite_run, *fires) if f.rule == rule]
    assert hits, (rule, fires, [f.rule for f in found(sqlite_run, *fires)])
    assert all(f.source == "lab" and f.verdict == "confirmed" and f.evidence for f in hits)
    assert not [f for f in found(sqlite_run, *quiet) if f.rule == rule], (rule, quiet)


def test_no_squawk_on_sqlite_and_its_version_in_the_environment(sqlite_run):
    assert all(f.source == "lab" for r in sqlite_run.reports for f in r.lint)
    version = subprocess.run([lint.squawk_binary(), "--version"], capture_output=True, text=True).stdout
    assert version.startswith("squawk 2.")
    assert sqlite_run.environment["squawk"] == version.split()[1]
    assert all(r.environment["squawk"] == version.split()[1] for r in sqlite_run.reports)


def test_a_measured_hazard_no_rule_flagged_is_unflagged(sqlite_run):
    """Dropping a column with values on SQLite: no lab rule covers an upgrade's data loss, squawk does not run."""
    hits = found(sqlite_run, "drop_column", "generated", "django", "upgrade_change")
    assert [f.rule for f in hits if f.verdict == "unflagged"] == ["unflagged-data-loss"], hits
    assert "values lost" in hits[-1].evidence


def test_the_matrix_counts_each_cell(sqlite_run):
    from compare import views

    _, rows = views.matrix(sqlite_run.reports)
    row = next(r for r in rows if (r.scenario, r.variant) == ("add_read_count", "unsafe"))
    cell = row.cells[("flask", "sqlite")]
    mine = lint.of(sqlite_run.report("add_read_count"), cell.story)
    assert cell.lint.get("error") == sum(f.severity == "error" for f in mine) >= 1
    assert cell.lint_text.startswith("lint: 1 error")


def compare_lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compare", "lint", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "220"},  # wide enough that no rule id is folded
    )


def test_lint_subcommand_exit_codes(sqlite_run, tmp_path):
    render.write_json(sqlite_run, tmp_path / "all.json")
    proc = compare_lint("--json", str(tmp_path / "all.json"))
    assert proc.returncode == 1, proc.stderr
    assert "ddl-left-half-done" in proc.stdout and "error-severity: exit 1" in proc.stdout

    # the safe variant alone, linted afresh: warnings only
    report = sqlite_run.report("add_read_count")
    safe = dataclasses.replace(report, stories=[s for s in report.stories if s.variant == "safe"])
    safe.lint = lint.lint(safe)
    assert safe.lint and not [f for f in safe.lint if f.severity == "error"]
    render.write_json(dataclasses.replace(sqlite_run, reports=[safe]), tmp_path / "safe.json")
    proc = compare_lint("--json", str(tmp_path / "safe.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sqlite-table-rebuild" in proc.stdout

    proc = compare_lint("--json", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr and len(proc.stderr.splitlines()) == 1
    (tmp_path / "old.json").write_text(json.dumps({"format": "migration-lab/compare", "version": 1}))
    proc = compare_lint("--json", str(tmp_path / "old.json"))
    assert proc.returncode == 2 and "format 2" in proc.stderr and len(proc.stderr.splitlines()) == 1


def squawk_findings(catalog: Catalog, scenario: str, variant: str, framework: str, rule: str) -> list[LintFinding]:
    hits = found(catalog, scenario, variant, framework, "upgrade_change", backend="postgresql")
    return [f for f in hits if f.source == "squawk" and f.rule == rule]


@pytest.mark.postgresql
@pytest.mark.parametrize("framework", ["flask", "fastapi"])
def test_squawk_flags_the_required_field_and_the_failure_confirms_it(pg_run, framework):
    (hit,) = squawk_findings(pg_run, "add_read_count", "unsafe", framework, "adding-required-field")
    assert "read_count" in hit.statement and "NOT NULL" in hit.statement
    assert hit.verdict == "confirmed" and "failed" in hit.evidence
    assert hit.equivalent == "django-migration-linter NOT_NULL"
    assert not squawk_findings(pg_run, "add_read_count", "safe", framework, "adding-required-field")


@pytest.mark.postgresql
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_squawk_rewrite_warnings_held_against_relfilenode(pg_run, framework):
    """changing-column-type says the table is rewritten: widening a varchar does not, cutting one does."""
    (wide,) = squawk_findings(pg_run, "widen_type", "default", framework, "changing-column-type")
    assert wide.verdict == "contradicted" and "relfilenode unchanged" in wide.evidence
    (narrow,) = squawk_findings(pg_run, "narrow_type", "truncate_first", framework, "changing-column-type")
    assert narrow.verdict == "confirmed" and "relfilenode changed" in narrow.evidence


@pytest.mark.postgresql
def test_squawk_on_postgresql_only_and_locks_not_measured(pg_run):
    report = pg_run.report("add_read_count")
    assert {f.backend for f in report.lint} == {"postgresql"}
    locks = [f for f in report.lint if f.rule == "require-lock-timeout"]
    assert locks and all(f.verdict == "not measured" for f in locks)
    assert pg_run.environment["squawk"] == lint.versions()["squawk"]


def test_lint_of_a_report_with_no_linted_step_is_empty():
    assert lint.lint(Report("x", "x", "", 0.0, {})) == []
