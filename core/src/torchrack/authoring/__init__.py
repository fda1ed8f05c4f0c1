"""Authoring: what a plugin's author runs on their own project.

- :func:`new_plugin`: scaffold a complete plugin distribution of one kind (``torchrack new-plugin``);
- :func:`load_project`, :func:`generate`, :func:`check`: the manifest derived from the code, and
  its drift (``torchrack manifest generate|check``). These import the project's own code.
"""

from torchrack.authoring._project import (
    Project,
    ProjectError,
    check,
    code_schemas,
    generate,
    load_project,
    write_manifest,
)
from torchrack.authoring._scaffold import ScaffoldError, new_plugin, package_name

__all__ = [
    "Project",
    "ProjectError",
    "ScaffoldError",
    "check",
    "code_schemas",
    "generate",
    "load_project",
    "new_plugin",
    "package_name",
    "write_manifest",
]
