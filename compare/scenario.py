"""Scenarios are data (compare/scenarios/*.toml), validated here with pydantic."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCENARIOS = Path(__file__).parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(_Strict):
    id: str
    kind: Literal["init", "generate", "upgrade", "seed", "edit", "check", "rollback"]
    title: str
    narrative: str
    message: str | None = None


class Expectation(_Strict):
    """A check outcome the variant is known to produce: reported, but not a failure of the run."""

    check: str
    frameworks: list[str]
    passed: bool
    reason: str
    backends: list[str] = Field(default_factory=lambda: ["sqlite", "postgresql"])


class StepFailure(_Strict):
    """A step the variant is known to make fail (the story stops there, as planned)."""

    step: str
    frameworks: list[str]
    reason: str
    backends: list[str] = Field(default_factory=lambda: ["sqlite", "postgresql"])


class Variant(_Strict):
    title: str
    description: str
    fields: dict[str, str]  # framework -> the model line that adds the field
    checks: list[str]  # the checks that apply to this variant
    compare_committed: list[str] = Field(default_factory=list)  # steps whose files must equal the committed ones
    expect: list[Expectation] = Field(default_factory=list)
    fails: list[StepFailure] = Field(default_factory=list)

    def step_fails(self, step: str, framework: str, backend: str) -> bool:
        return any(f.step == step and framework in f.frameworks and backend in f.backends for f in self.fails)

    def expected(self, check: str, framework: str, backend: str) -> bool:
        for e in self.expect:
            if e.check == check and framework in e.frameworks and backend in e.backends:
                return e.passed
        return True

    def reason(self, check: str, framework: str) -> str | None:
        return next((e.reason for e in self.expect if e.check == check and framework in e.frameworks), None)


class Seed(_Strict):
    categories: list[dict[str, str | int | None]]
    posts: list[dict[str, str | int | None]]

    def tables(self) -> list[str]:
        """The seeded tables, parents first."""
        return list(type(self).model_fields)


class Scenario(_Strict):
    name: str
    title: str
    summary: str
    field: str
    table: str
    steps: list[StepSpec]
    variants: dict[str, Variant]
    seed: Seed

    def step(self, step_id: str) -> StepSpec:
        return next(s for s in self.steps if s.id == step_id)


def load(name: str = "add_read_count") -> Scenario:
    """Load and validate compare/scenarios/<name>.toml."""
    with (SCENARIOS / f"{name}.toml").open("rb") as f:
        return Scenario.model_validate(tomllib.load(f))


def names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.toml"))
