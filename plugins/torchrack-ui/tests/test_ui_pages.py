"""Page building without a server: escaping by construction, and the sweep page's structure.

The sweep page is also exercised here with sweeps missing fields, and a store that records no
sweeps (an older torchrack-runs); a sweep recorded in a real store is in test_ui_api.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from torchrack_runs import RunStore
from torchrack_ui._format import Context
from torchrack_ui._html import Markup, h, json_script, url
from torchrack_ui._sweeps import (
    NO_SWEEPS,
    NO_SWEEPS_TABLE,
    find_sweep,
    has_sweeps_table,
    normalize_sweep,
    sweep_page,
    sweeps_missing,
    sweeps_page,
)

from ._ui_helpers import HOSTILE

CTX = Context(store="/tmp/store/runs.sqlite", version="0.1.0")


def test_every_child_and_attribute_is_escaped_unless_it_is_markup() -> None:
    out = h("a", HOSTILE, href='" onmouseover="x', title=HOSTILE)
    assert "<script>" not in out and 'onmouseover="x' not in out
    assert out.startswith('<a href="&quot; onmouseover=&quot;x"')
    assert h("td", Markup("<b>kept</b>")) == "<td><b>kept</b></td>"
    assert h("input", checked=True, disabled=False) == "<input checked>"


def test_a_data_block_cannot_be_closed_by_the_data() -> None:
    block = json_script("d", {"name": "</script><script>alert(1)</script>", "x": float("nan")})
    assert block.count("</script>") == 1 and "\\u003c/script\\u003e" in block
    assert '"x":null' in block


def test_urls_quote_each_segment() -> None:
    assert url("/runs", "1/../2") == "/runs/1%2F..%2F2"
    assert url("/", query={"name": "a&b", "tag": None}) == "/?name=a%26b"


def _sweep(**extra: Any) -> dict[str, Any]:
    raw = {"sweep_id": "4", "name": HOSTILE, "status": "completed", "method": "grid",
           "objective": {"metric": "accuracy", "mode": "max"},
           "parameters": {"optimizer.params.lr": [0.01, 0.1]},
           "trials": [{"trial": 1, "run_id": "7", "point": {"optimizer": {"params": {"lr": 0.01}}},
                       "status": "completed", "objective": 0.91},
                      {"trial": 2, "run_id": "8", "point": {"optimizer": {"params": {"lr": 0.1}}},
                       "status": "completed", "final_metrics": {"accuracy": 0.5}},
                      {"trial": 3, "run_id": None, "point": {}, "status": "pending"}],
           "best_run": "7", **extra}
    return normalize_sweep(raw, "4")


def test_the_sweep_page_shows_each_trial_with_its_point_and_the_objective() -> None:
    sweep = _sweep()
    assert [t["objective"] for t in sweep["trials"]] == [0.91, 0.5, None]  # else the final metric
    html = sweep_page(CTX, sweep)
    assert "<script>" not in html.split("</head>")[1] and "&lt;script&gt;" in html
    assert "<th>optimizer.params.lr</th>" in html and "<th>accuracy</th>" in html
    assert 'href="/runs/7"' in html and ">best</span>" in html and "0.91" in html
    assert 'href="/compare?runs=7%2C8"' in html
    assert "objective: max accuracy" in html


@pytest.mark.parametrize("raw", [{}, {"trials": "nope", "objective": 3, "parameters": []}])
def test_a_sweep_missing_fields_still_renders(raw: dict[str, Any]) -> None:
    sweep = normalize_sweep(raw, "9")
    assert sweep["sweep_id"] == "9" and sweep["trials"] == []
    assert "no trials yet" in sweep_page(CTX, sweep)


def test_a_store_without_sweeps_has_none_and_says_why() -> None:
    assert find_sweep(object(), "4") == (None, NO_SWEEPS)
    assert "records no sweeps" in sweeps_page(CTX, None)
    sweep, why = find_sweep(object(), "../etc")
    assert sweep is None and "not a sweep id" in why


def test_sweeps_are_shown_only_from_a_store_with_a_sweeps_table(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    RunStore(path).close()  # a store of this torchrack-runs: it has the sweeps tables
    with RunStore(path, create=False, read_only=True) as store:
        assert has_sweeps_table(path) and sweeps_missing(store) is None
        assert find_sweep(store, "1")[0] is None and "no sweep '1'" in find_sweep(store, "1")[1]
    before = path.read_bytes()
    old = tmp_path / "old.sqlite"  # a database written before sweeps existed
    conn = sqlite3.connect(old)
    with conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY)")
    conn.close()
    assert not has_sweeps_table(old) and not has_sweeps_table(tmp_path / "absent.sqlite")
    assert not (tmp_path / "absent.sqlite").exists()  # looking never creates a file
    assert path.read_bytes() == before  # nor writes one
    page = sweeps_page(CTX, None, NO_SWEEPS_TABLE)
    assert "no sweeps table" in page and 'id="no-sweeps"' in page
