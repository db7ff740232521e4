"""Teaching mode, run for real: the story step by step, straight through or paused on a terminal."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from compare.scenario import load

pytestmark = pytest.mark.harness

REPO = Path(__file__).resolve().parents[2]
STORY = load("add_read_count")
TOTAL = len(STORY.steps)
NOT_NEEDED = {"fix_migration", "retry_change"}  # the safe variant needs no hand fix and no retry
PROMPT = "Press Enter for the next step (e to expand it, q to quit)"
# Wide and colourless, so that titles and commands are on one line and free of escape codes.
ENV = {**os.environ, "COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"}

# What each framework's real tool prints: a command and output of each kind of step.
EXPECTED = {
    "Django": [
        "$ cd django_blog && python manage.py makemigrations blog",
        "+ Create model Category",
        "$ cd django_blog && python manage.py migrate",
        "Applying blog.0001_initial... OK",
        "Applying blog.0002_post_read_count... OK",
        "$ cd django_blog && python manage.py makemigrations --check --dry-run",
        "No changes detected",
        "$ cd django_blog && python manage.py migrate blog 0001_initial",
        "Unapplying blog.0002_post_read_count... OK",
    ],
    "Flask-Migrate": [
        "$ cd flask_blog && flask db init",
        "$ cd flask_blog && flask db migrate -m initial",
        "$ cd flask_blog && flask db migrate -m 'add read_count to posts'",
        "Detected added column 'posts.read_count'",
        "$ cd flask_blog && flask db upgrade",
        "$ cd flask_blog && flask db check",
        "$ cd flask_blog && flask db downgrade",
    ],
    "Alembic": [
        "$ cd fastapi_blog && alembic init alembic",
        "$ cd fastapi_blog && alembic revision --autogenerate -m initial",
        "$ cd fastapi_blog && alembic upgrade head",
        "$ cd fastapi_blog && alembic check",
        "No new upgrade operations detected.",
        "$ cd fastapi_blog && alembic downgrade -1",
    ],
}


def teach(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compare", "teach", *args],
        cwd=REPO,
        env=ENV,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )


def sandbox_of(output: str) -> Path:
    return Path(re.search(r"Sandbox: (\S+)", output)[1])


def spawn(*args: str) -> pexpect.spawn:
    """Run teaching mode under a pseudo-terminal; its whole transcript is kept in `child.logfile_read`."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "compare", "teach", *args],
        cwd=REPO,
        env=ENV,
        encoding="utf-8",
        dimensions=(50, 200),
        timeout=120,
    )
    child.logfile_read = io.StringIO()
    return child


def test_all_frameworks_in_lockstep_without_a_terminal():
    proc = teach("--framework", "all", "--variant", "safe", "--no-pause")
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr
    assert PROMPT not in out
    for n, spec in enumerate(STORY.steps, 1):
        if spec.id in NOT_NEEDED:
            assert f"Step {n}/{TOTAL}: {spec.title}: not needed here." in out or spec.after_failure
            continue
        assert f"Step {n}/{TOTAL}: {spec.title}" in out
        assert spec.narrative[:60] in out.replace("\n", " ")
        for tool in EXPECTED:
            assert f"{tool} · {spec.title}" in out, (tool, spec.title)
    for tool, lines in EXPECTED.items():
        for line in lines:
            assert line in out, (tool, line)
    # Lockstep: step 2 of every framework comes after step 1 of every framework.
    assert max(out.index(f"{t} · {STORY.steps[0].title}") for t in EXPECTED) < min(
        out.index(f"{t} · {STORY.steps[1].title}") for t in EXPECTED
    )
    # Alembic's real "Generating ..." line, the script it wrote, the hand edits, and what the schema gained.
    # (sandbox paths shown relative to the app, as a learner's own would be)
    assert re.search(r"Generating alembic/versions/\w+_initial\.py \.\.\.\s+done", out)
    assert "op.add_column('posts', sa.Column('read_count'" in out
    assert "+target_metadata = Base.metadata" in out
    assert re.search(r"\+\s+read_count = models\.IntegerField\(default=0, db_default=0\)", out)
    assert re.search(r"added\s+posts\.read_count\s+-\s+integer NOT NULL DEFAULT 0", out)
    assert re.search(r"removed\s+posts\.read_count\s+integer NOT NULL DEFAULT 0\s+-", out)
    assert "it rebuilds posts" in out  # Django on SQLite rebuilds the table to add the column
    # after the last step, the scenario's checks for each framework
    assert re.search(r"rollback_leaves_no_trace\s+.\s+pass: the schema after rollback", out)
    assert "Every step and check went as expected." in out
    assert not sandbox_of(out).exists()


def test_expected_failures_stop_each_story_where_the_scenario_says():
    proc = teach("--variant", "unsafe", "--no-pause")
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr
    assert "makemigrations refuses a non-nullable field" in out
    assert "Cannot add a NOT NULL column" in out
    assert "Django: its story stopped at 'Generate the migration for the change'." in out
    assert "Django · Apply the change" not in out
    assert "Alembic · Apply the change" in out and "Alembic · Drift check" not in out
    # the retry a user would type next, and what the first run left in its way
    assert "Alembic · Try the upgrade again" in out and "duplicate column name: subtitle" in out
    assert not sandbox_of(out).exists()


def test_a_step_that_fails_unexpectedly_exits_1():
    proc = teach("--framework", "flask", "--no-pause", "--timeout", "0.01")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAILED: timed out after 0.01 s" in out
    assert f"Flask-Migrate: ran 1 of {TOTAL} steps, 0 as expected" in out
    assert "Some steps or checks did not go as expected." in out
    assert not sandbox_of(out).exists()


def test_on_a_terminal_it_pauses_between_steps_and_q_quits():
    child = spawn("--framework", "flask")
    try:
        child.expect(r"Sandbox: (\S+)")
        sandbox = Path(child.match[1])
        child.expect_exact(f"Step 1/{TOTAL}: {STORY.steps[0].title}")
        child.expect_exact("$ cd flask_blog && flask db init")
        child.expect_exact(PROMPT)
        assert sandbox.is_dir()
        # It waits: nothing of step 2 within a few seconds.
        assert child.expect([rf"Step 2/{TOTAL}", pexpect.TIMEOUT], timeout=3) == 1
        child.sendline("")
        child.expect_exact(f"Step 2/{TOTAL}: {STORY.steps[1].title}")
        child.expect_exact("$ cd flask_blog && flask db migrate -m initial")
        child.expect_exact(PROMPT)
        child.sendline("q")
        child.expect_exact(f"Stopped after step 2 of {TOTAL}.")
        child.expect_exact(f"Sandbox removed: {sandbox}")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert f"Step 3/{TOTAL}" not in child.logfile_read.getvalue()
    assert child.exitstatus == 0
    assert not sandbox.exists()


def test_ctrl_c_at_the_prompt_removes_the_sandbox():
    child = spawn("--framework", "django")
    try:
        child.expect(r"Sandbox: (\S+)")
        sandbox = Path(child.match[1])
        child.expect_exact(PROMPT)
        child.sendintr()
        child.expect_exact("Interrupted.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 130
    assert not sandbox.exists()


def test_no_pause_on_a_terminal_runs_straight_through():
    child = spawn("--framework", "fastapi", "--no-pause")
    try:
        child.expect(r"Sandbox: (\S+)")
        sandbox = Path(child.match[1])
        child.expect_exact("Every step and check went as expected.")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert PROMPT not in child.logfile_read.getvalue()
    assert child.exitstatus == 0
    assert not sandbox.exists()


ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07")


def test_a_whole_class_fits_a_160x45_terminal():
    """Every step of the default (tutorial) variant, all three frameworks side by side, on a 160x45 terminal:
    from its title to the prompt a step never takes more than the screen, so the title and the why stay in view;
    `e` shows a step in full."""
    env = {**ENV, "TERM": "xterm-256color"}
    env.pop("COLUMNS")
    child = pexpect.spawn(
        sys.executable, ["-m", "compare", "teach"], cwd=REPO, env=env, encoding="utf-8", dimensions=(45, 160)
    )
    child.logfile_read = io.StringIO()
    prompts, expanded = 0, None
    try:
        while child.expect_exact([PROMPT.strip(), "Every step and check went as expected."], timeout=180) == 0:
            prompts += 1
            if expanded is None and re.search(r"Step \d+/\d+: Apply the change", ANSI.sub("", child.before)):
                child.sendline("e")
                expanded = prompts  # the next screen is that step in full, as long as it needs
                child.expect_exact(PROMPT.strip(), timeout=60)
                prompts += 1
            child.sendline("")
        child.expect(pexpect.EOF, timeout=60)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    out = ANSI.sub("", child.logfile_read.getvalue()).replace("\r\n", "\n")
    screens = out.split(PROMPT.strip())[:-1]
    assert len(screens) >= 9
    folded = [screen for screen in screens if "lines folded" in screen or "folded (e expands)" in screen]
    assert expanded is not None
    for n, screen in enumerate(screens):
        title = list(re.finditer(r"(?m)^Step \d+/\d+: .*$", screen))[-1]
        shown = screen[title.start() :].rstrip("\n").splitlines()
        if n != expanded:
            assert len(shown) <= 44, (title[0], len(shown))
        else:
            assert "folded (e expands)" not in screen[title.start() :], "e shows the step in full"
    assert folded, "long steps are folded to fit"
    apply = next(s for s in screens if re.search(r"(?m)^Step \d+/\d+: Apply the change", s))
    assert apply.count("posts.read_count added: NULL x4") == 2, "the tutorial's NULLs show where they appear"
    assert "posts.read_count added: 0 x4" in apply
    assert "Rows now: categories 3, posts 4" in apply
