"""``torchrack config [--json]``: the trust settings and paths in force, and where each came from."""

from __future__ import annotations

import argparse
import os
from typing import Any

from torchrack.cli.output import print_json, table
from torchrack.plugins._trust import load_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from torchrack.plugins._discovery import cache_dir, cache_enabled

    s = load_settings()
    rows: list[tuple[str, Any, str]] = [
        ("allow", [str(r) for r in s.allow], s.sources.get("allow", "default (everything allowed)")),
        ("deny", [str(r) for r in s.deny], s.sources.get("deny", "default (nothing denied)")),
        ("strict", s.strict, s.sources.get("strict", "default")),
        ("no_plugins", s.no_plugins, s.sources.get("no_plugins", "default")),
        ("store", os.environ.get("TORCHRACK_STORE") or "./.torchrack/runs.sqlite",
         "TORCHRACK_STORE" if os.environ.get("TORCHRACK_STORE") else "default (--store overrides)"),
        ("cache", str(cache_dir()) if cache_enabled() else "off",
         "TORCHRACK_NO_CACHE" if not cache_enabled()
         else "TORCHRACK_CACHE_DIR" if os.environ.get("TORCHRACK_CACHE_DIR") else "default"),
    ]
    if args.json:
        print_json({k: {"value": v, "source": src} for k, v, src in rows})
        return 0
    print(table(("SETTING", "VALUE", "FROM"), [(k, v, src) for k, v, src in rows]))
    print("\nprecedence, lowest first: [tool.torchrack] in ./pyproject.toml, ./torchrack.toml, "
          "environment (TORCHRACK_ALLOW, TORCHRACK_DENY, TORCHRACK_STRICT, TORCHRACK_NO_PLUGINS)")
    return 0
