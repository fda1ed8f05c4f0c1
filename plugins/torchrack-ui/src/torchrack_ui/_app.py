"""The dashboard's routes: a request target in, a :class:`Response` out; no sockets here.

Pages: ``/`` (runs), ``/runs/<id>``, ``/compare?runs=<id>,<id>``, ``/sweeps``, ``/sweeps/<id>``,
``/plugins``;
the JSON behind them under ``/api/`` (``/api/`` lists it); the CSS and JavaScript under
``/static/``. An unknown path or id is a 404 page (or, under ``/api/``, a JSON error object),
never a traceback; an unreadable run record is a 422 that names the run and the reason; a store
that cannot be read right now (locked past the timeout, damaged) is a 503 saying so.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from torchrack import TorchrackError
from torchrack_runs import RunNotFoundError, StoreError

from torchrack_ui import _views
from torchrack_ui._catalogue import catalogue, discover
from torchrack_ui._data import READ_TIMEOUT, RunEntry, StoreView, safe_record
from torchrack_ui._format import Context, error_body
from torchrack_ui._html import Markup, page, strict_json
from torchrack_ui._page_compare import compare_page
from torchrack_ui._page_plugins import plugins_page
from torchrack_ui._page_runs import run_page, runs_page
from torchrack_ui._sweeps import find_sweep, list_sweeps, sweep_page, sweeps_missing, sweeps_page

__all__ = ["Dashboard", "HTTPError", "Response"]

#: Runs the runs table reads by default (``?limit=all`` reads every one).
DEFAULT_LIMIT = 200

#: Events one /api/runs/<id>/events answer holds by default, and at most (then: ?after=).
EVENTS_LIMIT, EVENTS_MAX = 1000, 10000

#: Most runs one comparison takes.
MAX_COMPARE = 12

#: The files under /static/ and their content types.
STATIC = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8",
          "favicon.svg": "image/svg+xml"}

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"


@dataclass
class Response:
    """What a route answers: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Listing:
    """The runs table: the rows shown, how many runs the store has and how many match."""

    entries: list[RunEntry]
    total: int
    matching: int
    limit: int | None
    filters: _views.RunFilters
    sort: str
    descending: bool


class HTTPError(TorchrackError):
    """A request the dashboard cannot answer: the status, a title and what to do instead."""

    def __init__(self, status: int, title: str, message: str, hint: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.hint = status, title, message, hint
        self.extra = dict(extra or {})


def dumps(data: Any) -> bytes:
    """Strict JSON (NaN and infinities as null), UTF-8."""
    return (json.dumps(strict_json(data), indent=1, allow_nan=False, default=str) + "\n").encode()


class Dashboard:
    """The pages and the JSON API over the run store at ``store_path``, opened read-only.

    ``refresh_seconds``: how often a page showing a running run polls for new epochs.
    :meth:`handle` answers one request; it is safe to call from many threads at once.
    """

    def __init__(self, store_path: str | Path, *, refresh_seconds: float = 2.0,
                 timeout: float = READ_TIMEOUT) -> None:
        from torchrack_ui import __version__

        self.view = StoreView(store_path, timeout=timeout)
        self.ctx = Context(str(self.view.path), __version__, max(100, int(refresh_seconds * 1000)))
        pkg = resources.files("torchrack_ui") / "static"
        self._static = {name: (pkg / name).read_bytes() for name in STATIC}
        self._routes: list[tuple[re.Pattern[str], Callable[..., Response]]] = [
            (re.compile(r"/"), self._runs),
            (re.compile(r"/runs/([^/]+)/?"), self._run),
            (re.compile(r"/compare/?"), self._compare),
            (re.compile(r"/sweeps/?"), self._sweeps),
            (re.compile(r"/sweeps/([^/]+)/?"), self._sweep),
            (re.compile(r"/plugins/?"), self._plugins),
            (re.compile(r"/static/([^/]+)"), self._static_file),
            (re.compile(r"/favicon\.ico"), lambda q: self._static_file(q, "favicon.svg")),
            (re.compile(r"/api/?"), self._api_index),
            (re.compile(r"/api/runs/?"), self._api_runs),
            (re.compile(r"/api/runs/([^/]+)/?"), self._api_run),
            (re.compile(r"/api/runs/([^/]+)/curves/?"), self._api_curves),
            (re.compile(r"/api/runs/([^/]+)/events/?"), self._api_events),
            (re.compile(r"/api/compare/?"), self._api_compare),
            (re.compile(r"/api/sweeps/?"), self._api_sweeps),
            (re.compile(r"/api/sweeps/([^/]+)/?"), self._api_sweep),
            (re.compile(r"/api/plugins/?"), self._api_plugins),
        ]

    def close(self) -> None:
        """Close the store."""
        self.view.close()

    # -- dispatch --------------------------------------------------------------------------------

    def handle(self, target: str) -> Response:
        """Answer a GET of ``target`` (a path with an optional query string)."""
        parts = urlsplit(target)
        path = parts.path or "/"  # matched still quoted: an id holding "%2F" stays one segment
        api = path == "/api" or path.startswith("/api/")
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            for pattern, route in self._routes:
                match = pattern.fullmatch(path)
                if match:
                    return route(query, *(unquote(g) for g in match.groups()))
            raise HTTPError(404, "Not found", f"there is no page at {unquote(path)}",
                            "the dashboard's pages are /, /runs/<id>, /compare?runs=<id>,<id>, "
                            "/sweeps, /sweeps/<id> and /plugins; its JSON is under /api/")
        except HTTPError as exc:
            return self._error(api, exc)
        except RunNotFoundError as exc:
            return self._error(api, HTTPError(404, "No such run", str(exc)))
        except StoreError as exc:
            return self._error(api, HTTPError(
                503, "The run store cannot be read", str(exc),
                "try again in a moment: another process may hold the store locked"))
        except Exception as exc:  # noqa: BLE001 - the server must answer; the log has the traceback
            traceback.print_exc(file=sys.stderr)
            return self._error(api, HTTPError(
                500, "Internal error", f"the dashboard failed on this page: {type(exc).__name__}: {exc}",
                "the terminal running `torchrack ui` shows the traceback; please report it"))

    def _error(self, api: bool, exc: HTTPError) -> Response:
        if api:
            body = {"error": {"status": exc.status, "title": exc.title, "message": exc.message,
                              "hint": exc.hint, **exc.extra}}
            return Response(exc.status, JSON, dumps(body))
        html = page(exc.title, error_body(exc.title, exc.message, exc.hint), store=self.ctx.store,
                    version=self.ctx.version)
        return Response(exc.status, HTML, html.encode())

    @staticmethod
    def _html(markup: Markup, status: int = 200) -> Response:
        return Response(status, HTML, markup.encode())

    @staticmethod
    def _json(data: Any, status: int = 200) -> Response:
        return Response(status, JSON, dumps(data))

    # -- shared ----------------------------------------------------------------------------------

    def _list(self, query: Mapping[str, list[str]]) -> _Listing:
        raw_limit = (query.get("limit") or [""])[-1].strip().lower()
        if raw_limit in ("", "default"):
            limit: int | None = DEFAULT_LIMIT
        elif raw_limit == "all":
            limit = None
        elif raw_limit.isdigit() and int(raw_limit) > 0:
            limit = min(int(raw_limit), 10**6)
        else:
            raise HTTPError(400, "Bad limit", f"limit={raw_limit!r} is not a number of runs",
                            "use limit=N (1 or more) or limit=all")
        filters = _views.RunFilters.from_query(query)
        if filters.status and filters.status not in _views.STATUSES:
            raise HTTPError(400, "Bad status filter", f"status={filters.status!r} is not a run status",
                            f"use one of: {', '.join(_views.STATUSES)}")
        sort = ((query.get("sort") or ["id"])[-1].strip() or "id")[:200]
        order = (query.get("order") or ["desc"])[-1].strip().lower()
        if order not in ("asc", "desc"):
            raise HTTPError(400, "Bad order", f"order={order!r}: expected asc or desc")
        # Filters and sorting look at every run: a match, or the best run, among old runs counts.
        everything = filters.active or sort != "id"
        entries, total = self.view.entries(None if everything or limit is None else limit)
        kept = _views.sort_entries([e for e in entries if filters.matches(e)], sort, order == "desc")
        matching = len(kept) if everything else total  # unfiltered: every run matches
        if limit is not None:
            kept = kept[:limit]
        return _Listing(kept, total, matching, limit, filters, sort, order == "desc")

    def _entry(self, ref: str) -> RunEntry:
        rid = self.view.resolve(ref)
        entry = self.view.entry(rid)
        if entry.record is None:
            raise HTTPError(422, f"Run {rid} is unreadable",
                            f"run {rid}'s record cannot be read: {entry.problem}",
                            "the other runs are not affected; `torchrack runs show "
                            f"{rid} --store {self.ctx.store}` shows the same problem",
                            extra={"run_id": rid, "unreadable": entry.problem})
        return entry

    def _curves(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return _views.curves(record, self.view.events(str(record["run_id"])))

    def _compare_data(self, query: Mapping[str, list[str]]) -> tuple[list[dict[str, Any]], list[RunEntry]]:
        refs: list[str] = []
        for value in query.get("runs") or []:
            refs += [r.strip() for r in value.split(",") if r.strip()]
        ids: list[str] = []
        for ref in refs[: MAX_COMPARE * 2]:
            rid = self.view.resolve(ref)
            if rid not in ids:
                ids.append(rid)
        if len(ids) < 2:
            raise HTTPError(400, "Compare needs two or more runs",
                            f"compare needs two or more runs, got {len(ids)}"
                            + (f" ({', '.join(ids)})" if ids else ""),
                            "name them in the address: /compare?runs=1,2 (or tick runs in the runs table)")
        if len(ids) > MAX_COMPARE:
            raise HTTPError(400, "Too many runs", f"compare takes at most {MAX_COMPARE} runs, got {len(ids)}")
        entries = [self.view.entry(rid) for rid in ids]
        records = [e.record for e in entries if e.record is not None]
        if len(records) < 2:
            bad = "; ".join(f"run {e.run_id}: {e.problem}" for e in entries if e.record is None)
            raise HTTPError(422, "Too few readable runs", f"fewer than two of these runs can be read: {bad}")
        return records, [e for e in entries if e.record is None]

    # -- pages -----------------------------------------------------------------------------------

    def _runs(self, query: Mapping[str, list[str]]) -> Response:
        ls = self._list(query)
        return self._html(runs_page(self.ctx, ls.entries, ls.total, ls.matching, ls.filters,
                                    ls.sort, ls.descending))

    def _run(self, query: Mapping[str, list[str]], ref: str) -> Response:
        record = self._entry(ref).record
        assert record is not None
        registry, _ = discover()
        comps = _views.component_verdicts(record["components"], registry)
        return self._html(run_page(self.ctx, record, comps, self._curves(record)))

    def _compare(self, query: Mapping[str, list[str]]) -> Response:
        records, unreadable = self._compare_data(query)
        diffs, absent = _views.differences(records)
        epochs = {str(r["run_id"]): self._curves(r)["epochs"] for r in records}
        return self._html(compare_page(self.ctx, records, unreadable, diffs, absent, epochs))

    def _sweep_or_404(self, sweep_id: str) -> dict[str, Any]:
        sweep, why = find_sweep(self.view.store, sweep_id)
        if sweep is None:
            # The store's own message names the sweep and the store already; others say why not.
            message = why if why.startswith(("no sweep", "no latest sweep")) else (
                f"no sweep {sweep_id[:40]!r} in the run store {self.ctx.store}: {why}")
            raise HTTPError(404, f"No sweep {sweep_id[:40]}", message, "/sweeps lists the store's sweeps",
                            extra={"sweep_id": sweep_id})
        return sweep

    def _sweeps(self, query: Mapping[str, list[str]]) -> Response:
        store = self.view.store
        sweeps = list_sweeps(store)
        return self._html(sweeps_page(self.ctx, sweeps, sweeps_missing(store) or ""))

    def _sweep(self, query: Mapping[str, list[str]], sweep_id: str) -> Response:
        return self._html(sweep_page(self.ctx, self._sweep_or_404(sweep_id)))

    def _catalogue(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        kind = (query.get("kind") or [""])[-1].strip() or None
        registry, problem = discover()
        data = catalogue(registry, problem, kind)
        if kind is not None and kind not in data["kinds"]:
            raise HTTPError(404, "No such kind", f"no installed component is of kind {kind!r}",
                            f"installed kinds: {', '.join(data['kinds']) or 'none'}")
        return data

    def _plugins(self, query: Mapping[str, list[str]]) -> Response:
        return self._html(plugins_page(self.ctx, self._catalogue(query)))

    def _static_file(self, query: Mapping[str, list[str]], name: str) -> Response:
        if name not in self._static:
            raise HTTPError(404, "Not found", f"there is no file /static/{name}")
        return Response(200, STATIC[name], self._static[name], {"Cache-Control": "no-cache"})

    # -- API -------------------------------------------------------------------------------------

    def _api_index(self, query: Mapping[str, list[str]]) -> Response:
        return self._json({
            "store": self.ctx.store, "version": self.ctx.version, "read_only": True,
            "endpoints": {
                "/api/runs?status=&name=&component=&tag=&sort=&order=&limit=": "the runs table",
                "/api/runs/<id>": "one run's record (redacted), components with verdicts, checkpoints",
                "/api/runs/<id>/curves": "per-epoch and per-step curves, status, final metrics (polled live)",
                "/api/runs/<id>/events?after=<seq>&limit=<n>": "the run's event log (redacted), in pages",
                "/api/compare?runs=<id>,<id>": "differences between runs and their epochs",
                "/api/sweeps": "every sweep, newest first",
                "/api/sweeps/<id>": "one sweep with its trials",
                "/api/plugins?kind=": "the plugin catalogue",
            },
        })

    def _api_runs(self, query: Mapping[str, list[str]]) -> Response:
        ls = self._list(query)
        return self._json({
            "store": self.ctx.store, "total": ls.total, "matching": ls.matching,
            "shown": len(ls.entries), "limit": ls.limit, "filters": ls.filters.as_query(),
            "sort": ls.sort, "order": "desc" if ls.descending else "asc",
            "metrics": _views.metric_names(e.record for e in ls.entries if e.record is not None),
            "runs": [_views.summary_row(e) for e in ls.entries],
        })

    def _api_run(self, query: Mapping[str, list[str]], ref: str) -> Response:
        record = self._entry(ref).record
        assert record is not None
        registry, _ = discover()
        return self._json({
            "run": safe_record(record),
            "tags": _views.run_tags(record),
            "components": _views.component_verdicts(record["components"], registry),
            "checkpoints": _views.checkpoints(record),
        })

    def _api_curves(self, query: Mapping[str, list[str]], ref: str) -> Response:
        record = self._entry(ref).record
        assert record is not None
        shown = safe_record(record)
        return self._json({
            "run_id": record["run_id"], "status": record["status"], "error": shown.get("error"),
            "epochs": len(record["epochs"]), "timings": record.get("timings"),
            "duration_seconds": _views.duration(record),
            "final_metrics": record["final_metrics"], "checkpoints": _views.checkpoints(record),
            "curves": self._curves(record),
        })

    def _api_events(self, query: Mapping[str, list[str]], ref: str) -> Response:
        rid = self._entry(ref).run_id
        after_text = (query.get("after") or ["-1"])[-1].strip()
        limit_text = (query.get("limit") or [str(EVENTS_LIMIT)])[-1].strip()
        try:
            after = int(after_text)
        except ValueError:
            raise HTTPError(400, "Bad after", f"after={after_text!r} is not an event seq number",
                            "use after=N: the events with a larger seq") from None
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= EVENTS_MAX:
            raise HTTPError(400, "Bad limit", f"limit={limit_text!r}: expected 1 to {EVENTS_MAX} events")
        limit = int(limit_text)
        newer = [e for e in self.view.events(rid)
                 if not (isinstance(e.get("seq"), int) and e["seq"] <= after)]
        page_ = newer[:limit]
        last = page_[-1].get("seq") if page_ else None
        return self._json({"run_id": rid, "after": after, "events": page_, "more": len(newer) > limit,
                           "next_after": last if isinstance(last, int) else after})

    def _api_compare(self, query: Mapping[str, list[str]]) -> Response:
        records, unreadable = self._compare_data(query)
        diffs, absent = _views.differences(records)
        return self._json({
            "runs": [str(r["run_id"]) for r in records],
            "unreadable": [{"run_id": e.run_id, "unreadable": e.problem} for e in unreadable],
            "differences": diffs, "absent": absent,
            "same": {name: not d for name, d in diffs.items()},
            "epochs": {str(r["run_id"]): self._curves(r)["epochs"] for r in records},
        })

    def _api_sweeps(self, query: Mapping[str, list[str]]) -> Response:
        store = self.view.store
        sweeps = list_sweeps(store)
        return self._json({"store": self.ctx.store, "records_sweeps": sweeps is not None,
                           "why_none": None if sweeps is not None else sweeps_missing(store),
                           "sweeps": sweeps or []})

    def _api_sweep(self, query: Mapping[str, list[str]], sweep_id: str) -> Response:
        return self._json({"sweep": self._sweep_or_404(sweep_id)})

    def _api_plugins(self, query: Mapping[str, list[str]]) -> Response:
        return self._json(self._catalogue(query))
