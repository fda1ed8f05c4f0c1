/* torchrack-ui: the dashboard's only script (no library, no network but this dashboard's own API).
 *
 * - lineChart(): a small SVG line chart (axes with round ticks, one polyline and its points per
 *   series, a legend, a tooltip per point); every text goes in through textContent, never HTML.
 * - Run page: draws the curves from the page's data block, then, while the run is running, polls
 *   /api/runs/<id>/curves and updates the status, epochs table, curves, final metrics and
 *   checkpoints in place: new epochs appear without a reload.
 * - Compare page: overlays the runs' curves, one chart per metric.
 * - Runs table: while a run is running, updates its status, epochs and duration cells.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = 8;

  function node(ns, name, attrs, parent) {
    var n = ns ? document.createElementNS(ns, name) : document.createElement(name);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(n); }
    return n;
  }
  function svg(name, attrs, parent) { return node(SVG, name, attrs, parent); }
  function html(name, attrs, parent, text) {
    var n = node(null, name, attrs, parent);
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }
  function clear(n) { while (n.firstChild) { n.removeChild(n.firstChild); } }

  function fmt(v) {
    if (typeof v !== "number" || !isFinite(v)) { return v === null || v === undefined ? "–" : String(v); }
    if (Number.isInteger(v)) { return String(v); }
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) { return v.toExponential(2); }
    return String(Number(v.toPrecision(4)));
  }

  function niceStep(span, count) {
    var raw = span / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / mag;
    var step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return step * mag;
  }
  function ticks(lo, hi, count, integer) {
    var step = niceStep(hi - lo, count);
    if (integer) { step = Math.max(1, step); }
    var out = [];
    for (var i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) {
      out.push(Number((i * step).toPrecision(12)));
    }
    return out;
  }
  function extent(values, pad) {
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (lo === hi) { var d = Math.abs(lo) * 0.1 || 1; return [lo - d, hi + d]; }
    var p = (hi - lo) * pad;
    return [lo - p, hi + p];
  }

  /* opts: {title, xLabel, series: [{label, points: [[x, y], ...], line: "thin"|undefined}], integerX} */
  function lineChart(parent, opts) {
    var W = 480, L = 58, R = 14, B = 38;
    var series = opts.series.filter(function (s) { return s.points.length > 0; });
    // The legend first: its rows set the top margin.
    var legend = [], lx = L, row = 0;
    series.forEach(function (s) {
      var label = s.label.length > 34 ? s.label.slice(0, 33) + "\u2026" : s.label;
      var w = 24 + label.length * 6.3;
      if (lx + w > W - R && lx > L) { lx = L; row += 1; }
      legend.push({x: lx, row: row, label: label});
      lx += w;
    });
    var T = 44 + row * 14, H = 236 + T;
    var root = svg("svg", {viewBox: "0 0 " + W + " " + H, "class": "tr-chart", role: "img",
                           "data-metric": opts.title}, parent);
    svg("title", {}, root).textContent = opts.title;
    svg("text", {x: L, y: 16, "class": "tr-title"}, root).textContent = opts.title;
    if (!series.length) { return root; }
    var xs = [], ys = [];
    series.forEach(function (s) { s.points.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
    var xr = extent(xs, 0), yr = extent(ys, 0.06);
    if (Math.min.apply(null, xs) === Math.max.apply(null, xs)) { xr = [xs[0] - 0.5, xs[0] + 0.5]; }
    function X(x) { return L + (x - xr[0]) / (xr[1] - xr[0]) * (W - L - R); }
    function Y(y) { return H - B - (y - yr[0]) / (yr[1] - yr[0]) * (H - T - B); }
    var axes = svg("g", {"class": "tr-axis"}, root);
    ticks(yr[0], yr[1], 5).forEach(function (t) {
      svg("line", {x1: L, x2: W - R, y1: Y(t), y2: Y(t), "class": "tr-grid"}, axes);
      svg("text", {x: L - 6, y: Y(t) + 4, "text-anchor": "end"}, axes).textContent = fmt(t);
    });
    ticks(xr[0], xr[1], 6, opts.integerX).forEach(function (t) {
      svg("line", {x1: X(t), x2: X(t), y1: H - B, y2: H - B + 4}, axes);
      svg("text", {x: X(t), y: H - B + 16, "text-anchor": "middle"}, axes).textContent = fmt(t);
    });
    svg("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, "class": "tr-base"}, axes);
    svg("text", {x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", "class": "tr-xlabel"}, axes)
      .textContent = opts.xLabel || "epoch";
    series.forEach(function (s, i) {
      var cls = "tr-s" + (s.color !== undefined ? s.color : i) % PALETTE;
      var g = svg("g", {"class": "tr-series " + cls, "data-series": s.label}, root);
      svg("polyline", {"class": "tr-line" + (s.line === "thin" ? " tr-thin" : ""),
                       points: s.points.map(function (p) { return X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1); }).join(" ")}, g);
      if (s.line !== "thin") {
        s.points.forEach(function (p) {
          var c = svg("circle", {cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 3, "class": "tr-point"}, g);
          svg("title", {}, c).textContent = s.label + " \u00b7 " + (opts.xLabel || "epoch") + " " + fmt(p[0]) + ": " + fmt(p[1]);
        });
      }
      var item = svg("g", {"class": "tr-legend " + cls}, root);
      var y = 32 + legend[i].row * 14;
      svg("rect", {x: legend[i].x, y: y - 6, width: 10, height: 4, "class": "tr-swatch"}, item);
      svg("text", {x: legend[i].x + 14, y: y}, item).textContent = legend[i].label;
      svg("title", {}, item).textContent = s.label;
    });
    return root;
  }

  function epochPoints(epochs, name) {
    var pts = [];
    epochs.forEach(function (e) {
      var v = e.metrics[name];
      if (typeof v === "number" && isFinite(v)) { pts.push([e.epoch, v]); }
    });
    return pts;
  }
  function metricNames(epochsList) {
    var names = [];
    epochsList.forEach(function (epochs) {
      epochs.forEach(function (e) {
        Object.keys(e.metrics).forEach(function (k) { if (names.indexOf(k) < 0) { names.push(k); } });
      });
    });
    return names;
  }
  function isLoss(name) { return /(^|_)loss$/.test(name); }

  function drawRunCurves(container, curves) {
    clear(container);
    var epochs = curves.epochs || [], steps = curves.steps || {};
    var names = metricNames([epochs]);
    if (!epochs.length && !Object.keys(steps).length) {
      html("p", {"class": "empty"}, container, "no epochs recorded yet");
      return;
    }
    var lossSeries = [];
    if (steps.loss && steps.loss.length) { lossSeries.push({label: "train loss (per step)", points: steps.loss, line: "thin", color: 7}); }
    names.filter(isLoss).forEach(function (n, i) { lossSeries.push({label: n, points: epochPoints(epochs, n), color: i}); });
    if (lossSeries.length) { lineChart(container, {title: "loss", series: lossSeries}); }
    names.filter(function (n) { return !isLoss(n) && n !== "lr"; }).concat(names.indexOf("lr") >= 0 ? ["lr"] : [])
      .forEach(function (n, i) {
        lineChart(container, {title: n, series: [{label: n, points: epochPoints(epochs, n), color: (i + 2) % PALETTE}], integerX: true});
      });
  }

  function fillEpochsTable(table, epochs) {
    var names = metricNames([epochs]);
    clear(table);
    var tr = html("tr", {}, html("thead", {}, table));
    html("th", {}, tr, "epoch");
    names.forEach(function (n) { html("th", {}, tr, n); });
    var body = html("tbody", {id: "epochs-body"}, table);
    if (!epochs.length) {
      html("td", {colspan: names.length + 1, "class": "empty"}, html("tr", {}, body), "no epochs recorded yet");
    }
    epochs.forEach(function (e) {
      var row = html("tr", {}, body);
      html("td", {}, row, e.epoch);
      names.forEach(function (n) {
        var v = e.metrics[n];
        var td = html("td", {}, row, v === undefined ? "–" : fmt(v));
        if (typeof v === "number") { td.title = String(v); }
      });
    });
  }

  function fillRows(body, rows, empty) {
    clear(body);
    if (!rows.length) { html("td", {colspan: 5, "class": "empty"}, html("tr", {}, body), empty); }
    rows.forEach(function (cells) {
      var tr = html("tr", {}, body);
      cells.forEach(function (c) { html("td", {}, tr, c); });
    });
  }

  function setStatus(badge, status) {
    if (!badge) { return; }
    badge.textContent = status;
    badge.setAttribute("data-status", status);
    badge.className = "badge status-" + status;
  }

  function fmtDuration(s) {
    if (typeof s !== "number") { return "–"; }
    if (s < 60) { return s.toFixed(1) + "s"; }
    var m = Math.floor(Math.round(s) / 60), sec = Math.round(s) % 60;
    return m >= 60 ? Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m" : m + "m" + String(sec).padStart(2, "0") + "s";
  }

  function fmtTime(ts) {
    if (typeof ts !== "number") { return "–"; }
    var d = new Date(ts * 1000);
    function two(n) { return String(n).padStart(2, "0"); }
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + " " +
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function runPage(data) {
    var curvesBox = document.getElementById("curves");
    var table = document.getElementById("epochs-table");
    var note = document.getElementById("live-note");
    var seen = -1, updates = 0;
    function render(j) {
      var c = j.curves, key = c.epochs.length + ":" + Object.keys(c.steps).map(function (k) { return c.steps[k].length; }).join(",");
      if (key !== seen) {
        seen = key;
        drawRunCurves(curvesBox, c);
        fillEpochsTable(table, c.epochs);
        updates += 1;
        document.body.setAttribute("data-live-updates", String(updates));
      }
    }
    render({curves: data.curves});
    if (data.status !== "running") { return; }
    function poll() {
      fetch(data.poll, {cache: "no-store", headers: {Accept: "application/json"}})
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (j) {
          render(j);
          setStatus(document.getElementById("run-status"), j.status);
          document.querySelectorAll("h1 .badge[data-status]").forEach(function (b) { setStatus(b, j.status); });
          document.getElementById("epoch-count").textContent = String(j.epochs);
          document.getElementById("run-duration").textContent = fmtDuration(j.duration_seconds);
          document.getElementById("run-ended").textContent = fmtTime((j.timings || {}).ended_at);
          var err = document.getElementById("run-error");
          if (j.error) { err.textContent = "error: " + j.error; err.classList.remove("hidden"); }
          var fin = document.getElementById("final-body");
          if (fin) {
            fillRows(fin, Object.keys(j.final_metrics || {}).map(function (k) { return [k, fmt(j.final_metrics[k])]; }), "none recorded yet");
          }
          var ck = document.getElementById("checkpoints-body");
          if (ck && j.checkpoints) {
            fillRows(ck, j.checkpoints.map(function (c) {
              return [c.kind + (c.best ? " · best" : ""), c.epoch === null ? "–" : c.epoch, c.path,
                      c.exists ? (c.bytes / 1e6).toFixed(2) + " MB" : "missing", c.monitor ? c.monitor + " = " + fmt(c.value) : "–"];
            }), "no checkpoint recorded");
          }
          if (j.status === "running") {
            note.textContent = "live: epoch " + j.epochs + " recorded; new epochs appear as the run writes them";
            setTimeout(poll, data.refresh_ms);
          } else {
            note.textContent = "the run has ended: " + j.status + " · ";
            html("a", {href: window.location.pathname}, note, "reload for its evaluations and timings");
          }
        })
        .catch(function (e) {
          note.textContent = "cannot reach the dashboard (" + e.message + "); retrying";
          setTimeout(poll, data.refresh_ms * 2);
        });
    }
    setTimeout(poll, data.refresh_ms);
  }

  function comparePage(data) {
    var box = document.getElementById("compare-curves");
    var lists = data.runs.map(function (r) { return data.epochs[r.run_id] || []; });
    var names = metricNames(lists);
    if (!names.length) { return; }
    clear(box);
    names.forEach(function (n) {
      lineChart(box, {title: n, integerX: true, series: data.runs.map(function (r, i) {
        return {label: "run " + r.run_id + (r.name ? ": " + r.name : ""), points: epochPoints(lists[i], n), color: i};
      })});
    });
  }

  function runsPage(data) {
    var table = document.getElementById("runs-table");
    if (!table) { return; }
    var busy = data.running.length > 0;
    function poll() {
      fetch(data.poll, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (j) {
        var running = 0, fresh = 0;
        (j.runs || []).forEach(function (run) {
          var row = table.querySelector('tr[data-run-id="' + String(run.run_id).replace(/[^0-9A-Za-z_-]/g, "") + '"]');
          if (!row) { fresh += 1; return; }
          if (run.unreadable) { return; }
          if (run.status === "running") { running += 1; }
          var st = row.querySelector('[data-field="status"] .badge');
          setStatus(st, run.status);
          var ep = row.querySelector('[data-field="epochs"]');
          if (ep) { ep.textContent = String(run.epochs); }
          var du = row.querySelector('[data-field="duration"]');
          if (du) { du.textContent = fmtDuration(run.duration_seconds); }
        });
        var count = document.getElementById("runs-count");
        if (fresh && count && !document.getElementById("runs-new")) {
          var a = html("a", {href: window.location.pathname + window.location.search, id: "runs-new"}, null, " · new runs: reload");
          count.appendChild(a);
        }
        busy = running > 0;
        setTimeout(poll, busy ? data.refresh_ms : data.refresh_ms * 5);
      }).catch(function () { setTimeout(poll, data.refresh_ms * 5); });
    }
    setTimeout(poll, busy ? data.refresh_ms : data.refresh_ms * 5);
  }

  function read(id) {
    var n = document.getElementById(id);
    return n ? JSON.parse(n.textContent) : null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var d;
    if ((d = read("run-data"))) { runPage(d); }
    if ((d = read("compare-data"))) { comparePage(d); }
    if ((d = read("runs-data"))) { runsPage(d); }
    document.body.setAttribute("data-ready", "1");
  });

  window.torchrackUI = {lineChart: lineChart};
})();
