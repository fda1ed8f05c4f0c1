"""Run records: assembled and checked before they are stored, rebuilt from rows when read.

A record is checked twice before any row is written: every value bound to an INTEGER column fits
SQLite's 64-bit integers (:func:`check_int`, naming the field), and the whole record conforms to
the run-record schema. JSON columns hold strict JSON (:mod:`torchrack_runs._json`). Reading a row
whose JSON is damaged raises a :class:`StoreError` naming the run and the column.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torchrack_runs._json import dumps
from torchrack_runs._redact import redact, secret_values
from torchrack_runs._store_errors import CHOOSE, InvalidRunRecordError, StoreError

#: The run-record schema version of the records written and read back here. 2 added the optional
#: ``measurements`` and ``calibration`` fields; a record that says 1 (written before, e.g. kept as
#: ``runs show --json`` output) is still valid: the schema accepts both, and the rows of a store
#: written by an older torchrack read back as version 2 records without those fields.
RECORD_SCHEMA_VERSION = 2

#: The schema versions a run record may carry (``contracts/run-record.schema.json``).
READABLE_RECORD_VERSIONS = (1, 2)

#: The range of an SQLite INTEGER (a signed 64-bit integer).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

#: A run id as a user types it: ASCII digits only (``str.isdigit`` also accepts "²" and "١").
RUN_ID = re.compile(r"[0-9]+")

# Record fields kept in their own columns or tables; any other field goes to ``extra``.
COLUMN_FIELDS = frozenset(
    {
        "schema_version", "run_id", "name", "status", "error", "config", "config_sha256",
        "components", "environment", "seed", "epochs", "final_metrics", "evaluations", "timings",
        "checkpoint", "checkpoint_epoch",
    }
)


def _shown(value: Any) -> str:
    """A value for a message: huge ints by their size (str() of one may itself fail)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit integer"
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "..."


def _invalid(field: str, problem: str) -> InvalidRunRecordError:
    message = f"{field}: {problem}"
    return InvalidRunRecordError(f"the run record cannot be stored: {message}", [message])


def check_int(field: str, value: Any, *, minimum: int = INT_MIN) -> int:
    """``value`` as an int that an SQLite INTEGER column holds, or :class:`InvalidRunRecordError`
    naming ``field``. Integral floats (3.0) and integer-like objects (numpy ints) are accepted."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise _invalid(field, f"expected a whole number, found {_shown(value)}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise _invalid(field, f"expected a whole number, found {_shown(value)}")
        number = int(value)
    else:
        try:
            number = operator.index(value)
        except TypeError:
            raise _invalid(field, f"expected a whole number, found {_shown(value)}") from None
    if not minimum <= number <= INT_MAX:
        low = "0" if minimum == 0 else "-2**63"
        raise _invalid(
            field,
            f"{_shown(number)} is outside the range the run store can hold ({low} to 2**63-1, a "
            f"64-bit integer); use a smaller value",
        )
    return number


def to_json(field: str, value: Any) -> str:
    """Canonical strict JSON of ``value`` for a JSON column; :class:`InvalidRunRecordError`
    naming ``field`` when it has no JSON form."""
    try:
        return dumps(value)
    except ValueError as exc:
        raise _invalid(field, f"cannot be stored as JSON ({exc})") from None


def mapping_json(field: str, value: Any) -> str:
    """:func:`to_json` of a mapping (metrics); :class:`InvalidRunRecordError` for anything else."""
    if not isinstance(value, Mapping):
        raise _invalid(field, f"expected a mapping of names to values, found {_shown(value)}")
    return to_json(field, dict(value))


def _mapping(value: Any) -> Any:
    """A dict copy of a mapping; None as {}; anything else as it is (the schema reports it)."""
    if value is None:
        return {}
    return dict(value) if isinstance(value, Mapping) else value


def assemble(record: Mapping[str, Any], sensitive_paths: Iterable[str],
             now: float) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """The full record (status "running", run_id "0" until stored), the extra fields and the
    config's secret values, from what :meth:`RunStore.create_run` was given. Raises
    :class:`InvalidRunRecordError` when the record cannot be stored."""
    if not isinstance(record, Mapping):
        raise _invalid("record", f"expected a mapping of fields, found {_shown(record)}")
    check_int("seed", record.get("seed"))  # the INTEGER columns first: their fields are named
    if record.get("checkpoint_epoch") is not None:
        check_int("checkpoint_epoch", record["checkpoint_epoch"], minimum=0)
    paths = tuple(sensitive_paths)
    config = _mapping(record.get("config"))
    config_json = to_json("config", config)  # first: redaction would recurse on a circular one
    secrets = secret_values(config, paths=paths)
    timings = _mapping(record.get("timings"))
    if isinstance(timings, dict):
        timings.setdefault("started_at", now)
        timings.setdefault("ended_at", None)
    components = record.get("components") or []
    full: dict[str, Any] = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "run_id": "0",
        "name": str(record.get("name") or ""),
        "status": "running",
        "error": None,
        "config": redact(config, paths=paths),
        "config_sha256": record.get("config_sha256") or hashlib.sha256(config_json.encode()).hexdigest(),
        "components": list(components) if isinstance(components, (list, tuple)) else components,
        "environment": _mapping(record.get("environment")),
        "seed": record.get("seed"),
        "epochs": [],
        "final_metrics": _mapping(record.get("final_metrics")),
        "evaluations": [],
        "timings": timings,
        "checkpoint": record.get("checkpoint"),
    }
    extra = {k: v for k, v in record.items() if k not in COLUMN_FIELDS}
    if record.get("checkpoint_epoch") is not None:
        full["checkpoint_epoch"] = record["checkpoint_epoch"]
    validate(full, extra)
    return full, extra, secrets


def validate(full: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Check the integer columns' ranges, then the run-record schema (every problem at once)."""
    check_int("seed", full["seed"])
    if full.get("checkpoint_epoch") is not None:
        check_int("checkpoint_epoch", full["checkpoint_epoch"], minimum=0)
    from torchrack.contracts import validate as validate_schema

    strict = {k: json.loads(to_json(k, v)) for k, v in {**full, **extra}.items()}
    problems = [str(p) for p in validate_schema("run-record", strict)]
    if problems:
        raise InvalidRunRecordError(
            "the run record does not conform to the run-record schema: " + "; ".join(problems),
            problems,
        )


def loads(text: Any, default: Any, *, path: Path, run_id: Any, column: str) -> Any:
    """A JSON column's value (``default`` for NULL, of the same type as ``default``), or a
    :class:`StoreError` naming the store, the run and the column when it is damaged."""
    if text is None:
        return default
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        found = f"text that is not JSON ({exc})"
    else:
        if default is None or isinstance(value, type(default)):
            return value
        found = f"JSON of type {type(value).__name__}"
    raise StoreError(
        f"the run store {path} is damaged: run {run_id}'s {column} should be "
        f"{'JSON' if default is None else 'a JSON ' + type(default).__name__}, found {found}; "
        f"restore the store from a backup, or move it away and choose another with {CHOOSE}",
        path,
    )


def from_rows(path: Path, row: Mapping[str, Any], epochs: Sequence[Sequence[Any]],
              evals: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The full run record of one ``runs`` row with its epoch and evaluation rows."""
    rid = row["id"]

    def col(column: str, default: Any, text: Any = None) -> Any:
        raw = row[column] if text is None else text
        return loads(raw, default, path=path, run_id=rid, column=column)

    record: dict[str, Any] = {
        "schema_version": RECORD_SCHEMA_VERSION,
        "run_id": str(rid),
        "name": row["name"],
        "status": row["status"],
        "error": row["error"],
        "config": col("config", {}),
        "config_sha256": row["config_sha256"],
        "components": col("components", []),
        "environment": col("environment", {}),
        "seed": row["seed"],
        "epochs": [{"epoch": e[0], "metrics": col("epoch metrics", {}, e[1])} for e in epochs],
        "final_metrics": col("final_metrics", {}),
        "evaluations": [
            {"split": e[0], "metrics": col("evaluation metrics", {}, e[1]),
             "checkpoint": e[2], "source": e[3], "time": e[4]}
            for e in evals
        ],
        "timings": col("timings", {}),
        "checkpoint": row["checkpoint"],
        "checkpoint_epoch": row["checkpoint_epoch"],
    }
    for key, value in col("extra", {}).items():
        record.setdefault(key, value)
    return record


def summary(path: Path, row: Sequence[Any]) -> dict[str, Any]:
    """A :meth:`RunStore.list_runs` row from ``id, name, status, timings, final_metrics,
    config_sha256, checkpoint, error, epoch count``."""
    rid, name, status, timings, final, sha, ckpt, error, n_epochs = row
    t = loads(timings, {}, path=path, run_id=rid, column="timings")
    return {
        "run_id": str(rid), "name": name, "status": status,
        "started_at": t.get("started_at"), "ended_at": t.get("ended_at"),
        "epochs": n_epochs,
        "final_metrics": loads(final, {}, path=path, run_id=rid, column="final_metrics"),
        "config_sha256": sha, "checkpoint": ckpt, "error": error,
    }
