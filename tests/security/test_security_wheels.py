"""Hostile and careless wheels given to ``torchrack check a.whl``, and METADATA read as pip reads it.

Wheels are built in a temporary folder with :mod:`zipfile` (or byte by byte, for what zipfile will
not write: unknown compression methods, encrypted flags, lying sizes, a 4 GB bomb in 4 MB). Every
unreadable wheel is an :class:`InvalidWheelError` naming the file and member; ``check`` still
reports the other wheels; a manifest that cannot be parsed is that wheel's ``broken`` verdict; a
wheel that is no torchrack plugin is ``not-a-plugin``.
"""

from __future__ import annotations

import email
import json
import os
import re
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torchrack import TorchrackError
from torchrack.integrity import InvalidWheelError, _wheel, read_wheel, vet_wheel
from torchrack.plugins import BROKEN, INCOMPATIBLE, NOT_PLUGIN, OK, Environment, Settings, scan, vet
from torchrack.plugins._discovery import _parse_metadata

INFO = "acme_losses-1.0.dist-info"
METADATA = "Metadata-Version: 2.1\nName: acme-losses\nVersion: 1.0\nRequires-Dist: torchrack>=0.1,<1\n"
ENTRY_POINTS = "[torchrack.losses]\nfocal = acme_losses.focal:Focal\n"
SPEC = {"kind": "loss", "version": "1.0.0", "summary": "Focal loss.",
        "params": {"type": "object", "additionalProperties": False, "properties": {}}}
MANIFEST = json.dumps({"manifest_version": 1, "api": ">=1,<2", "components": {"focal": SPEC}})
MANIFEST_MEMBER = "acme_losses/torchrack-manifest.json"


def members(**changes: str | bytes | None) -> dict[str, str | bytes]:
    """The members of a good plugin wheel, with some replaced (or removed, by None)."""
    base: dict[str, str | bytes | None] = {
        f"{INFO}/METADATA": METADATA,
        f"{INFO}/entry_points.txt": ENTRY_POINTS,
        f"{INFO}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        MANIFEST_MEMBER: MANIFEST,
        "acme_losses/__init__.py": "",
        "acme_losses/focal.py": "class Focal:\n    pass\n",
    }
    aliases = {"metadata": f"{INFO}/METADATA", "entry_points": f"{INFO}/entry_points.txt",
               "manifest": MANIFEST_MEMBER}
    for key, value in changes.items():
        base[aliases.get(key, key)] = value
    return {k: v for k, v in base.items() if v is not None}


def build(path: Path, content: dict[str, str | bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in content.items():
            zf.writestr(name, data)
    return path


@dataclass
class Raw:
    """One member written byte by byte: what its headers claim, and its (compressed) data."""

    name: str
    data: bytes
    size: int
    crc: int
    method: int = zipfile.ZIP_STORED
    flags: int = 0


def stored(name: str, data: bytes) -> Raw:
    return Raw(name, data, len(data), zlib.crc32(data))


def raw_zip(path: Path, entries: list[Raw]) -> Path:
    """A zip archive (no zip64) exactly as ``entries`` describe it, consistent or not."""
    out, central = bytearray(), bytearray()
    for e in entries:
        name = e.name.encode()
        offset = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, e.flags, e.method, 0, 0x21,
                           e.crc, len(e.data), e.size, len(name), 0) + name + e.data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, e.flags, e.method, 0, 0x21,
                               e.crc, len(e.data), e.size, len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def with_manifest_entry(path: Path, entry: Raw) -> Path:
    good = [stored(k, v.encode() if isinstance(v, str) else v) for k, v in members().items() if k != MANIFEST_MEMBER]
    return raw_zip(path, [*good, entry])


def deflate_repeated(chunk: bytes, times: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``chunk * times`` built without compressing it all: after a full
    flush a compressor starts afresh, so the same chunk compresses to the same bytes."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    return block * times + c.flush(zlib.Z_FINISH), crc


# --- wheels that cannot be read: InvalidWheelError, naming the file and the member ------------------

def _corrupt_deflate(p: Path) -> str:
    return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, b"\xff" * 64, 100, 0, zipfile.ZIP_DEFLATED)))


def _bad_crc(p: Path) -> str:
    data = MANIFEST.encode()
    return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, data, len(data), zlib.crc32(data) ^ 1)))


def _truncated_member(p: Path) -> str:
    data = zlib.compress(MANIFEST.encode())[2:-4]
    return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, data[: len(data) // 2], len(MANIFEST),
                                          zlib.crc32(MANIFEST.encode()), zipfile.ZIP_DEFLATED)))


def _encrypted(p: Path) -> str:
    data = MANIFEST.encode()
    return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, data, len(data), zlib.crc32(data), flags=0x1)))


def _method(number: int) -> Callable[[Path], str]:
    def case(p: Path) -> str:
        data = MANIFEST.encode()
        return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, data, len(data), zlib.crc32(data), number)))
    return case


def _bzip2(p: Path) -> str:
    return str(build(p, members(), zipfile.ZIP_BZIP2))


def _lzma(p: Path) -> str:
    return str(build(p, members(), zipfile.ZIP_LZMA))


def _bomb(p: Path) -> str:
    """A 4 GB manifest (of spaces) in a 4 MB wheel, its headers honest."""
    data, crc = deflate_repeated(b" " * (1 << 20), 4095)
    return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, data, 4095 << 20, crc, zipfile.ZIP_DEFLATED)))


def _lying_small_header(p: Path) -> str:
    """A header that claims 2 KB for what inflates to 64 MB."""
    data, _ = deflate_repeated(b" " * (1 << 20), 64)
    return str(with_manifest_entry(p, Raw(MANIFEST_MEMBER, data, 2048, 0, zipfile.ZIP_DEFLATED)))


def _oversized(member: str, size: int) -> Callable[[Path], str]:
    def case(p: Path) -> str:
        return str(build(p, members(**{member: "#" * size})))
    return case


def _duplicate_metadata(p: Path) -> str:
    path = build(p, members())
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as zf:
        zf.writestr(f"{INFO}/METADATA", METADATA.replace("1.0", "6.6.6"))
    return str(path)


def _metadata_not_utf8(p: Path) -> str:
    return str(build(p, members(metadata=METADATA.encode() + b"Summary: caf\xe9\n")))


def _entry_points_not_utf8(p: Path) -> str:
    return str(build(p, members(entry_points=ENTRY_POINTS.encode() + b"# \xff\n")))


def _not_a_zip(p: Path) -> str:
    p.write_bytes(b"#!/bin/sh\necho not a wheel\n" * 100)
    return str(p)


def _empty(p: Path) -> str:
    p.write_bytes(b"")
    return str(p)


def _truncated_archive(p: Path) -> str:
    build(p, members())
    p.write_bytes(p.read_bytes()[:-30])
    return str(p)


def _folder(p: Path) -> str:
    p.mkdir()
    return str(p)


def _fifo(p: Path) -> str:
    os.mkfifo(p)
    return str(p)


def _missing(p: Path) -> str:
    return str(p)


def _no_dist_info(p: Path) -> str:
    return str(build(p, {"acme/__init__.py": ""}))


def _two_dist_infos(p: Path) -> str:
    return str(build(p, members(**{"other-2.0.dist-info/METADATA": METADATA})))


#: (id, build the wheel, words the error must hold besides the file name)
UNREADABLE = [
    ("corrupt-deflate", _corrupt_deflate, [MANIFEST_MEMBER, "cannot be decompressed"]),
    ("bad-crc", _bad_crc, [MANIFEST_MEMBER, "CRC"]),
    ("truncated-member", _truncated_member, [MANIFEST_MEMBER, "cannot be decompressed"]),
    ("encrypted", _encrypted, [MANIFEST_MEMBER, "encrypted"]),
    ("method-99-aes", _method(99), [MANIFEST_MEMBER, "method 99"]),
    ("method-77-unknown", _method(77), [MANIFEST_MEMBER, "method 77 (unknown)"]),
    ("method-9-deflate64", _method(9), [MANIFEST_MEMBER, "deflate64"]),
    ("bzip2", _bzip2, ["METADATA", "bzip2"]),
    ("lzma", _lzma, ["METADATA", "lzma"]),
    ("zip-bomb-4gb", _bomb, [MANIFEST_MEMBER, "4293918720 bytes uncompressed"]),
    ("lying-small-header", _lying_small_header, [MANIFEST_MEMBER]),
    ("huge-manifest", _oversized("manifest", _wheel.MAX_MANIFEST_BYTES + 1), [MANIFEST_MEMBER, "more than"]),
    ("huge-metadata", _oversized("metadata", _wheel.MAX_METADATA_BYTES + 1), ["METADATA", "more than"]),
    ("huge-entry-points", _oversized("entry_points", _wheel.MAX_METADATA_BYTES + 1), ["entry_points.txt"]),
    ("duplicate-metadata", _duplicate_metadata, ["METADATA", "2 times"]),
    ("metadata-not-utf8", _metadata_not_utf8, ["METADATA", "not UTF-8"]),
    ("entry-points-not-utf8", _entry_points_not_utf8, ["entry_points.txt", "not UTF-8"]),
    ("not-a-zip", _not_a_zip, ["not a wheel"]),
    ("empty-file", _empty, ["not a wheel"]),
    ("truncated-archive", _truncated_archive, ["not a wheel"]),
    ("a-folder", _folder, ["a folder"]),
    ("a-fifo", _fifo, ["not a regular file"]),
    ("missing", _missing, ["no such file"]),
    ("no-dist-info", _no_dist_info, ["dist-info", "found 0"]),
    ("two-dist-infos", _two_dist_infos, ["found 2"]),
]


@pytest.mark.timeout(60, method="signal")
@pytest.mark.parametrize(("make", "words"), [(m, w) for _, m, w in UNREADABLE], ids=[i for i, _, _ in UNREADABLE])
def test_an_unreadable_wheel_is_an_invalid_wheel_error_naming_file_and_member(
    tmp_path: Path, make: Callable[[Path], str], words: list[str]
) -> None:
    path = make(tmp_path / "acme_losses-1.0-py3-none-any.whl")
    tracemalloc.start()
    try:
        with pytest.raises(InvalidWheelError) as info:
            vet_wheel(path, Settings(), torch="2.5.0")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert isinstance(info.value, TorchrackError) and info.value.path == path
    assert message.startswith(f"{path}: "), message
    for word in words:
        assert word in message, message
    assert peak < 64 << 20, f"reading it took {peak >> 20} MiB"


# --- manifests that cannot be used: the wheel's broken verdict, never a crash -----------------------

#: (id, manifest text, words of the reason)
BAD_MANIFESTS = [
    ("nested-100k-arrays", "[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    ("nested-100k-objects", '{"a":' * 100_000 + "1" + "}" * 100_000, ["nested too deeply"]),
    ("nested-100k-unclosed", "[" * 100_000, ["nested too deeply"]),
    ("int-5000-digits", '{"manifest_version": ' + "9" * 5000 + "}", ["integer of more digits"]),
    ("int-5000-digits-nested", '{"components": {"focal": {"version": ' + "1" * 5000 + "}}}",
     ["integer of more digits"]),
    ("deep-but-parseable", '{"manifest_version": 1, "api": ">=1", "components": {"focal": '
     + '{"x": ' * 900 + "1" + "}" * 900 + "}}", [MANIFEST_MEMBER]),
    ("not-utf8", b'{"api": "\xff"}', ["not UTF-8"]),
    ("bom", "\ufeff" + MANIFEST, ["not valid JSON"]),
    ("not-json", "{'manifest_version': 1}", ["not valid JSON"]),
    ("a-list", "[]", [MANIFEST_MEMBER]),
    ("empty", "", ["not valid JSON"]),
]


@pytest.mark.timeout(60, method="signal")
@pytest.mark.parametrize(("text", "words"), [(t, w) for _, t, w in BAD_MANIFESTS], ids=[i for i, _, _ in BAD_MANIFESTS])
def test_an_unusable_manifest_is_the_wheels_broken_verdict(tmp_path: Path, text: str | bytes, words: list[str]) -> None:
    path = build(tmp_path / "acme_losses-1.0-py3-none-any.whl", members(manifest=text))
    info = vet_wheel(path, Settings(), torch="2.5.0")
    assert info.verdict == BROKEN, info.to_json()
    reasons = " ".join(info.reasons)
    assert f"{path}!{MANIFEST_MEMBER}" in reasons
    for word in words:
        assert word in reasons, reasons


def test_a_good_wheel_is_ok(tmp_path: Path) -> None:
    info = vet_wheel(build(tmp_path / "good.whl", members()), Settings(), torch="2.5.0")
    assert info.verdict == OK and [c.qualname for c in info.components] == ["acme-losses:focal"]
    assert info.warnings == []


# --- not a torchrack plugin ------------------------------------------------------------------------

#: (id, a wheel's entry_points.txt (None: none), what the reason says it found)
NOT_PLUGINS = [
    ("pytest-cov", "[pytest11]\npytest_cov = pytest_cov.plugin\n", "no [torchrack.<kind>] group"),
    ("black", "[console_scripts]\nblack = black:patched_main\nblackd = blackd:patched_main [d]\n",
     "no [torchrack.<kind>] group"),
    ("no-entry-points", None, "has no"),
    ("unknown-torchrack-group", "[torchrack.no_such_kind]\nsgd = acme.opt:SGD\n", "torchrack.no_such_kind"),
    ("empty-entry-points", "", "no [torchrack.<kind>] group"),
]


@pytest.mark.parametrize(("eps", "found"), [(e, f) for _, e, f in NOT_PLUGINS], ids=[i for i, _, _ in NOT_PLUGINS])
def test_a_wheel_with_no_torchrack_entry_points_is_not_a_plugin(tmp_path: Path, eps: str | None, found: str) -> None:
    path = build(tmp_path / "other-1.0-py3-none-any.whl", members(entry_points=eps, manifest=None))
    info = vet_wheel(path, Settings(), torch="2.5.0")
    assert info.verdict == NOT_PLUGIN == "not-a-plugin"
    assert len(info.reasons) == 1 and "not a torchrack plugin" in info.reasons[0] and found in info.reasons[0]
    assert "--strict" in info.reasons[0] and info.warnings == []


# --- METADATA: read as email (and so pip and importlib.metadata) reads it ---------------------------

#: (id, METADATA, the (Name, Version, Requires-Dist) it holds)
METADATAS = [
    ("lower-case", "metadata-version: 2.1\nname: acme\nversion: 1.0\nrequires-dist: torch>=99\n",
     ("acme", "1.0", ["torch>=99"])),
    ("upper-case", "NAME: acme\nVERSION: 2.0\nREQUIRES-DIST: torch>=99\n", ("acme", "2.0", ["torch>=99"])),
    ("first-version-counts", "Name: acme\nVersion: 1.0\nVersion: 9.9\n", ("acme", "1.0", [])),
    ("folded-requirement", "Name: acme\nVersion: 1\nRequires-Dist:\n torchrack>=99\n", ("acme", "1", ["torchrack>=99"])),
    ("crlf", "Name: acme\r\nVersion: 1\r\nRequires-Dist: torch\r\n", ("acme", "1", ["torch"])),
    ("unicode-line-separator-is-no-line-break", "Name: acme\nSummary: a\u2028Version: 6.6.6\nVersion: 1\n",
     ("acme", "1", [])),
    ("form-feed-is-no-line-break", "Name: acme\nSummary: a\x0cVersion: 6.6.6\n", ("acme", None, [])),
    ("body-is-not-headers", "Name: acme\n\nVersion: 1\nRequires-Dist: torch\n", ("acme", None, [])),
    ("non-header-line-ends-headers", "Name: acme\nnot a header\nVersion: 1\n", ("acme", None, [])),
    ("no-version", "Metadata-Version: 2.1\nName: acme\n", ("acme", None, [])),
    ("empty-version", "Name: acme\nVersion:   \n", ("acme", None, [])),
    ("empty", "", (None, None, [])),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in METADATAS], ids=[i for i, _, _ in METADATAS])
def test_metadata_headers_are_read_as_email_reads_them(text: str, expected: tuple[object, ...]) -> None:
    assert _parse_metadata(text) == expected
    msg = email.message_from_string(text)
    assert ((msg["Name"] or "").strip() or None) == expected[0]
    assert ((msg["Version"] or "").strip() or None) == expected[1]


def _norm(value: str | None) -> str | None:
    """A header value as email gives it, its folding (CR/LF then blanks) and edges made one space."""
    return (re.sub(r"[ \t\r\n]+", " ", value).strip(" ") or None) if value is not None else None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["Name", "name", "Version", "VERSION", "version", "Requires-Dist", "requires-dist",
                                 ":", ": ", " ", "\t", "\n", "\r\n", "\r", "1.0", "torch>=2", "x", "\u2028", "\x0c",
                                 "\x85", "é", "-"]), max_size=30).map("".join))
@example("Name: a\nVersion: 1\nVersion: 2\n")
def test_any_metadata_reads_like_email(text: str) -> None:
    name, version, requires = _parse_metadata(text)
    msg = email.message_from_string(text)
    assert _norm(name) == _norm(msg["Name"]) and _norm(version) == _norm(msg["Version"])
    assert [_norm(r) for r in requires] == [v for v in (_norm(r) for r in msg.get_all("Requires-Dist") or []) if v]


def _installed(site: Path, metadata: str) -> None:
    info = site / "acme_losses-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "acme_losses").mkdir()
    (site / "acme_losses" / "torchrack-manifest.json").write_text(MANIFEST)


@pytest.mark.parametrize(("metadata", "verdict", "words"), [
    ("Metadata-Version: 2.1\nName: acme-losses\nRequires-Dist: torchrack>=0.1,<1\n", BROKEN,
     "METADATA has no Version header"),
    ("metadata-version: 2.1\nname: acme-losses\nversion: 1.0\nrequires-dist: torchrack>=99\n", INCOMPATIBLE,
     "requires torchrack>=99"),
    ("Name: acme-losses\nVersion: 1.0\nRequires-Dist:\n torchrack>=99\n", INCOMPATIBLE, "requires torchrack>=99"),
    (METADATA, OK, ""),
], ids=["no-version", "lower-case-requires", "folded-requires", "good"])
def test_installed_metadata_is_vetted_the_same_way(tmp_path: Path, metadata: str, verdict: str, words: str) -> None:
    _installed(tmp_path / "site", metadata)
    [facts] = scan(use_cache=False, path=[tmp_path / "site"]).dists
    info = vet(facts, Environment(torch="2.5.0"), Settings())
    assert info.verdict == verdict, info.to_json()
    assert words in " ".join(info.reasons)
    if verdict == BROKEN:
        assert str(tmp_path / "site" / "acme_losses-1.0.dist-info" / "METADATA") in info.reasons[0]


@pytest.mark.parametrize("metadata", ["Metadata-Version: 2.1\nName: acme-losses\n",
                                      "Metadata-Version: 2.1\nName: acme-losses\nVersion:\n"])
def test_a_wheel_without_version_is_broken_saying_why(tmp_path: Path, metadata: str) -> None:
    path = build(tmp_path / "acme_losses-1.0-py3-none-any.whl", members(metadata=metadata))
    info = vet_wheel(path, Settings(), torch="2.5.0")
    assert info.verdict == BROKEN and info.version == "0"
    assert info.reasons[0].startswith(f"{path}!{INFO}/METADATA has no Version header")
    assert read_wheel(path).manifest_problems == info.reasons


# --- properties: whatever the bytes, only InvalidWheelError or a verdict ----------------------------

@pytest.fixture(scope="module")
def good_wheel(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build(tmp_path_factory.mktemp("w") / "good.whl", members()).read_bytes()


@pytest.mark.timeout(300, method="signal")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_a_wheel_gives_a_verdict_or_an_invalid_wheel_error(
    tmp_path_factory: pytest.TempPathFactory, good_wheel: bytes, data: st.DataObject
) -> None:
    raw = bytearray(good_wheel)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path_factory.mktemp("fuzz") / "acme_losses-1.0-py3-none-any.whl"
    path.write_bytes(bytes(raw))
    try:
        info = vet_wheel(path, Settings(), torch="2.5.0")
    except InvalidWheelError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert info.verdict in (OK, BROKEN, INCOMPATIBLE, NOT_PLUGIN)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=st.binary(max_size=300), metadata=st.binary(max_size=200))
def test_any_bytes_as_manifest_or_metadata(tmp_path_factory: pytest.TempPathFactory, manifest: bytes,
                                           metadata: bytes) -> None:
    path = build(tmp_path_factory.mktemp("bytes") / "w.whl", members(manifest=manifest, metadata=metadata))
    try:
        info = vet_wheel(path, Settings(), torch="2.5.0")
    except InvalidWheelError as exc:
        assert "METADATA" in str(exc)
    else:
        assert info.verdict in (OK, BROKEN, INCOMPATIBLE)


# --- torchrack check WHEEL... ----------------------------------------------------------------------

def check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHRACK_")}
    env["TORCHRACK_CACHE_DIR"] = str(cwd / ".cache")
    return subprocess.run([sys.executable, "-m", "torchrack", "check", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_reports_the_good_wheel_beside_bad_ones(tmp_path: Path) -> None:
    good = build(tmp_path / "acme_losses-1.0-py3-none-any.whl", members())
    bomb = _bomb(tmp_path / "acme_bomb-1.0-py3-none-any.whl")
    corrupt = _corrupt_deflate(tmp_path / "acme_corrupt-2.0-py3-none-any.whl")
    deep = build(tmp_path / "acme_deep-1.0-py3-none-any.whl", members(manifest="[" * 100_000))
    proc = check(str(good), bomb, corrupt, str(deep), str(tmp_path / "nope.whl"), "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    verdicts = {p["location"]: p["verdict"] for p in report["plugins"]}
    assert verdicts == {str(good): OK, bomb: BROKEN, corrupt: BROKEN, str(deep): BROKEN,
                        str(tmp_path / "nope.whl"): BROKEN}
    assert report["counts"] == {"ok": 1, "incompatible": 0, "broken": 4, "denied": 0, "not-a-plugin": 0}
    byloc = {p["location"]: p for p in report["plugins"]}
    assert (byloc[bomb]["name"], byloc[bomb]["version"]) == ("acme_bomb", "1.0")
    assert f"{bomb}: not a valid wheel: {MANIFEST_MEMBER}" in byloc[bomb]["reasons"][0]
    assert f"{corrupt}: not a valid wheel: {MANIFEST_MEMBER} cannot be decompressed" in proc.stderr
    assert "nope.whl: no such file" in proc.stderr
    text = check(str(good), corrupt, cwd=tmp_path)
    assert "ok            acme-losses 1.0" in text.stdout and "broken        acme_corrupt 2.0" in text.stdout


def test_check_counts_every_warning_it_lists(tmp_path: Path) -> None:
    broken = build(tmp_path / "a-1.0-py3-none-any.whl", members(
        metadata="Metadata-Version: 2.1\nName: acme-losses\nVersion: 1.0\n", manifest="{}"))
    future = build(tmp_path / "b-1.0-py3-none-any.whl", members(
        metadata="Metadata-Version: 2.1\nName: acme-future\nVersion: 1.0\nRequires-Dist: torch>=99\n"))
    proc = check(str(broken), str(future), "--json", cwd=tmp_path)
    report = json.loads(proc.stdout)
    listed = sum(len(p["warnings"]) for p in report["plugins"])
    assert listed == 2 and report["warnings"] == listed, report
    text = check(str(broken), str(future), cwd=tmp_path).stdout
    assert text.count("    warning: ") == 2 and "; 2 warnings" in text


def test_check_not_a_plugin_fails_only_with_strict(tmp_path: Path) -> None:
    cov = build(tmp_path / "pytest_cov-5.0-py3-none-any.whl", {
        "pytest_cov-5.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: pytest-cov\nVersion: 5.0\n",
        "pytest_cov-5.0.dist-info/entry_points.txt": "[pytest11]\npytest_cov = pytest_cov.plugin\n",
        "pytest_cov/__init__.py": ""})
    good = build(tmp_path / "acme_losses-1.0-py3-none-any.whl", members())
    plain = check(str(cov), str(good), cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "not-a-plugin  pytest-cov 5.0" in plain.stdout and "not a torchrack plugin" in plain.stdout
    assert "not-a-plugin wheels are not failures; --strict fails on them" in plain.stdout
    strict = check("--strict", "--json", str(cov), str(good), cwd=tmp_path)
    assert strict.returncode == 1
    report = json.loads(strict.stdout)
    assert report["passed"] is False and report["counts"]["not-a-plugin"] == 1


def test_check_junit_into_a_missing_folder_creates_it(tmp_path: Path) -> None:
    good = build(tmp_path / "acme_losses-1.0-py3-none-any.whl", members())
    cov = build(tmp_path / "x-1.0-py3-none-any.whl", members(entry_points=None, manifest=None,
                                                             metadata="Name: x\x01\x1b[31m\nVersion: 1\n"))
    proc = check(str(good), str(cov), "--junit", "reports/ci/check.xml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    suite = ET.parse(tmp_path / "reports/ci/check.xml").getroot()  # valid XML despite control characters
    assert suite.get("tests") == "2" and suite.get("failures") == "0"
    assert len(list(suite.iter("skipped"))) == 1


@pytest.mark.parametrize("where", ["afile/check.xml", "afile/sub/check.xml", "."])
def test_check_junit_that_cannot_be_written_is_a_clear_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "afile").write_text("")
    good = build(tmp_path / "acme_losses-1.0-py3-none-any.whl", members())
    proc = check(str(good), "--junit", where, cwd=tmp_path)
    assert proc.returncode == 1
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert f"cannot write the JUnit report {where}" in proc.stderr, proc.stderr
    assert "ok            acme-losses 1.0" in proc.stdout  # the report itself is still shown
