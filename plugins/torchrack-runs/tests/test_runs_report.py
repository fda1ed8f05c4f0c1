"""`torchrack runs report RUN... -o report.html`: one self-contained HTML file that loads nothing,
parses as HTML, and holds each run's metrics, curves, differences and components."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from torchrack.cli import main
from torchrack_runs._store import RunStore

from ._store_helpers import SECRET, make_record

#: Elements that never have an end tag.
VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}
#: SVG elements written self-closed (``<line .../>``).
SELF_CLOSED = {"line", "circle", "path", "rect", "polyline"}
#: Attributes through which a page loads or links something.
URL_ATTRS = {"src", "href", "xlink:href", "action", "formaction", "data", "poster", "srcset",
             "background", "manifest", "ping"}


class Page(HTMLParser):
    """Everything a check needs: tags with attributes, text, and whether the tags nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)


def _parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _record(store: RunStore, name: str, *, lr: float, accuracy: list[float], final: dict[str, Any],
            backbone_version: str = "1.0.0", status: str = "completed") -> str:
    rid = store.create_run(make_record(name, lr=lr, backbone_version=backbone_version))
    for epoch, acc in enumerate(accuracy, start=1):
        store.add_epoch(rid, epoch, {"accuracy": acc, "train_loss": 1.0 / epoch, "lr": lr})
    store.finish_run(rid, status, final, None if status == "completed" else "RuntimeError: boom",
                     {"train_seconds": 2.0})
    return rid


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    store = RunStore(tmp_path / "runs.sqlite")
    _record(store, "digits", lr=0.05, accuracy=[0.61, 0.83, 0.9123],
            final={"accuracy": 0.9123, "ece": 0.041, "confusion_matrix": [[5, 1], [0, 6]]})
    rid = _record(store, "digits <script>alert(1)</script>", lr=0.1, accuracy=[0.55, 0.8765],
                  final={"accuracy": 0.8765, "ece": 0.052}, backbone_version="1.1.0")
    store.add_warning(rid, "tracker acme:mlflow failed in torchrack_epoch_end: ConnectionError",
                      source="acme:mlflow", hook="torchrack_epoch_end")
    return store


def _report(capsys: pytest.CaptureFixture[str], store: RunStore, out: Path, *runs: str,
            extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    code = main(["runs", "report", *runs, "-o", str(out), "--store", str(store.path), *extra])
    o, e = capsys.readouterr()
    return code, o, e


def test_the_report_is_one_self_contained_html_file(store: RunStore, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "report.html"
    code, stdout, err = _report(capsys, store, out, "1", "2")
    assert code == 0, err
    assert f"wrote {out}" in stdout and "it loads nothing from the network" in stdout
    text = out.read_text(encoding="utf-8")
    page = _parse(out)
    assert not page.problems and not page.stack  # every element closed, in order
    names = [t for t, _ in page.tags]
    assert names[:1] == ["html"] and "body" in names
    # nothing to load: no script, style sheet, frame or image, no URL in any attribute or style
    assert not {"script", "link", "iframe", "img", "object", "embed", "video", "audio"} & set(names)
    for tag, attrs in page.tags:
        for attr, value in attrs.items():
            assert attr not in URL_ATTRS, (tag, attr, value)
            assert "://" not in (value or ""), (tag, attr, value)
    assert all("url(" not in s and "@import" not in s for s in page.styles)
    assert "http://" not in text and "https://" not in text
    body = " ".join(page.text)
    # each run's metrics
    for value in ("0.9123", "0.041", "0.8765", "0.052"):
        assert value in body, value
    assert "run 1 (digits)" in body and "run 2 (digits <script>alert(1)</script>)" in body  # as text
    # curves: one chart per epoch metric, a line per run with a point per epoch
    svgs = [a for t, a in page.tags if t == "svg"]
    assert {a.get("aria-label") for a in svgs} == {"accuracy per epoch", "train_loss per epoch",
                                                   "lr per epoch"}
    lines = [a["points"] or "" for t, a in page.tags if t == "polyline"]
    assert sorted(len(p.split()) for p in lines) == [2, 2, 2, 3, 3, 3]
    assert "run 1 (digits), epoch 3: 0.9123" in body  # a point's tooltip
    # the differences, components with versions, warnings
    assert "optimizer.params.lr" in body and "model.backbone.version" in body
    assert "small_cnn 1.1.0 (torchrack-backbones 0.1.0)" in body
    assert "tracker acme:mlflow failed in torchrack_epoch_end" in body
    assert "confusion_matrix" in body and SECRET not in text


def test_one_run_and_chosen_metrics(store: RunStore, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "one.html"
    code, _, err = _report(capsys, store, out, "latest", extra=("--metric", "accuracy", "--title", "PR 42"))
    assert code == 0, err
    page = _parse(out)
    body = " ".join(page.text)
    assert "PR 42" in body and "One run: nothing to compare" in body
    assert [a.get("aria-label") for t, a in page.tags if t == "svg"] == ["accuracy per epoch"]
    assert "0.8765" in body and "0.9123" not in body


@pytest.mark.parametrize(("argv", "expected"), [
    (["1", "-o", "{tmp}/report.txt"], "give -o a file ending in .html"),
    (["1", "7", "-o", "{tmp}/report.html"], "7"),
    (["1", "-o", "{tmp}/report.html", "--metric", "f1"],
     "no run among 1 recorded the epoch metric 'f1'; choose from: accuracy, lr, train_loss"),
])
def test_bad_input_is_an_error_and_writes_nothing(store: RunStore, tmp_path: Path, argv: list[str],
                                                  expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["runs", "report", *args, "--store", str(store.path)])
    err = capsys.readouterr().err
    assert code == 1 and expected in err and "Traceback" not in err
    assert not list(tmp_path.glob("report.*"))
