"""The published data contracts: JSON Schemas, tensor specs and params schemas derived from code.

- :func:`load_schema`, :func:`validate`, :data:`SCHEMA_FILES`: the JSON Schemas in the repository's
  ``contracts/`` folder (shipped inside the wheel), validated with JSON pointers;
- :class:`TensorSpec`, :func:`resolve_spec`, :func:`unify`: tensor specs with symbolic dims;
- :func:`check_tensor`, :func:`check_tensors`: real or ``meta`` tensors against declared specs;
- :func:`params_schema_of`, :func:`drift`: a component's params schema derived from its signature.

Nothing here imports torch or a plugin; jsonschema is imported when something is validated.
"""

from typing import TYPE_CHECKING, Any

from torchrack.contracts._check import check_tensor, check_tensors
from torchrack.contracts._schemas import (
    SCHEMA_FILES,
    SchemaProblem,
    UnknownSchemaError,
    load_schema,
    params_with_defaults,
    schema_text,
    validate,
    validate_params,
    validate_params_schema,
)
from torchrack.contracts._tensorspec import (
    Dim,
    InvalidTensorSpecError,
    TensorSpec,
    dtype_matches,
    eval_dim,
    format_shape,
    param_of,
    substitute,
    unify,
)
from torchrack.contracts._tensorspec import resolve as resolve_spec

if TYPE_CHECKING:
    from torchrack.contracts._signature import SignatureError, drift, merge, params_schema_of

__all__ = [
    "SCHEMA_FILES",
    "Dim",
    "InvalidTensorSpecError",
    "SchemaProblem",
    "SignatureError",
    "TensorSpec",
    "UnknownSchemaError",
    "check_tensor",
    "check_tensors",
    "drift",
    "dtype_matches",
    "eval_dim",
    "format_shape",
    "load_schema",
    "merge",
    "param_of",
    "params_schema_of",
    "params_with_defaults",
    "resolve_spec",
    "schema_text",
    "substitute",
    "unify",
    "validate",
    "validate_params",
    "validate_params_schema",
]


#: Imported on first use: deriving a schema from a signature needs :mod:`inspect` (with ast, dis
#: and tokenize, 4 ms), which listing, checking and validating never use.
_LAZY = frozenset({"SignatureError", "drift", "merge", "params_schema_of"})


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'torchrack.contracts' has no attribute {name!r}")
    from torchrack.contracts import _signature

    value = getattr(_signature, name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
