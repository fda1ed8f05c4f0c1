"""Static shape checks: ``torchrack validate --static`` follows the declared tensor specs from the
dataset through augmentations, backbone, adapter, head, loss and metrics, with every ``$param``
evaluated from the config, and reports each dimension it can decide without torch: a head whose
``in_features`` is a literal different from the backbone's feature size is caught here, before
any import. What it cannot decide (a free symbol such as a model family's feature size ``F``, an
``"auto"`` param, a ``...``) is listed as left to the dry run, which checks it on real shapes.

Symbols are shared across the pipeline, as in the dry run (``N`` is the batch everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torchrack.contracts import format_shape, param_of
from torchrack.contracts import resolve_spec as resolve

from torchrack_runs._config import ResolvedConfig, Slot

Dim = int | str


@dataclass
class _Flow:
    """A tensor as the specs describe it: dims (ints, symbols, ``...``) and who produced it."""

    dims: list[Dim] | None  # None: unknown (a component declared no spec)
    producer: str


@dataclass
class StaticReport:
    """What :func:`static_shapes` found: ``problems`` (each a sentence naming both components and
    the config key to change), ``left`` (what the dry run decides) and the count of dims it
    decided."""

    problems: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    decided: int = 0


def _who(slot: Slot) -> str:
    name = slot.info.name if slot.info else slot.ref.get("name")
    return f"{slot.kind} {name!r} ({slot.key})"


def _spec(slot: Slot, raw: Any) -> list[Dim] | None:
    """``raw`` with the slot's params evaluated; ``"auto"`` dims become the symbol ``auto:p``."""
    if not isinstance(raw, dict) or "shape" not in raw:
        return None
    raw = dict(raw)
    shape = []
    for d in raw["shape"]:
        name = param_of(d)
        shape.append(f"auto_{name}" if name is not None and d == f"${name}" and name in slot.auto else d)
    raw["shape"] = shape
    try:
        return list(resolve(raw, slot.params).shape)
    except Exception:  # noqa: BLE001 - a spec the params cannot evaluate: the dry run says why
        return None


class _Static:
    def __init__(self) -> None:
        self.bindings: dict[str, int] = {}
        self.bound_by: dict[str, str] = {}
        self.report = StaticReport()

    def value(self, d: Dim) -> Dim:
        return self.bindings.get(d, d) if isinstance(d, str) else d

    def flow_out(self, slot: Slot, raw: Any) -> _Flow:
        dims = _spec(slot, raw)
        return _Flow(None if dims is None else [self.value(d) for d in dims], _who(slot))

    def check(self, slot: Slot, what: str, raw: Any, have: _Flow) -> None:
        """Match the flowing tensor ``have`` against ``slot``'s input spec ``raw``."""
        want = _spec(slot, raw)
        if want is None or have.dims is None:
            return
        got = [self.value(d) for d in have.dims]
        want = [self.value(d) for d in want]
        if "..." in want or "..." in got:
            i = min(want.index("...") if "..." in want else len(want),
                    got.index("...") if "..." in got else len(got))
            pairs = list(zip(want[:i], got[:i], strict=False))
            if "..." not in want and i < len(want):  # the consumer needs dims the specs leave open
                self.report.left.append(f"{_who(slot)} input {what!r}: dims after '...' "
                                        f"({format_shape(want)} from {format_shape(got)})")
        else:
            if len(want) != len(got):
                self.report.problems.append(
                    f"{_who(slot)} input {what!r} expects {len(want)} dims {format_shape(want)} but "
                    f"{have.producer} gives {len(got)} dims {format_shape(got)}"
                    f"{_adapter_hint(want, got)}")
                return
            pairs = list(zip(want, got, strict=True))
        for pos, (w, g) in enumerate(pairs):
            if w == "*" or g == "*":
                continue
            if isinstance(w, int) and isinstance(g, int):
                self.report.decided += 1
                if w != g:
                    self.report.problems.append(
                        f"{_who(slot)} input {what!r} expects {format_shape(want)} but "
                        f"{have.producer} gives {format_shape(got)}: dim {pos} is {w} here, "
                        f"{g} there{_fix(slot, raw, pos, g)}")
                    return
            elif isinstance(w, str) and isinstance(g, int):
                if w.startswith("auto_"):
                    self.report.left.append(f"{slot.key}.params.{w[5:]} = \"auto\": {g} from "
                                            f"{have.producer}, bound at the dry run")
                    continue
                self.bindings[w] = g
                self.bound_by[w] = have.producer
            elif isinstance(w, int) and isinstance(g, str):
                self.bindings[g] = w
                self.bound_by[g] = _who(slot)
            elif isinstance(w, str) and isinstance(g, str) and w != g and pos > 0:
                what_w = f'{w[5:]} = "auto"' if w.startswith("auto_") else w
                self.report.left.append(f"{_who(slot)} input {what!r} dim {pos} ({what_w}) against "
                                        f"{g} of {have.producer}: decided by the dry run")


def _fix(slot: Slot, raw: Any, pos: int, found: int) -> str:
    dims = raw.get("shape", []) if isinstance(raw, dict) else []
    d = dims[pos] if pos < len(dims) else None
    name = param_of(d)
    if name is not None and d == f"${name}":
        return f" (set {slot.key}.params.{name} = {found}, or \"auto\")"
    if name is not None:
        return f" (change {slot.key}.params.{name})"
    return ""


def _adapter_hint(want: list[Dim], got: list[Dim]) -> str:
    if len(want) == 2 and len(got) == 4:
        return (" (a feature map where features are expected: put a pooling adapter between them, "
                "[model.adapter] name = \"global_pool\")")
    return ""


def static_shapes(resolved: ResolvedConfig) -> StaticReport:
    """Follow the specs of ``resolved`` (nothing imported) and report what they decide."""
    s = _Static()
    slots = {slot.role: slot for slot in resolved.slots}
    ds = slots["data.dataset"]
    if ds.info is None:
        return s.report
    x = s.flow_out(ds, ds.info.outputs.get("inputs"))
    y = s.flow_out(ds, ds.info.outputs.get("targets"))
    for slot in resolved.slots_of("augmentation"):
        if slot.info is None:
            return s.report
        s.check(slot, "inputs", slot.info.inputs.get("inputs"), x)
        s.check(slot, "targets", slot.info.inputs.get("targets"), y)
        out_x = s.flow_out(slot, slot.info.outputs.get("inputs"))
        out_y = s.flow_out(slot, slot.info.outputs.get("targets"))
        x = out_x if out_x.dims is not None else x
        y = out_y if out_y.dims is not None else y
    prev = x
    chain = [("model.backbone", "inputs", "features"), ("model.adapter", "features", "features"),
             ("model.head", "features", "logits")]
    for role, in_name, out_name in chain:
        found = slots.get(role)
        if found is None or found.info is None:
            continue
        slot, info = found, found.info
        before = len(s.report.problems)
        s.check(slot, in_name, info.inputs.get(in_name), prev)
        if len(s.report.problems) > before:
            return s.report
        prev = s.flow_out(slot, info.outputs.get(out_name))
    loss = slots.get("loss")
    if loss is not None and loss.info is not None:
        s.check(loss, "logits", loss.info.inputs.get("logits"), prev)
        s.check(loss, "targets", loss.info.inputs.get("targets"), y)
    for slot in resolved.slots_of("metric"):
        if slot.info is not None:
            s.check(slot, "logits", slot.info.inputs.get("logits"), prev)
    return s.report
