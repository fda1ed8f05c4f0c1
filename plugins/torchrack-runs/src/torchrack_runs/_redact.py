"""Redaction: secrets in configs and event fields never reach the run store or its logs.

A value is secret when its key looks like one (:func:`is_sensitive_key`: token, password, secret,
api_key, credential, case-insensitive, anywhere in the key) or when its path is listed explicitly
(params that a component's schema marks ``"x-sensitive": true``). Secret values become
:data:`REDACTED`; everything else is copied unchanged.

>>> redact({"model": {"params": {"hf_token": "abc", "depth": 3}}})
{'model': {'params': {'hf_token': '***', 'depth': 3}}}
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Any

#: What a redacted value is replaced with.
REDACTED = "***"

#: Key fragments that mark a value as secret (searched case-insensitively anywhere in the key).
SENSITIVE_KEY = re.compile(r"token|passw(?:or)?d|secret|api[_-]?key|credential", re.IGNORECASE)

#: Key fragments that contain "token" but name ordinary ML settings, not secrets: tokenizers,
#: token counts (``max_tokens``), special tokens (``pad_token``) and token ids. They are removed
#: from a key before :data:`SENSITIVE_KEY` is searched, so ``tokenizer_secret`` stays secret.
BENIGN_KEY = re.compile(
    r"tokeni[sz][a-z]*|(?:pad|bos|eos|unk|cls|sep|mask|special)_tokens?|token_(?:ids?|types?)|tokens",
    re.IGNORECASE,
)


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key names a secret (``token``, ``db_password``, ``apiKey``...)."""
    if not isinstance(key, str):
        return False
    return SENSITIVE_KEY.search(BENIGN_KEY.sub("", key)) is not None


def _split(path: str) -> tuple[str, ...]:
    # "augment[0].params.key" and "augment.0.params.key" address the same value.
    return tuple(p for p in re.split(r"[.\[\]]+", path) if p)


def redact(obj: Any, *, paths: Iterable[str] = ()) -> Any:
    """Return a copy of ``obj`` with secret values replaced by :data:`REDACTED`.

    ``obj`` is any JSON-like value (dicts, lists, tuples, scalars). A value is replaced when its
    key is sensitive (:func:`is_sensitive_key`) or when its dotted path (``model.head.params.key``,
    list items by index: ``augment.0.params.key`` or ``augment[0].params.key``) is in ``paths``.
    ``None`` is kept as ``None``: an unset secret reveals nothing. The input is not modified.
    """
    wanted = {_split(p) for p in paths}
    return _redact(obj, (), wanted)


def _redact(obj: Any, here: tuple[str, ...], wanted: Collection[tuple[str, ...]]) -> Any:
    if isinstance(obj, dict):
        out: dict[Any, Any] = {}
        for key, value in obj.items():
            path = (*here, str(key))
            if value is not None and (is_sensitive_key(key) or path in wanted):
                out[key] = REDACTED
            else:
                out[key] = _redact(value, path, wanted)
        return out
    if isinstance(obj, (list, tuple)):
        items = [_redact(v, (*here, str(i)), wanted) for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    return obj


def secret_values(obj: Any, *, paths: Iterable[str] = (), min_length: int = 4) -> set[str]:
    """The string forms of the values that :func:`redact` would hide (for :func:`scrub`).

    Values shorter than ``min_length`` characters are left out: scrubbing ``"1"`` from every
    message would destroy it without protecting anything.
    """
    found: set[str] = set()
    wanted = {_split(p) for p in paths}

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)
        elif value is not None and not isinstance(value, bool):
            text = str(value)
            if len(text) >= min_length:
                found.add(text)

    def walk(value: Any, here: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                path = (*here, str(key))
                if is_sensitive_key(key) or path in wanted:
                    collect(v)
                else:
                    walk(v, path)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, (*here, str(i)))

    walk(obj, ())
    return found


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each of ``secrets`` in ``text`` (an error message, say)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, REDACTED)
    return text
