"""Reading a report back: `mc report` and `mc report compare` take report.json files or run directories."""

from __future__ import annotations

import json
from pathlib import Path

from mc.errors import InputError
from mc.report.schema import REPORT_SCHEMA, Report


def read_report(path: Path) -> Report:
    """A report.json (or a run directory holding one, or its `latest` link), validated against the schema."""
    from pydantic import ValidationError

    if path.is_dir():
        path = path / "report.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"report not found: {path}: give a report.json or a run directory") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable JSON report ({str(error).splitlines()[0]})") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != REPORT_SCHEMA:
        raise InputError(f"{path}: schema {schema!r} is not mc.report/1: was it written by `mc run`?")
    try:
        return Report.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")  # a validator's own sentence, not pydantic's wrapper
        raise InputError(f"{path}: {where}: {message}") from None
