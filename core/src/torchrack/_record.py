"""Plain data classes for the modules every command imports, without :mod:`dataclasses`.

Importing :mod:`dataclasses` (it imports :mod:`inspect`, and that :mod:`ast`, :mod:`dis` and
:mod:`tokenize`) took 8.7 ms of every ``torchrack`` start, and decorating the dozen classes of the
discovery path another ~3 ms (each generates and compiles its methods): a tenth of a cold
``torchrack list``. These bases give the same behaviour from ``_fields``: a field-by-field
``repr`` and ``==`` (instances of the same class only), and for :class:`FrozenRecord` no
assignment and a hash of the fields. Each class writes its own ``__init__`` (a straight-line one,
as fast as the generated one).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["FrozenRecord", "Record"]


class Record:
    """A mutable record: ``repr`` and ``==`` over ``_fields``; unhashable, as a dataclass with
    ``eq=True`` is."""

    _fields: ClassVar[tuple[str, ...]] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class FrozenRecord(Record):
    """An immutable record: fields are set once in ``__init__`` (with :meth:`_set`), any later
    assignment raises AttributeError, and it hashes by its fields (TypeError when one is
    unhashable, as a frozen dataclass does)."""

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._values())
