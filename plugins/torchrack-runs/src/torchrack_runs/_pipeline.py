"""Composing a pipeline from resolved components, and checking its tensor contracts.

``check_pipeline`` is the dry run behind ``torchrack validate`` (and the first thing ``torchrack
run`` does): the dataset gives a few real samples, augmentations run on them on the CPU (they are
data-side and cheap), then backbone, head and loss run on the ``meta`` device, which computes
shapes and dtypes without allocating or computing anything. Every input and output is checked
against the component's declared tensor specs, with symbols (``N``, ``K``...) unified across the
whole pipeline, so a mismatch names both components, both shapes and the config key to change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from torchrack import TorchrackError
from torchrack.contracts import dtype_matches, format_shape, param_of, unify
from torchrack.contracts import resolve_spec as resolve
from torchrack.plugins import Registry

from torchrack_runs._config import ResolvedConfig, Slot

#: batch size of the dry run
DRY_RUN_BATCH = 4

#: ``device="auto"``: a model of at most this many parameters is dry-run on the CPU (a few
#: milliseconds), a larger one on the meta device (no memory, but about a second of torch's
#: start-up for meta kernels the first time in a process).
SMALL_MODEL_PARAMETERS = 5_000_000


#: How much of a component's exception message a :class:`ComponentError` shows.
MAX_EXCEPTION_LINES = 3
MAX_EXCEPTION_CHARS = 500


def exception_summary(exc: BaseException, max_lines: int = MAX_EXCEPTION_LINES,
                      max_chars: int = MAX_EXCEPTION_CHARS) -> str:
    """The first meaningful lines of ``exc``'s message, without a C++ stack.

    torch's C++ errors append ``Exception raised from ... (most recent call first):`` and one
    ``frame #N: ...`` line per frame; everything from there on is left out, and the rest is
    capped at ``max_lines`` lines and ``max_chars`` characters.
    """
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a plugin's exception may fail to format itself
        text = ""
    cut = text.find("Exception raised from")
    if cut >= 0:
        text = text[:cut]
    lines = [line.rstrip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith(("frame #", "<omitting python frames>"))]
    summary = " ".join(line.strip() for line in lines[:max_lines])
    if len(lines) > max_lines:
        summary += " ..."
    if cut >= 0 and summary.count('"') % 2:  # the C++ text was cut inside a quoted message
        summary += '"'
    if len(summary) > max_chars:
        summary = summary[: max_chars - 3].rstrip() + "..."
    return summary or "(no message)"


class ComponentError(TorchrackError):
    """A component raised while being built or run; names the component and its distribution.

    The message shows the first line(s) of the component's exception (no C++ stack frames); the
    exception itself is the ``__cause__``.
    """

    def __init__(self, slot: Slot, stage: str, exc: BaseException) -> None:
        info = slot.info
        who = f"{slot.kind} {info.qualname if info else slot.ref.get('name')}"
        dist = f" from {info.dist} {info.dist_version}" if info else ""
        super().__init__(
            f"{who} ({slot.key}){dist} failed during {stage}: {type(exc).__name__}: "
            f"{exception_summary(exc)}"
        )
        self.slot = slot
        self.stage = stage


class ContractError(TorchrackError):
    """The components of a config do not fit together; ``problems`` lists each mismatch."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: the components do not fit together:\n{lines}")


def instantiate(slot: Slot, registry: Registry, device: Any = None) -> Any:
    """Import (on first use) and construct the component of ``slot`` with its params."""
    assert slot.info is not None
    factory = registry.load(slot.info)
    ctx: Any = contextlib.nullcontext()
    if device is not None:
        import torch

        ctx = torch.device(device)
    with ctx:
        return call_component(slot, "construction", factory, **slot.params)


def call_component(slot: Slot, stage: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; a failure becomes a :class:`ComponentError` naming ``slot``'s
    component, its distribution and ``stage``. torchrack's own errors pass through unchanged."""
    try:
        return fn(*args, **kwargs)
    except TorchrackError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
        raise ComponentError(slot, stage, exc) from exc


@dataclass
class _Tensor:
    """A tensor flowing through the dry run, with who produced it and how it was declared."""

    value: Any
    producer: Slot | None
    spec: dict[str, Any] | None


def _name(slot: Slot) -> str:
    assert slot.info is not None
    return f"{slot.kind} {slot.info.name!r} ({slot.key})"


class _Checker:
    def __init__(self) -> None:
        self.bindings: dict[str, int] = {}
        self.bound_by: dict[str, str] = {}
        self.problems: list[str] = []
        #: ``"auto"`` params bound by this dry run, as ``key.params.name = value``.
        self.bound: list[str] = []

    def _suggest(self, slot: Slot, raw: dict[str, Any], pos: int, found: int,
                 producer: _Tensor | None, expected: int | None) -> str:
        """The config change that fixes a mismatch at dim ``pos``, when a param decides it."""
        dims = raw.get("shape", [])
        dim = dims[pos] if pos < len(dims) else None
        param = param_of(dim)
        if param is not None:  # the consumer's own param sets the expected size
            if dim == f"${param}":
                return f" (set {slot.key}.params.{param} = {found})"
            return f" (change {slot.key}.params.{param}: {dim} must equal {found})"
        if producer and producer.producer and producer.spec and expected is not None:
            pdims = producer.spec.get("shape", [])
            pdim = pdims[pos] if pos < len(pdims) else None
            pparam = param_of(pdim)
            if pparam is not None and pdim == f"${pparam}":  # the producer's param sets it
                return f" (set {producer.producer.key}.params.{pparam} = {expected})"
        return ""

    def check(self, slot: Slot, label: str, name: str, raw: dict[str, Any] | None,
              t: _Tensor) -> bool:
        """Check tensor ``t`` against ``slot``'s declared spec ``raw``; record any problem."""
        if raw is None:
            return True
        assert slot.info is not None
        if label == "input" and slot.auto:
            self.bind(slot, raw, t)
        spec = resolve(raw, slot.params)
        shape = tuple(int(s) for s in t.value.shape)
        trial = dict(self.bindings)
        problem = unify(spec, shape, trial)
        source = f" but {_name(t.producer)} gives" if t.producer else ", found"
        if problem:
            pos, exp_val = self._first_diff(spec.shape, shape)
            from_ = ""
            sym = spec.shape[pos] if pos is not None else None
            if isinstance(sym, str) and sym in self.bound_by:
                from_ = f" ({sym} = {self.bindings[sym]} from {self.bound_by[sym]})"
            hint = self._suggest(slot, raw, pos, shape[pos], t, exp_val) if pos is not None else ""
            # The batch dim is shown as its symbol (its size is the dry run's, not the user's).
            shown: list[int | str] = list(shape)
            batch = spec.shape[0] if spec.shape else None
            if shape and isinstance(batch, str) and self.bindings.get(batch) == shape[0]:
                shown[0] = batch
            if label == "output" and t.producer is slot:
                # The component's own result against its own declaration: no config can fix
                # that, only the plugin (saying "X expects ... but X gives" read as a riddle).
                assert slot.info is not None
                self.problems.append(
                    f"{_name(slot)} output {name!r} is declared {format_shape(spec.shape)}{from_} "
                    f"in its manifest but the module gave {format_shape(shown)}: its declared "
                    f"outputs do not match what it computes (a bug in {slot.info.dist} "
                    f"{slot.info.dist_version}; report it to the plugin's author){hint}"
                )
            else:
                self.problems.append(
                    f"{_name(slot)} {label} {name!r} expects {format_shape(spec.shape)}{from_}"
                    f"{source} {format_shape(shown)}{hint}"
                )
            return False
        for sym in trial:
            if sym not in self.bindings:
                self.bound_by[sym] = _name(slot)
        self.bindings = trial
        dtype = str(t.value.dtype).removeprefix("torch.")
        if not dtype_matches(spec.dtype, dtype):
            self.problems.append(
                f"{_name(slot)} {label} {name!r} expects dtype {' or '.join(spec.dtype)}"
                f"{source} {dtype}"
            )
            return False
        return True

    def bind(self, slot: Slot, raw: dict[str, Any], t: _Tensor) -> None:
        """Bind ``slot``'s ``"auto"`` params that ``raw`` names as a whole dim to the size of
        that dim of ``t`` (dims after a ``...`` counted from the end)."""
        dims = list(raw.get("shape", []))
        shape = [int(s) for s in t.value.shape]
        for pos, dim in enumerate(dims):
            name = param_of(dim)
            if name is None or dim != f"${name}" or name not in slot.auto:
                continue
            if "..." in dims[:pos]:
                idx = len(shape) - (len(dims) - pos)
            else:
                idx = pos
            if not 0 <= idx < len(shape):
                continue  # the rank differs: the check that follows says so
            slot.params[name] = shape[idx]
            slot.auto.remove(name)
            self.bound.append(f"{slot.key}.params.{name} = {shape[idx]}")

    def _first_diff(self, dims: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[int | None, int | None]:
        if "..." in dims or len(dims) != len(shape):
            return None, None
        for i, (want, got) in enumerate(zip(dims, shape, strict=True)):
            if isinstance(want, int) and want != got:
                return i, want
            if isinstance(want, str) and want in self.bindings and self.bindings[want] != got:
                return i, self.bindings[want]
        return None, None


def check_pipeline(
    resolved: ResolvedConfig,
    registry: Registry,
    n: int = DRY_RUN_BATCH,
    *,
    built: Mapping[str, Any] | None = None,
    device: str = "meta",
) -> list[str]:
    """Dry-run the composed pipeline and return every contract problem (empty when it fits).

    Without ``built``, the model and loss are built on the ``meta`` device (``validate``: no
    weights allocated, nothing computed). ``built`` maps roles (``data.dataset``,
    ``model.backbone``, ``model.head``, ``loss``) to the objects a run is about to train: the dry
    run then uses them on their device, in eval mode and without gradients (nothing they hold
    changes), so ``run`` builds its components once and pays no meta-device start-up.
    ``device="auto"`` (``validate``'s default): a small model (:data:`SMALL_MODEL_PARAMETERS`,
    counted on the meta device) is built on the CPU and dry-run there instead of on ``meta``;
    ``device="cpu"``: on the CPU whatever its size.
    """
    import torch

    if built is None and device != "meta" and has_auto(resolved):
        # "auto" params decide how the model is built: bind them on the meta device first
        problems = check_pipeline(resolved, registry, n, device="meta")
        if problems:
            return problems
    c = _Checker()
    ds_slot = resolved.slot("data.dataset")
    assert ds_slot.info is not None
    dataset = built["data.dataset"] if built is not None else instantiate(ds_slot, registry)
    split = resolved.config["data"].get("train_split", "train")
    x_all, y_all = call_component(ds_slot, f"load({split!r})", dataset.load, split)
    outs = ds_slot.info.outputs
    x = _Tensor(x_all[:n], ds_slot, outs.get("inputs"))
    y = _Tensor(y_all[:n], ds_slot, outs.get("targets"))
    c.check(ds_slot, "output", "inputs", outs.get("inputs"), x)
    c.check(ds_slot, "output", "targets", outs.get("targets"), y)

    gen = torch.Generator().manual_seed(0)
    for slot in resolved.slots_of("augmentation"):
        assert slot.info is not None
        ins, outs = slot.info.inputs, slot.info.outputs
        ok = c.check(slot, "input", "inputs", ins.get("inputs"), x)
        ok = c.check(slot, "input", "targets", ins.get("targets"), y) and ok
        if not ok:
            return c.problems
        aug = instantiate(slot, registry)
        xv, yv = call_component(slot, "a dry run", aug, x.value, y.value, generator=gen)
        x, y = _Tensor(xv, slot, outs.get("inputs")), _Tensor(yv, slot, outs.get("targets"))
        c.check(slot, "output", "inputs", outs.get("inputs"), x)
        c.check(slot, "output", "targets", outs.get("targets"), y)

    if built is None and device in ("auto", "cpu") and not c.problems:
        built = _on_cpu(resolved, registry, dataset, None if device == "cpu" else SMALL_MODEL_PARAMETERS)
    with _dry(built) as (meta, where):
        return _model_and_after(c, resolved, registry, n, built, dataset, ds_slot, x, y, y_all, meta, where)


def _adapter_proposal(head: Slot, prev: _Tensor) -> str:
    """The config lines that bridge ``prev`` (what the backbone gives) to ``head``'s features
    ``[N, F]`` with a first-party adapter (torchrack-adapters), when one can: a feature map
    ``[N, C, H, W]`` is pooled (``global_pool``), a channels-last map is moved back first."""
    shape = [int(d) for d in prev.value.shape]
    if len(shape) < 3:
        return ""
    spec = (head.info.inputs.get("features") if head.info else None) or {}
    dims = spec.get("shape", [])
    auto = " (or \"auto\")" if dims[1:] and param_of(dims[1]) else ""
    param = param_of(dims[1]) if len(dims) > 1 else None
    channels = shape[1]
    lines = ['[model.adapter]', 'name = "global_pool"']
    fix = (f"; and {head.key}.params.{param} = {channels}{auto}"
           if param and head.params.get(param) != channels else "")
    return ("\n    the backbone gives a feature map where the head expects [N, F]; a pooling "
            "adapter bridges them (pip install torchrack-adapters), add to the config:\n      "
            + "\n      ".join(lines) + fix)


def has_auto(resolved: ResolvedConfig) -> bool:
    """Whether a component of ``resolved`` still has a param given as ``"auto"`` and not bound."""
    return any(slot.auto for slot in resolved.slots)


def bind_auto(resolved: ResolvedConfig, registry: Registry) -> list[str]:
    """Bind every ``"auto"`` param of ``resolved`` with a dry run on the meta device (nothing
    allocated); their values go into the slots' params, hence into the built components, the
    resolved config and the record. Raises :class:`ContractError` when the dry run finds a
    problem (an ``"auto"`` that no upstream output decides, say). Returns what it bound."""
    if not has_auto(resolved):
        return []
    before = {s.key: list(s.auto) for s in resolved.slots if s.auto}
    problems = check_pipeline(resolved, registry, device="meta")
    left = [f"{s.key}.params.{p}" for s in resolved.slots for p in s.auto]
    if left and not problems:
        problems = [f"{', '.join(left)} = \"auto\": no input of the dry run decided it (is the "
                    "component reached by the data? give a value)"]
    if problems:
        raise ContractError(resolved.source, problems)
    return [f"{s.key}.params.{p} = {s.params[p]}" for s in resolved.slots for p in before.get(s.key, [])]


def _on_cpu(resolved: ResolvedConfig, registry: Registry, dataset: Any, limit: int | None) -> dict[str, Any] | None:
    """Backbone, head and loss built on the CPU, when the model has at most ``limit`` parameters
    (counted on the meta device; None: any size); else None."""
    import torch

    roles = [s.role for s in resolved.slots if s.role in ("model.backbone", "model.adapter", "model.head")]
    total = 0
    for role in roles if limit is not None else ():
        module = instantiate(resolved.slot(role), registry, device=torch.device("meta"))
        total += sum(p.numel() for p in module.parameters()) if isinstance(module, torch.nn.Module) else 0
        if limit is not None and total > limit:
            return None
    with torch.random.fork_rng(devices=[]):  # weights drawn here leave the caller's RNG alone
        return {"data.dataset": dataset,
                **{role: instantiate(resolved.slot(role), registry) for role in (*roles, "loss")}}


@contextlib.contextmanager
def _dry(built: Mapping[str, Any] | None) -> Iterator[tuple[Any, str]]:
    """The device of the dry run and how to say it; built modules in eval mode without
    gradients, their training flags restored afterwards."""
    import torch

    if built is None:
        yield torch.device("meta"), "a dry run on the meta device"
        return
    modules = [m for m in (built.get("model.backbone"), built.get("model.adapter"),
                           built.get("model.head"), built.get("loss"))
               if isinstance(m, torch.nn.Module)]
    flags = [(m, mode) for m in modules for mode in [m.training]]
    first = next((p for m in modules for p in m.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    try:
        for m in modules:
            m.eval()
        with torch.no_grad():
            yield device, f"a dry run on {device.type}"
    finally:
        for m, mode in flags:
            m.train(mode)


def _model_and_after(c: _Checker, resolved: ResolvedConfig, registry: Registry, n: int,
                     built: Mapping[str, Any] | None, dataset: Any, ds_slot: Slot, x: _Tensor,
                     y: _Tensor, y_all: Any, meta: Any, where: str) -> list[str]:
    x = _Tensor(x.value.to(meta).float() if not x.value.is_floating_point() else x.value.to(meta),
                x.producer, x.spec)
    prev = x
    chain = [("model.backbone", "inputs", "features"), ("model.adapter", "features", "features"),
             ("model.head", "features", "logits")]
    for role, in_name, out_name in chain:
        if role == "model.adapter" and not resolved.slots_of("adapter"):
            continue
        slot = resolved.slot(role)
        assert slot.info is not None
        if not c.check(slot, "input", in_name, slot.info.inputs.get(in_name), prev):
            if role == "model.head" and not resolved.slots_of("adapter"):
                c.problems[-1] += _adapter_proposal(slot, prev)
            return c.problems
        module = built[role] if built is not None else instantiate(slot, registry, device=meta)
        out = call_component(slot, where, module, prev.value)
        prev = _Tensor(out, slot, slot.info.outputs.get(out_name))
        if not c.check(slot, "output", out_name, slot.info.outputs.get(out_name), prev):
            return c.problems

    # Soft targets [N, K] (mixup, cutmix, a dataset's own) must have the logits' K classes.
    if y.value.ndim == 2 and y.value.is_floating_point() and prev.value.ndim == 2 \
            and y.value.shape[1] != prev.value.shape[1]:
        k, head_slot = int(prev.value.shape[1]), resolved.slot("model.head")
        hint = c._suggest(head_slot, {}, 1, int(y.value.shape[1]), y, k) if y.producer else ""
        who = _name(y.producer) if y.producer else "the data"
        c.problems.append(
            f"{who} gives soft targets {format_shape(['N', int(y.value.shape[1])])} but "
            f"{_name(head_slot)} gives logits {format_shape(['N', k])}: the class counts differ{hint}"
        )
        return c.problems
    slot = resolved.slot("loss")
    assert slot.info is not None
    y_meta = _Tensor(y.value.to(meta), y.producer, y.spec)
    ok = c.check(slot, "input", "logits", slot.info.inputs.get("logits"), prev)
    ok = c.check(slot, "input", "targets", slot.info.inputs.get("targets"), y_meta) and ok
    if ok:
        loss_fn = built["loss"] if built is not None else instantiate(slot, registry, device=meta)
        loss = call_component(slot, where, loss_fn, prev.value, y_meta.value)
        c.check(slot, "output", "loss", slot.info.outputs.get("loss"), _Tensor(loss, slot, None))
    classes = getattr(dataset, "num_classes", None)
    head = resolved.slot("model.head")
    if isinstance(classes, int) and prev.value.ndim == 2 and prev.value.shape[1] != classes:
        hint = c._suggest(head, (head.info.outputs.get("logits") or {}) if head.info else {}, 1, classes, None, None)
        c.problems.append(
            f"{_name(head)} gives logits {format_shape(['N', int(prev.value.shape[1])])} but "
            f"{_name(ds_slot)} has {classes} classes{hint}"
        )
    assert ds_slot.info is not None
    for slot in resolved.slots_of("metric"):
        assert slot.info is not None
        c.check(slot, "input", "logits", slot.info.inputs.get("logits"), prev)
        # metrics see evaluation batches: hard targets straight from the dataset
        c.check(slot, "input", "targets", slot.info.inputs.get("targets"),
                _Tensor(y_all[:n], ds_slot, ds_slot.info.outputs.get("targets")))
    return c.problems
