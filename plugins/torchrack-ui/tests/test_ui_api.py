"""The dashboard over HTTP (urllib against a real server on a free port): pages, JSON, errors.

What a user relies on: every run is listed and one damaged record only marks its own row; what
runs hold (names, config strings, errors, plugin summaries) is shown as text, never as markup; a
secret never reaches a page; unknown paths and ids answer 404 (JSON under /api/), never a
traceback; the dashboard never writes.
"""

from __future__ import annotations

import json
import re

import pytest

from ._ui_helpers import HOSTILE, PLUGIN_DIST, SECRET, fetch, fetch_json

RAW_SCRIPT = "<script>window.__pwned"
ESCAPED_SCRIPT = "&lt;script&gt;window.__pwned"


def page(url: str) -> str:
    status, headers, body = fetch(url)
    assert status == 200, (url, status, body[:500])
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    return body.decode()


def assert_no_markup_from_data(html: str) -> None:
    """The hostile strings appear only escaped: as text in the page, as JSON escapes in data."""
    assert RAW_SCRIPT not in html
    assert '<img src=x onerror' not in html
    assert "Traceback" not in html


# -- the runs table --------------------------------------------------------------------------------


def test_the_runs_api_lists_every_run_and_marks_only_the_damaged_one_unreadable(ui_url, ui_store):
    status, data = fetch_json(f"{ui_url}/api/runs")
    assert status == 200
    ids = ui_store.ids
    assert data["total"] == len(ids) and data["store"] == str(ui_store.path)
    rows = {r["run_id"]: r for r in data["runs"]}
    assert [r["run_id"] for r in data["runs"]] == sorted(rows, key=int, reverse=True)  # newest first
    bad = rows[ids["damaged"]]
    assert set(bad) == {"run_id", "unreadable"} and "components" in bad["unreadable"]
    base = rows[ids["baseline"]]
    assert base["unreadable"] is None
    assert (base["name"], base["status"], base["epochs"]) == ("baseline", "completed", 3)
    assert base["final_metrics"]["accuracy"] == 0.9
    assert "model.backbone=small_cnn" in base["tags"] and "loss=focal" in base["tags"]
    assert rows[ids["running"]]["status"] == "running" and rows[ids["running"]]["epochs"] == 2
    assert rows[ids["failed"]]["status"] == "failed"
    assert "accuracy" in data["metrics"]


def test_the_runs_page_shows_every_run_and_the_damaged_one_with_its_reason(ui_url, ui_store):
    html = page(f"{ui_url}/")
    for name in ("baseline", "still-running", "failed-run", "old-writer"):
        assert f">{name}</a>" in html
    row = re.search(rf'<tr class="unreadable" data-run-id="{ui_store.ids["damaged"]}">.*?</tr>', html, re.S)
    assert row and "unreadable" in row.group(0) and "not JSON" in row.group(0)
    assert ESCAPED_SCRIPT in html
    assert_no_markup_from_data(html)


@pytest.mark.parametrize(("query", "expected"), [
    ("status=completed", ["old", "hostile", "baseline"]),
    ("status=running", ["running"]),
    ("status=failed", ["failed"]),
    ("status=unreadable", ["damaged"]),
    ("name=BASE", ["baseline"]),
    ("name=%3Cscript%3E", ["hostile"]),
    ("component=focal", ["old", "failed", "running", "hostile", "baseline"]),
    ("component=acme_losses:focal", ["old", "failed", "running", "hostile", "baseline"]),
    ("component=loss:focal&status=completed", ["old", "hostile", "baseline"]),
    ("component=no_such_thing", []),
    ("tag=model.head=linear&name=old", ["old"]),
    ("tag=model.head", ["old", "failed", "running", "hostile", "baseline"]),
    ("tag=model.head=mlp", []),
])
def test_the_runs_table_filters_by_status_name_component_and_tag(ui_url, ui_store, query, expected):
    status, data = fetch_json(f"{ui_url}/api/runs?{query}")
    assert status == 200
    assert [r["run_id"] for r in data["runs"]] == [ui_store.ids[k] for k in expected]
    html = page(f"{ui_url}/?{query}")
    for role in expected:
        assert f'data-run-id="{ui_store.ids[role]}"' in html
    assert html.count("data-run-id=") == len(expected)


def test_the_runs_table_sorts_by_a_metric_either_way_with_missing_values_last(ui_url, ui_store):
    ids = ui_store.ids
    _, desc = fetch_json(f"{ui_url}/api/runs?sort=accuracy&order=desc&status=completed")
    assert [r["run_id"] for r in desc["runs"]] == [ids["hostile"], ids["baseline"], ids["old"]]
    _, asc = fetch_json(f"{ui_url}/api/runs?sort=accuracy&order=asc")
    order = [r["run_id"] for r in asc["runs"]]
    assert order[:4] == [ids["failed"], ids["old"], ids["baseline"], ids["hostile"]]
    assert set(order[4:]) == {ids["running"], ids["damaged"]}  # no final accuracy: last
    html = page(f"{ui_url}/?sort=accuracy&order=desc")
    positions = [html.index(f'data-run-id="{ids[k]}"') for k in ("hostile", "baseline", "old")]
    assert positions == sorted(positions)
    assert 'href="/?sort=accuracy&amp;order=asc"' in html  # the header link flips the order


def test_the_table_shows_up_to_limit_runs_of_all_and_says_how_to_see_the_rest(ui_url, ui_store):
    ids = ui_store.ids
    _, data = fetch_json(f"{ui_url}/api/runs?limit=2")
    assert [r["run_id"] for r in data["runs"]] == [ids["old"], ids["failed"]]
    assert (data["total"], data["matching"], data["shown"]) == (6, 6, 2)
    _, best = fetch_json(f"{ui_url}/api/runs?limit=2&sort=accuracy")  # the best of all runs
    assert [r["run_id"] for r in best["runs"]] == [ids["hostile"], ids["baseline"]]
    html = page(f"{ui_url}/?limit=2&sort=accuracy")
    assert "showing the first 2 of 6 runs" in html and "limit=all" in html


@pytest.mark.parametrize(("query", "fragment"), [
    ("status=bogus", "not a run status"), ("order=sideways", "asc or desc"), ("limit=-3", "limit"),
])
def test_bad_table_parameters_are_400_with_the_parameter_named(ui_url, query, fragment):
    status, data = fetch_json(f"{ui_url}/api/runs?{query}")
    assert status == 400 and fragment in data["error"]["message"]
    status, _, body = fetch(f"{ui_url}/?{query}")
    assert status == 400 and fragment in body.decode()


# -- one run ---------------------------------------------------------------------------------------


def test_the_run_page_shows_config_components_environment_curves_and_checkpoints(ui_url, ui_store):
    rid = ui_store.ids["baseline"]
    html = page(f"{ui_url}/runs/{rid}")
    for text in ("<code>optimizer.params.lr</code>", "<code>model.backbone.params.widths[1]</code>",
                 "small_cnn", "torchrack-backbones 0.1.0", f"{PLUGIN_DIST} 1.2.0",
                 "<code>platform</code>", "Linux-x86_64", f"run{rid}.pt", "0.00 MB"):
        assert text in html, text
    # the test plugin is installed at the recorded versions; the backbones' distribution need not be
    assert "the recorded versions are installed" in html
    data = json.loads(re.search(r'<script type="application/json" id="run-data">(.*?)</script>', html).group(1))
    assert data["status"] == "completed" and data["poll"] == f"/api/runs/{rid}/curves"
    assert [e["epoch"] for e in data["curves"]["epochs"]] == [1, 2, 3]
    assert data["curves"]["epochs"][2]["metrics"]["accuracy"] == 0.9


def test_the_run_api_gives_the_record_components_with_verdicts_and_checkpoints(ui_url, ui_store):
    status, data = fetch_json(f"{ui_url}/api/runs/{ui_store.ids['hostile']}")
    assert status == 200
    assert data["run"]["name"] == HOSTILE and data["run"]["config"]["note"] == HOSTILE
    loss = next(c for c in data["components"] if c["role"] == "loss")
    assert (loss["installed"], loss["installed_version"], loss["same"]) == ("ok", "1.0.0", False)
    _, base = fetch_json(f"{ui_url}/api/runs/{ui_store.ids['baseline']}")
    loss = next(c for c in base["components"] if c["role"] == "loss")
    assert loss["same"] is True and loss["installed"] == "ok"
    (ckpt,) = base["checkpoints"]
    assert ckpt["kind"] == "latest" and ckpt["epoch"] == 3 and ckpt["exists"] and ckpt["bytes"] == 2048


def test_curves_come_from_the_event_log_per_epoch_and_per_step(ui_url, ui_store):
    status, data = fetch_json(f"{ui_url}/api/runs/{ui_store.ids['running']}/curves")
    assert status == 200 and data["status"] == "running" and data["epochs"] == 2
    curves = data["curves"]
    assert curves["source"] == "events"
    assert [e["metrics"]["accuracy"] for e in curves["epochs"]] == [0.2, 0.3]
    xs = [p[0] for p in curves["steps"]["loss"]]
    assert xs == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]  # 4 steps per epoch, in epochs
    status, events = fetch_json(f"{ui_url}/api/runs/{ui_store.ids['running']}/events?after=3")
    assert status == 200 and events["events"][0]["seq"] == 4
    assert all(e["seq"] > 3 for e in events["events"])


def test_the_event_log_comes_in_pages(ui_url, ui_store):
    base = f"{ui_url}/api/runs/{ui_store.ids['baseline']}/events"
    _, first = fetch_json(f"{base}?limit=5")
    assert [e["seq"] for e in first["events"]] == [0, 1, 2, 3, 4] and first["more"] is True
    _, rest = fetch_json(f"{base}?after={first['next_after']}&limit=10000")
    assert rest["events"][0]["seq"] == 5 and rest["more"] is False
    assert rest["events"][-1]["type"] == "run_end"
    status, data = fetch_json(f"{base}?limit=0")
    assert status == 400 and "1 to 10000" in data["error"]["message"]


def test_epochs_are_shown_as_the_record_numbers_them(ui_url, ui_store):
    # torchrack-runs numbers epochs 1..N; a record of an older one numbered them from 0: each is
    # shown as it is, never shifted (nothing guesses which convention a run used).
    _, data = fetch_json(f"{ui_url}/api/runs/{ui_store.ids['baseline']}/curves")
    assert [e["epoch"] for e in data["curves"]["epochs"]] == [1, 2, 3]
    assert data["checkpoints"][0]["epoch"] == 3
    assert [p[0] for p in data["curves"]["steps"]["loss"]][:4] == [0.25, 0.5, 0.75, 1.0]
    rid = ui_store.ids["old"]
    _, data = fetch_json(f"{ui_url}/api/runs/{rid}/curves")
    assert [e["epoch"] for e in data["curves"]["epochs"]] == [0, 1]
    assert [e["metrics"]["accuracy"] for e in data["curves"]["epochs"]] == [0.6, 0.8]
    assert [p[0] for p in data["curves"]["steps"]["loss"]][:4] == [-0.75, -0.5, -0.25, 0.0]
    assert data["checkpoints"][0]["epoch"] == 1  # as stored
    html = page(f"{ui_url}/runs/{rid}")
    rows = re.findall(r'<tbody id="epochs-body">(.*?)</tbody>', html, re.S)[0]
    assert [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", rows)] == [0, 1]


def test_a_failed_run_shows_its_error_as_text(ui_url, ui_store):
    html = page(f"{ui_url}/runs/{ui_store.ids['failed']}")
    assert "loss became NaN " + ESCAPED_SCRIPT in html
    assert_no_markup_from_data(html)


def test_a_hostile_run_name_and_config_string_are_text_on_every_page(ui_url, ui_store):
    rid = ui_store.ids["hostile"]
    for path in (f"/runs/{rid}", f"/compare?runs={ui_store.ids['baseline']},{rid}", "/", f"/?name={rid}"):
        html = page(ui_url + path)
        assert_no_markup_from_data(html)
    html = page(f"{ui_url}/runs/{rid}")
    assert html.count(ESCAPED_SCRIPT) >= 3  # the title, the name in the config, the note
    html = page(f"{ui_url}/compare?runs={ui_store.ids['baseline']},{rid}")
    block = re.search(r'id="compare-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block and "\\u003cscript\\u003e" in block
    assert json.loads(block)["runs"][1]["name"] == HOSTILE


@pytest.mark.parametrize("role", ["hostile", "old", "baseline"])
def test_secrets_never_reach_a_page_or_the_api(ui_url, ui_store, role):
    rid = ui_store.ids[role]
    for path in (f"/runs/{rid}", f"/api/runs/{rid}", f"/api/runs/{rid}/curves",
                 f"/api/runs/{rid}/events", f"/compare?runs={rid},{ui_store.ids['failed']}",
                 f"/api/compare?runs={rid},{ui_store.ids['failed']}", "/", "/api/runs"):
        status, _, body = fetch(ui_url + path)
        assert status == 200, path
        assert SECRET.encode() not in body, path
    html = page(f"{ui_url}/runs/{rid}")
    assert 'class="badge redacted"' in html


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status", "fragment"), [
    ("/no/such/page", 404, "there is no page at /no/such/page"),
    ("/runs/999", 404, "no run &#x27;999&#x27;"),
    ("/runs/%3Cscript%3E", 404, "&lt;script&gt;"),
    ("/runs/", 404, "there is no page"),
    ("/static/../../etc/passwd", 404, "no"),
    ("/compare?runs=1", 400, "two or more runs"),
    ("/compare", 400, "two or more runs"),
    ("/sweeps/77", 404, "no sweep &#x27;77&#x27;"),
    ("/plugins?kind=nonsense", 404, "no installed component is of kind"),
])
def test_unknown_pages_and_ids_are_error_pages_not_tracebacks(ui_url, path, status, fragment):
    got, headers, body = fetch(ui_url + path)
    html = body.decode()
    assert got == status, html[:500]
    assert headers["Content-Type"].startswith("text/html")
    assert fragment in html and "Traceback" not in html
    assert "<nav>" in html  # a whole page, with the way back


@pytest.mark.parametrize(("path", "status", "fragment"), [
    ("/api/nothing", 404, "there is no page at /api/nothing"),
    ("/api/runs/999", 404, "no run '999'"),
    ("/api/runs/abc/curves", 404, "not a run"),
    ("/api/compare?runs=1", 400, "two or more runs"),
    ("/api/sweeps/77", 404, "no sweep '77'"),
    ("/api/sweeps/..%2F..", 404, "no sweep"),
    ("/api/runs/1/events?after=x", 400, "seq"),
])
def test_api_errors_are_json_objects(ui_url, path, status, fragment):
    got, data = fetch_json(ui_url + path)
    assert got == status
    assert data["error"]["status"] == status and fragment in data["error"]["message"]


def test_a_damaged_record_is_a_422_naming_the_run_and_the_reason(ui_url, ui_store):
    rid = ui_store.ids["damaged"]
    status, data = fetch_json(f"{ui_url}/api/runs/{rid}")
    assert status == 422
    assert data["error"]["run_id"] == rid and "components" in data["error"]["unreadable"]
    status, _, body = fetch(f"{ui_url}/runs/{rid}")
    assert status == 422 and f"run {rid}&#x27;s record cannot be read" in body.decode()


# -- compare ---------------------------------------------------------------------------------------


def test_compare_lists_what_differs_by_section(ui_url, ui_store):
    a, b = ui_store.ids["baseline"], ui_store.ids["hostile"]
    status, data = fetch_json(f"{ui_url}/api/compare?runs={a},{b}")
    assert status == 200 and data["runs"] == [a, b]
    diffs = data["differences"]
    assert diffs["config"]["optimizer.params.lr"] == [0.1, 0.05]
    assert diffs["config"]["note"] == [None, HOSTILE] and data["absent"]["config"]["note"] == [True, False]
    assert diffs["components"]["loss.version"] == ["1.0.0", "0.9.0"]
    assert diffs["metrics"]["accuracy"] == [0.9, 0.95]
    assert data["same"]["environment"] is True and data["same"]["seed"] is True
    assert [len(data["epochs"][r]) for r in (a, b)] == [3, 3]
    html = page(f"{ui_url}/compare?runs={a}&runs={b}")  # repeated runs= (the table's checkboxes)
    assert "<code>optimizer.params.lr</code>" in html and "Environment: no differences" in html
    assert 'class="absent"' in html


def test_compare_leaves_out_an_unreadable_run_and_says_so(ui_url, ui_store):
    ids = ui_store.ids
    html = page(f"{ui_url}/compare?runs={ids['baseline']},{ids['damaged']},{ids['hostile']}")
    assert f"run {ids['damaged']} is left out" in html
    status, data = fetch_json(f"{ui_url}/api/compare?runs={ids['baseline']},{ids['damaged']}")
    assert status == 422 and "fewer than two" in data["error"]["message"]


# -- plugins, sweeps, security ---------------------------------------------------------------------


def test_the_plugin_catalogue_shows_components_params_specs_and_verdicts(ui_url):
    status, data = fetch_json(f"{ui_url}/api/plugins")
    assert status == 200
    dist = next(p for p in data["plugins"] if p["name"] == PLUGIN_DIST)
    assert dist["verdict"] == "ok" and dist["version"] == "1.2.0"
    (focal,) = dist["components"]
    assert (focal["kind"], focal["qualname"], focal["summary"]) == ("loss", "acme-losses:focal", HOSTILE)
    params = {p["name"]: p for p in focal["params"]}
    assert params["gamma"]["default"] == "2.0" and params["gamma"]["constraints"] == "minimum 0"
    assert params["api_key"]["sensitive"] is True
    assert [s["name"] for s in focal["inputs"]] == ["logits", "targets"]
    assert focal["deprecated"]["replaced_by"] == "focal_v2"
    ui = next(p for p in data["plugins"] if p["name"] == "torchrack-ui")
    assert ui["commands"][0]["name"] == "ui"
    html = page(f"{ui_url}/plugins")
    assert_no_markup_from_data(html)
    assert ESCAPED_SCRIPT in html and "deprecated since 1.0: use focal_v2" in html
    assert "<code>[N, K]</code>" in html and 'class="badge redacted">sensitive' in html
    only = page(f"{ui_url}/plugins?kind=loss")
    assert "acme-losses" in only and 'id="dist-torchrack-ui"' not in only


def test_an_unknown_sweep_is_a_404_naming_it(ui_url):
    status, data = fetch_json(f"{ui_url}/api/sweeps/99")
    assert status == 404 and data["error"]["sweep_id"] == "99"
    assert "no sweep '99'" in data["error"]["message"]
    status, _, body = fetch(f"{ui_url}/sweeps/99")
    assert status == 404 and "no sweep &#x27;99&#x27;" in body.decode()


def test_a_sweep_shows_each_trial_with_its_point_run_and_objective(ui_url, ui_store):
    if ui_store.sweep is None:
        pytest.skip("the installed torchrack-runs records no sweeps (RunStore has no sweeps)")
    ids, sid = ui_store.ids, ui_store.sweep
    status, data = fetch_json(f"{ui_url}/api/sweeps")
    assert status == 200 and data["records_sweeps"] is True
    assert [s["sweep_id"] for s in data["sweeps"]] == [sid]
    status, data = fetch_json(f"{ui_url}/api/sweeps/{sid}")
    assert status == 200
    sweep = data["sweep"]
    assert sweep["name"] == f"lr {HOSTILE}" and sweep["best_run"] == ids["hostile"]
    assert [(t["run_id"], t["status"], t["objective"]) for t in sweep["trials"]] == [
        (ids["baseline"], "completed", 0.9), (ids["hostile"], "completed", 0.95), (None, "failed", None)]
    assert sweep["parameters"] == {"optimizer.params.lr": [0.1, 0.05, 0.01]}
    html = page(f"{ui_url}/sweeps/{sid}")
    assert_no_markup_from_data(html)
    assert "<th>optimizer.params.lr</th>" in html and "<th>accuracy</th>" in html
    assert f'href="/runs/{ids["hostile"]}"' in html and ">best</span>" in html
    assert f'href="/compare?runs={ids["baseline"]}%2C{ids["hostile"]}"' in html
    assert "trial failed: " + ESCAPED_SCRIPT in html
    index = page(f"{ui_url}/sweeps")
    assert f'href="/sweeps/{sid}"' in index and ESCAPED_SCRIPT in index
    assert_no_markup_from_data(index)


def test_every_answer_has_a_strict_content_security_policy(ui_url):
    for path in ("/", "/api/runs", "/static/dashboard.js", "/nope"):
        _, headers, _ = fetch(ui_url + path)
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = fetch(f"{ui_url}/static/dashboard.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert b"http://" not in body.replace(b"http://www.w3.org/2000/svg", b"")  # no other origin


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_the_dashboard_refuses_to_write(ui_url, method, ui_store):
    before = ui_store.path.read_bytes()
    status, headers, body = fetch(f"{ui_url}/api/runs", method=method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert "read-only" in json.loads(body)["error"]["message"]
    assert ui_store.path.read_bytes() == before


def test_a_request_for_another_host_name_is_refused(ui_url):
    status, data = fetch_json(f"{ui_url}/api/runs", headers={"Host": "evil.example:8765"})
    assert status == 403 and "loopback" in data["error"]["message"]
    status, _, _ = fetch(f"{ui_url}/api/runs", headers={"Host": "localhost:1"})
    assert status == 200


def test_head_answers_headers_only(ui_url):
    status, headers, body = fetch(f"{ui_url}/", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
