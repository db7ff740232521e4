"""The JSON Schema of reports/compare.json, derived from the data model.

`python -m compare.jsonschema` rewrites compare/schema/compare.schema.json; a test keeps the two in step.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter

from compare.model import FORMAT, VERSION, Catalog

PATH = Path(__file__).resolve().parent / "schema" / "compare.schema.json"


def build() -> dict:
    """The schema of format version VERSION, generated from compare.model."""
    schema = TypeAdapter(Catalog).json_schema(mode="serialization")
    schema["properties"]["format"] = {"const": FORMAT}
    schema["properties"]["version"] = {"const": VERSION}
    schema["required"] = sorted({*schema.get("required", []), "format", "version", "reports"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{FORMAT}/v{VERSION}",
        "title": f"{FORMAT} report, version {VERSION}",
        "description": "What one run of `python -m compare run` measured: per scenario of the catalog, per framework "
        "x variant x backend, every step (role, command, exit code, time, output, executed SQL, generated files, "
        "schema and data snapshots, data changes) and the checks, plus the findings derived from them.",
        **schema,
    }


def text() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    PATH.write_text(text(), encoding="utf-8")
    print(f"wrote {PATH}")
