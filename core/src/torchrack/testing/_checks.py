"""The conformance checks: one plain function per check, each returning every problem it finds.

A check takes a :class:`~torchrack.testing._subject.Subject` and returns a list of sentences, empty
when the component conforms; it raises :class:`Skip` when it does not apply (a device that is not
here, a param without a default). Checks never stop at the first problem, and a component that
raises is reported, not propagated. :func:`run_check` names the check and the component
(``dist:name``) in every message, and restores the global state (default dtype, grad mode, RNG
states) afterwards, so one bad component cannot disturb the next.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import torch

from torchrack.contracts._schemas import validate_params, validate_params_schema
from torchrack.contracts._tensorspec import InvalidTensorSpecError, resolve
from torchrack.testing import _calibrating
from torchrack.testing._inputs import to_device
from torchrack.testing._stepping import exercise, shape_problems
from torchrack.testing._subject import (
    CheckError,
    GlobalState,
    Skip,
    Subject,
    close,
    describe,
    generator_on,
    is_module,
    move_target,
    same,
)

_CONTRACT_SPECS: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    # kind: (input names, output names); None = not checked
    "dataset": ((), ("inputs", "targets")),
    "augmentation": (("inputs", "targets"), ("inputs", "targets")),
    "backbone": (("inputs",), ("features",)),
    "head": (("features",), ("logits",)),
    "adapter": (("features",), ("features",)),
    "loss": (("logits", "targets"), ("loss",)),
    "metric": (("logits", "targets"), ()),
    "accelerator": (None, None),
    "optimizer": ((), ()),
    "scheduler": ((), ()),
    "calibrator": (("logits", "targets"), ("logits",)),
}


def check_specs(s: Subject) -> list[str]:
    """The declared tensor specs name what the kind's contract says and resolve with the params."""
    problems = []
    want_in, want_out = _CONTRACT_SPECS[s.kind]
    for label, want, got in (("inputs", want_in, s.comp.inputs), ("outputs", want_out, s.comp.outputs)):
        if want is not None and tuple(got) != want:
            problems.append(
                f"declares {label} {list(got)} but a {s.kind} takes/gives {list(want)} "
                "(docs/plugin-contract.md, section 3)"
            )
        for name, spec in got.items():
            try:
                resolved = resolve(spec, s.params)
            except InvalidTensorSpecError as exc:
                if not s.missing_params():
                    problems.append(f"{label} {name!r}: {exc}")
                continue
            ndim = len(resolved.shape)
            if s.kind == "head" and label == "outputs" and ndim != 2:
                problems.append(f"outputs {name!r} must have 2 dims [N, F], declares {list(resolved.shape)}")
            if s.kind == "backbone" and label == "outputs" and ndim < 2:
                problems.append(f"outputs {name!r} must have at least 2 dims ([N, F] features, or a "
                                f"feature map [N, C, ...]), declares {list(resolved.shape)}")
            if s.kind == "loss" and label == "outputs" and ndim != 0:
                problems.append(f"outputs {name!r} of a loss must be a scalar (shape []), declares {list(resolved.shape)}")
    return problems


def check_params_schema(s: Subject) -> list[str]:
    """The params schema is a valid Draft 2020-12 schema, and each default satisfies it."""
    schema = s.comp.params_schema
    problems = [f"params schema is invalid at {p}" for p in validate_params_schema(schema)]
    if problems:
        return problems
    import jsonschema

    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict):
            continue
        if "default" not in prop:
            if name not in required:
                problems.append(
                    f"param {name!r} has no default and is not required; give it a \"default\" "
                    "(what the constructor uses) or list it in \"required\""
                )
            continue
        for err in jsonschema.Draft202012Validator(prop).iter_errors(prop["default"]):
            problems.append(f"the default of param {name!r} ({prop['default']!r}) is invalid: {err.message}")
    if not problems and not s.missing_params():
        problems += [f"the params {s.params!r} are invalid at {p}" for p in validate_params(schema, s.params)]
    return problems


def _kind_shape(s: Subject, obj: Any) -> list[str]:
    problems = []
    if s.kind in ("backbone", "adapter", "head", "loss") and not is_module(obj):
        problems.append(f"a {s.kind} must be a torch.nn.Module, found {type(obj).__name__}")
    if s.kind == "backbone" and not isinstance(getattr(obj, "out_features", None), int):
        problems.append("a backbone needs an integer `out_features` attribute (F)")
    if s.kind == "dataset":
        splits = getattr(obj, "splits", None)
        if not isinstance(splits, (tuple, list)) or not splits or not all(isinstance(x, str) for x in splits):
            problems.append(f"a dataset needs `splits`, a non-empty tuple of names, found {splits!r}")
        n = getattr(obj, "num_classes", None)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            problems.append(f"a dataset needs an integer `num_classes` >= 1, found {n!r}")
        if not callable(getattr(obj, "load", None)):
            problems.append("a dataset needs a `load(split)` method")
    if s.kind == "augmentation" and not callable(obj):
        problems.append("an augmentation must be callable: aug(inputs, targets, generator=None)")
    if s.kind == "accelerator":
        from torchrack.accelerator import Accelerator

        if not isinstance(obj, Accelerator):
            missing = [m for m in ("device", "rank", "world_size", "is_main", "is_available", "describe",
                                   "setup", "teardown", "prepare_model", "prepare_batch", "autocast",
                                   "backward_step", "shard", "reduce_sum", "barrier")
                       if not hasattr(obj, m)]
            problems.append(f"an accelerator needs {', '.join(missing)} (torchrack.accelerator.Accelerator)")
    if s.kind == "metric":
        for method in ("reset", "update", "state", "load_state", "compute"):
            if not callable(getattr(obj, method, None)):
                problems.append(f"a metric needs a `{method}` method")
    if s.kind in ("optimizer", "scheduler"):
        problems += shape_problems(s, obj)
    if s.kind == "calibrator":
        problems += _calibrating.shape_problems(obj)
    return problems


def check_instantiate(s: Subject) -> list[str]:
    """Constructs with the default params and has what its kind's contract asks for."""
    return _kind_shape(s, s.build())


def _outputs_on(s: Subject, device: str) -> list[str]:
    if s.kind == "dataset":
        ds = s.build()
        problems = _kind_shape(s, ds)
        if problems:
            return problems
        for split in ds.splits:
            tensors = s.load(ds, split)
            problems += [f"load({split!r}): {p}" for p in s.check_outputs(tensors, {})]
            if len(tensors) == 2 and not problems:
                t = tensors[1]
                if t.numel() and not t.is_floating_point() and (int(t.min()) < 0 or int(t.max()) >= ds.num_classes):
                    problems.append(
                        f"load({split!r}): targets must lie in [0, num_classes={ds.num_classes}), "
                        f"found [{int(t.min())}, {int(t.max())}]"
                    )
        return problems
    obj = s.build(device)
    if is_module(obj):
        obj.eval()
    inputs = to_device(s.inputs(), device)
    outputs = s.call(obj, inputs, generator_on(device, 0))
    if s.kind == "metric":
        if device == "meta":
            return _metric_state_problems(s, obj, device)
        return _metric_result_problems(s.compute(obj))
    problems = s.check_outputs(outputs, inputs)
    for i, out in enumerate(outputs):
        if isinstance(out, torch.Tensor) and out.device.type != torch.device(device).type:
            problems.append(f"output {i} is on {out.device}, expected {device} like the inputs")
    if s.kind == "backbone" and not problems and outputs:
        f = getattr(obj, "out_features", None)
        width = outputs[0].shape[1] if outputs[0].ndim > 1 else outputs[0].shape[-1]
        if f != width:
            problems.append(f"out_features is {f!r} but the features have {width} columns (dim 1)")
    return problems


def _metric_result_problems(result: Any) -> list[str]:
    if not isinstance(result, Mapping) or not result:
        return [f"compute() must return a non-empty dict of report name -> float or list, found {result!r}"]
    problems = []
    for key, value in result.items():
        if not isinstance(key, str):
            problems.append(f"compute() key {key!r} is not a string")
        if not isinstance(value, (float, int, list)) or isinstance(value, bool):
            problems.append(f"compute()[{key!r}] must be a float or a list, found {type(value).__name__}")
    return problems


def _metric_state_problems(s: Subject, metric: Any, device: str) -> list[str]:
    try:
        state = metric.state()
    except Exception as exc:  # noqa: BLE001
        return [f"state() raised {describe(exc)}"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return [f"state() must return a dict of tensors, found {type(state).__name__}"]
    return []


def check_outputs_cpu(s: Subject) -> list[str]:
    """Outputs match the declared tensor specs on the CPU."""
    return _outputs_on(s, "cpu")


def check_outputs_meta(s: Subject) -> list[str]:
    """Outputs match the declared tensor specs on the meta device (the dry run of validate)."""
    if "meta" not in s.comp.devices:
        raise Skip(f"{s.who} does not declare the meta device (devices: {s.comp.devices})")
    return _outputs_on(s, "meta")


def check_deterministic(s: Subject) -> list[str]:
    """Two runs under the same seed give identical results."""
    if s.kind == "dataset":
        a, b = s.build(), s.build()
        problems = []
        for split in getattr(a, "splits", ()):
            ta, tb = s.load(a, split), s.load(b, split)
            if len(ta) != len(tb) or not all(same(x, y) for x, y in zip(ta, tb, strict=False)):
                problems.append(f"two instances with the same params load different {split!r} splits")
        return problems
    if s.kind == "calibrator":
        return _calibrating.check_deterministic(s)
    inputs = s.inputs()
    if s.kind == "augmentation":
        aug = s.build()
        first = s.call(aug, inputs, torch.Generator().manual_seed(1234))
        second = s.call(aug, inputs, torch.Generator().manual_seed(1234))
        third = s.call(s.build(), inputs, torch.Generator().manual_seed(1234))
        if not all(same(x, y) for x, y in zip(first, second, strict=False)):
            return [
                "two calls with generators seeded alike give different outputs; draw every "
                "random number from the `generator` argument, never from the global RNG"
            ]
        if not all(same(x, y) for x, y in zip(first, third, strict=False)):
            return ["two instances given generators seeded alike give different outputs"]
        return []
    if s.kind == "metric":
        results = []
        for _ in range(2):
            m = s.build()
            s.call(m, inputs)
            results.append(s.compute(m))
        return [] if close(results[0], results[1], 0, 0) else [
            f"two metrics fed the same batch compute different results: {results[0]!r} and {results[1]!r}"
        ]
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        obj = s.build()
        if is_module(obj):
            obj.eval()
        outs.append(s.call(obj, inputs))
    if not all(same(x, y) for x, y in zip(outs[0], outs[1], strict=False)):
        return ["two instances built after torch.manual_seed(0) give different outputs for the same inputs"]
    return []


def check_no_inplace(s: Subject) -> list[str]:
    """The inputs are unchanged after a call."""
    obj = s.build()
    inputs = s.inputs()
    before = {k: v.clone() for k, v in inputs.items()}
    s.call(obj, inputs, torch.Generator().manual_seed(0))
    return [
        f"changed its input {k!r} in place; work on a copy (x = x.clone()) or use out-of-place ops"
        for k in inputs if not same(inputs[k], before[k])
    ]


def check_device_move(s: Subject) -> list[str]:
    """Runs on another device (cuda when available, else meta) with everything on that device."""
    target = move_target(s)
    dev = torch.device(target)
    obj = s.build()
    problems = []
    if is_module(obj):
        try:
            obj = obj.to(dev)
        except Exception as exc:  # noqa: BLE001
            return [f".to({target!r}) raised {describe(exc)}"]
        obj.eval()
        for name, t in list(obj.named_parameters()) + list(obj.named_buffers()):
            if t.device.type != dev.type:
                problems.append(f"after .to({target!r}), {name} is still on {t.device}")
    inputs = to_device(s.inputs(), dev)
    outputs = s.call(obj, inputs, generator_on(dev, 0))
    for i, out in enumerate(outputs):
        if isinstance(out, torch.Tensor) and out.device.type != dev.type:
            problems.append(f"given inputs on {target}, output {i} is on {out.device}")
    if s.kind == "metric" and target != "meta":
        cpu = s.build()
        s.call(cpu, s.inputs())
        here, there = s.compute(cpu), s.compute(obj)
        if not close(here, there, 1e-4, 1e-6):
            problems.append(f"computes {there!r} on {target} but {here!r} on cpu")
    return problems


def check_gradients(s: Subject) -> list[str]:
    """A backward pass gives finite gradients to the floating inputs and every trainable parameter."""
    obj = s.build()
    obj.train()
    inputs = s.inputs()
    first = next(iter(inputs))
    x = inputs[first].requires_grad_(True)
    outputs = s.call(obj, inputs)
    out = outputs[0]
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        return ["its output does not require grad (is the forward pass detached or under no_grad?)"]
    weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(0)).to(out.dtype)
    try:
        (out * weights).sum().backward()  # type: ignore[no-untyped-call]
    except Exception as exc:  # noqa: BLE001
        return [f"backward() raised {describe(exc)}"]
    problems = []
    if x.grad is None:
        problems.append(f"input {first!r} gets no gradient")
    elif not bool(torch.isfinite(x.grad).all()):
        problems.append(f"input {first!r} gets a non-finite gradient")
    elif not bool((x.grad != 0).any()):
        problems.append(f"input {first!r} gets an all-zero gradient")
    for name, p in obj.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            problems.append(f"parameter {name!r} gets no gradient (unused in forward?)")
        elif not bool(torch.isfinite(p.grad).all()):
            problems.append(f"parameter {name!r} gets a non-finite gradient")
    return problems


def check_finite_scalar(s: Subject) -> list[str]:
    """A loss returns a finite floating scalar, for hard and (when declared) soft targets."""
    loss_fn = s.build()
    problems = []
    variants = [("hard", s.inputs())]
    soft = s.inputs(soft_targets=True)
    if soft["targets"].is_floating_point() if "targets" in soft else False:
        variants.append(("soft", soft))
    for label, inputs in variants:
        out = s.call(loss_fn, inputs)[0]
        if not isinstance(out, torch.Tensor):
            problems.append(f"with {label} targets returns {type(out).__name__}, expected a tensor")
        elif out.dim() != 0:
            problems.append(
                f"with {label} targets returns shape {list(out.shape)}, expected a scalar (shape []); "
                "reduce with .mean() or .sum()"
            )
        elif not out.is_floating_point():
            problems.append(f"with {label} targets returns dtype {out.dtype}, expected floating")
        elif not bool(torch.isfinite(out)):
            problems.append(f"with {label} targets returns {float(out)}, expected a finite value")
    return problems


def check_batching(s: Subject) -> list[str]:
    """A metric gives the same result fed one batch or the same samples in several batches."""
    inputs = s.inputs(n=12)
    whole = s.build()
    s.call(whole, inputs)
    expected = s.compute(whole)
    parts = s.build()
    for lo, hi in ((0, 5), (5, 9), (9, 12)):
        s.call(parts, {k: v[lo:hi] for k, v in inputs.items()})
    got = s.compute(parts)
    problems = []
    if not close(expected, got):
        problems.append(f"one batch of 12 gives {expected!r} but batches of 5, 4, 3 give {got!r}")
    again = s.build()
    s.call(again, {k: v[:3] for k, v in inputs.items()})
    try:
        again.reset()
    except Exception as exc:  # noqa: BLE001
        return problems + [f"reset() raised {describe(exc)}"]
    s.call(again, inputs)
    if not close(expected, s.compute(again)):
        problems.append("after reset() the metric still counts what it saw before")
    return problems


def check_state_sum(s: Subject) -> list[str]:
    """Summing the states of metrics fed parts of the data gives the result of one fed all of it."""
    inputs = s.inputs(n=12)
    whole = s.build()
    s.call(whole, inputs)
    expected = s.compute(whole)
    a, b = s.build(), s.build()
    s.call(a, {k: v[:7] for k, v in inputs.items()})
    s.call(b, {k: v[7:] for k, v in inputs.items()})
    try:
        sa, sb = a.state(), b.state()
        total = {k: sa[k] + sb[k] for k in sa}
        merged = s.build()
        merged.load_state(total)
    except Exception as exc:  # noqa: BLE001
        return [f"state()/load_state() raised {describe(exc)}"]
    got = s.compute(merged)
    if not close(expected, got):
        return [f"summed states of two halves compute {got!r}, but all the data gives {expected!r}"]
    return []


def check_availability(s: Subject) -> list[str]:
    """An accelerator reports whether it is available, as a bool, without raising."""
    obj = s.build()
    probe = getattr(obj, "is_available", None)
    if probe is None:
        return ["an accelerator needs an `is_available()` method"]
    try:
        value = probe() if callable(probe) else probe
    except Exception as exc:  # noqa: BLE001
        return [f"is_available() raised {describe(exc)}"]
    if not isinstance(value, bool):
        return [f"is_available() returned {value!r}, expected True or False"]
    if not value:
        return []  # describe() may need the hardware
    try:
        json.dumps(obj.describe())
    except Exception as exc:  # noqa: BLE001
        return [f"describe() must return a JSON-able dict, but {describe(exc)}"]
    return []


def check_global_state(s: Subject) -> list[str]:
    """Importing, building and calling leave the default dtype, grad mode and global RNGs alone.

    Building a module may draw from the global RNG (parameter initialisation follows
    ``torch.manual_seed``); every call must not, and nothing may change the default dtype or
    grad mode.
    """
    problems: list[str] = []
    before = GlobalState.capture()
    s.require_params()
    s.factory()
    problems += [f"importing it {p}" for p in before.changes(GlobalState.capture())]
    before = GlobalState.capture()
    obj = s.build()
    rng_ok = s.kind in ("backbone", "adapter", "head", "loss") and is_module(obj)
    problems += [f"constructing it {p}" for p in before.changes(GlobalState.capture(), rng=not rng_ok)]
    if is_module(obj):
        obj.eval()
    before = GlobalState.capture()
    try:
        if s.kind == "dataset":
            for split in getattr(obj, "splits", ()):
                s.load(obj, split)
        elif s.kind == "accelerator":
            probe = getattr(obj, "is_available", None)
            if callable(probe):
                with contextlib.suppress(Exception):
                    probe()
        elif s.kind in ("optimizer", "scheduler"):
            exercise(s, obj)
        elif s.kind == "calibrator":
            _calibrating.exercise(s, obj)
        else:
            s.call(obj, s.inputs(), torch.Generator().manual_seed(0))
            if s.kind == "metric":
                s.compute(obj)
    except CheckError as exc:
        if not problems:
            raise
        problems.append(str(exc))
    what = {"dataset": "loading it", "accelerator": "asking it", "optimizer": "stepping it",
            "scheduler": "stepping it", "calibrator": "fitting and calling it"}.get(s.kind, "calling it")
    problems += [f"{what} {p}" for p in before.changes(GlobalState.capture())]
    return problems
