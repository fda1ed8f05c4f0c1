"""The manifest says what the code does: `torchrack manifest check` finds no drift."""

from pathlib import Path

from torchrack.cli import main


def test_manifest_matches_the_code() -> None:
    assert main(["manifest", "check", str(Path(__file__).resolve().parents[1])]) == 0
