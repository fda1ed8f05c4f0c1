"""The JSON-Schema contracts: loading (importlib.resources) and validation with JSON pointers.

The schemas live in the repository's ``contracts/`` folder, the single source of truth, and are
shipped inside the wheel as ``torchrack/contracts/json/``. jsonschema is imported only when something
turns out invalid (or too unusual for :mod:`torchrack.contracts._fast` to decide): valid inputs, the
common case, are accepted by that small checker, so that a cold plugin scan does not pay for
importing jsonschema. Every problem reported is still jsonschema's.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchrack._errors import TorchrackError
from torchrack._record import FrozenRecord
from torchrack.contracts import _fast, _metaschema

#: Published schema names -> file names inside ``contracts/``.
SCHEMA_FILES: dict[str, str] = {
    "manifest": "manifest.schema.json",
    "tensor-spec": "tensor-spec.schema.json",
    "experiment-config": "experiment-config.schema.json",
    "run-record": "run-record.schema.json",
    "event": "event.schema.json",
    "sweep": "sweep.schema.json",
}


class UnknownSchemaError(TorchrackError, KeyError):
    """A schema name that torchrack does not publish."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown schema {name!r}; expected one of: {', '.join(sorted(SCHEMA_FILES))}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class SchemaProblem(FrozenRecord):
    """One validation failure: where (a JSON pointer into the instance) and what."""

    _fields = ("pointer", "message")
    pointer: str
    message: str

    def __init__(self, pointer: str, message: str) -> None:
        self._set(pointer=pointer, message=message)

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


@functools.cache
def _contracts_dir() -> Path:
    # Installed from a wheel, the schemas sit beside this file: found with one stat, without
    # importlib.resources (its imports, tempfile, shutil, zipfile and lzma among them, were 15 ms
    # of every cold `torchrack list`). importlib.resources is kept for packages that are not
    # plain folders (a zip on sys.path).
    here = Path(__file__)
    beside = here.with_name("json")
    if beside.is_dir():
        return beside
    # An editable (development) install: the contracts sit at the repository root.
    repo = here.resolve().parents[4] / "contracts"
    if (repo / SCHEMA_FILES["manifest"]).is_file():
        return repo
    from importlib import resources

    packaged = resources.files("torchrack.contracts").joinpath("json")
    if packaged.is_dir():
        return Path(str(packaged))
    raise TorchrackError(
        "torchrack's contracts folder is missing from the installation; reinstall torchrack"
    )


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """Return the published schema ``name`` (see :data:`SCHEMA_FILES`) as a dict."""
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise UnknownSchemaError(name) from None
    with open(_contracts_dir() / filename, encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def schema_text(name: str) -> str:
    """Return the schema ``name`` exactly as shipped."""
    try:
        filename = SCHEMA_FILES[name]
    except KeyError:
        raise UnknownSchemaError(name) from None
    return (_contracts_dir() / filename).read_text(encoding="utf-8")


@functools.cache
def _fast_registry() -> dict[str, Any]:
    """The published schemas by ``$id``, for the fast check's cross-schema ``$ref``s."""
    return {load_schema(n)["$id"]: load_schema(n) for n in SCHEMA_FILES}


@functools.cache
def _validator(name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource

    resources_ = [
        (load_schema(n)["$id"], Resource.from_contents(load_schema(n))) for n in SCHEMA_FILES
    ]
    registry: Any = Registry().with_resources(resources_)
    schema = load_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry)


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@functools.cache
def _compiled(name: str) -> Callable[[Any], bool | None] | None:
    """Schema ``name`` compiled into a Python validity check (None: it cannot be compiled)."""
    from torchrack.contracts._compiled import Unsupported, compile_schema

    try:
        return compile_schema(load_schema(name), _fast_registry())
    except Unsupported:
        return None


def is_valid(name: str, instance: Any) -> bool | None:
    """Whether ``instance`` is valid against schema ``name`` as jsonschema finds it, decided
    without jsonschema: True, False, or None (undecided). The compiled check answers first; where
    it is undecided, :mod:`._fast` interprets the schema."""
    check = _compiled(name)
    verdict = check(instance) if check is not None else None
    if verdict is None:
        verdict = _fast.is_valid(load_schema(name), instance, _fast_registry())
    return verdict


def validate(name: str, instance: Any) -> list[SchemaProblem]:
    """Validate ``instance`` against schema ``name``; return every problem (empty when valid)."""
    if is_valid(name, instance) is True:
        return []
    validator = _validator(name)
    problems = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        problems.append(SchemaProblem(_pointer(err.absolute_path), err.message))
    return problems


@functools.lru_cache(maxsize=1)
def _metaschema_validator() -> Any:
    import jsonschema

    cls = jsonschema.Draft202012Validator
    return cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)


def validate_params_schema(schema: Any, *, parsed_json: bool = False) -> list[SchemaProblem]:
    """Check that a component's params schema is itself a valid Draft 2020-12 schema.

    One metaschema validator is built once and reused: building it per schema dominated a cold
    scan of many plugins. A schema the fast check finds valid does not import jsonschema at all.
    ``parsed_json``: see :func:`torchrack.contracts._metaschema.is_valid_params_schema`.
    """
    if _metaschema.is_valid_params_schema(schema, parsed_json=parsed_json) is True:
        return []
    return [
        SchemaProblem(_pointer(e.absolute_path), e.message)
        for e in _metaschema_validator().iter_errors(schema)
    ][:1]


def validate_params(schema: dict[str, Any], params: Any) -> list[SchemaProblem]:
    """Validate component ``params`` against its params ``schema``."""
    if _fast.is_valid(schema, params, {}) is True:
        return []
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    return [
        SchemaProblem(_pointer(e.absolute_path), e.message)
        for e in sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.path)))
    ]


def params_with_defaults(schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` completed with the top-level defaults declared in ``schema``."""
    out = {
        key: prop["default"]
        for key, prop in schema.get("properties", {}).items()
        if isinstance(prop, dict) and "default" in prop
    }
    out.update(params)
    return out
