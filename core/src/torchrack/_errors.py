"""The error and warning bases of torchrack.

Every error torchrack raises for bad input derives from :class:`TorchrackError`, so a user can
catch one type. Each carries the offending object where there is one, and its message names who
(file, JSON pointer, component, distribution), what was expected, what was found and the fix.
"""

from __future__ import annotations


class TorchrackError(Exception):
    """Base of every error torchrack raises for bad input or an unusable plugin."""


class TorchrackWarning(UserWarning):
    """Base of every warning torchrack emits."""


class TorchrackDeprecationWarning(TorchrackWarning, DeprecationWarning):
    """A deprecated component or API was used; the message names its replacement."""
