"""Orchestration of a run, in one place: what ``validate``, ``run``, ``lock`` and ``eval`` do.

>>> runner = Runner("examples/digits.toml", ["run.epochs=2"])
>>> runner.contract_problems()          # [] when the components fit together
>>> run = runner.run()                  # trains, evaluates, records; returns the finished Run

A :class:`Runner` reads the trust settings, discovers and vets the plugins (strict mode refuses any
unusable one), reads and resolves the config, and then, on demand: checks the lock and the tensor
contracts, picks the accelerator, applies the rank policy (only the main process opens the store
for writing and runs the trackers), loads the record to resume, registers the trackers and fits.
The CLI modules only parse arguments and print.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchrack import TorchrackError
from torchrack.accelerator import Accelerator
from torchrack.hookspecs import hookimpl
from torchrack.plugins import Registry, Settings, load_settings

from torchrack_runs._config import ResolvedConfig, load_and_resolve

if TYPE_CHECKING:
    import pluggy

    from torchrack_runs._build import Pipeline
    from torchrack_runs._calibrate import CalibrationSettings
    from torchrack_runs._measure import MeasureSettings
    from torchrack_runs._store import RunStore
    from torchrack_runs._trainer import Run


class Runner:
    """One config, resolved against the installed plugins (nothing imported until needed)."""

    def __init__(
        self,
        config: str | os.PathLike[str],
        overrides: Sequence[str] = (),
        *,
        store: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.config_path = os.fspath(config)
        self.overrides = list(overrides)
        self.store_path = Path(store).expanduser() if store is not None else None
        self.settings = settings if settings is not None else load_settings()
        if registry is None:
            registry = Registry.discover(self.settings)
            if self.settings.strict:
                registry.require_usable()
        self.registry = registry
        self.resolved: ResolvedConfig = load_and_resolve(self.config_path, registry, self.overrides)
        from torchrack_runs._pretrained import resolve_pretrained

        resolve_pretrained(self.resolved, self.default_store_path())  # backbone params.run = ID
        # Captured now, before any plugin is imported: the store seals these values in everything
        # it writes, whatever a plugin later does to the redaction code (docs/trust.md).
        from torchrack_runs import _store  # noqa: F401 - bind the store's code before plugins run
        from torchrack_runs._build import sensitive_paths
        from torchrack_runs._redact import redact, secret_values

        sensitive = sensitive_paths(self.resolved)
        self.secrets: frozenset[str] = frozenset(secret_values(self.resolved.config, paths=sensitive))
        #: The config with its secrets redacted, as checkpoints store it.
        self.safe_config: dict[str, Any] = redact(self.resolved.config, paths=sensitive)

    # -- checks before any compute ---------------------------------------------------------------

    def roles(self) -> str:
        """``role=dist:name`` of every resolved component, for messages."""
        return ", ".join(f"{s.role}={s.info.qualname}" for s in self.resolved.slots if s.info)

    def lock(self) -> dict[str, Any]:
        """The lock of this config: its hash, components with versions and file hashes, torch."""
        from torchrack_runs._build import component_records
        from torchrack_runs._lock import make_lock

        return make_lock(self.resolved.sha256, component_records(self.resolved, self.registry),
                         self.registry.torch_version)

    def check_lock(self, path: str | os.PathLike[str]) -> None:
        """Raise :class:`LockMismatchError` listing each difference from the lock at ``path``."""
        from torchrack_runs._lock import LockMismatchError, compare_lock, read_lock

        diffs = compare_lock(read_lock(path), self.lock())
        if diffs:
            raise LockMismatchError(os.fspath(path), diffs)

    def contract_problems(self, pipeline: Pipeline | None = None, *, device: str = "meta") -> list[str]:
        """The dry run plus every plugin's ``torchrack_validate_pipeline`` hook: on the meta
        device, or, given the built ``pipeline`` a run is about to train, on its objects."""
        from torchrack_runs._pipeline import check_pipeline

        built = None
        if pipeline is not None:
            built = {"data.dataset": pipeline.dataset, "model.backbone": pipeline.model.backbone,
                     "model.head": pipeline.model.head, "loss": pipeline.loss}
            if getattr(pipeline.model, "adapter", None) is not None:
                built["model.adapter"] = pipeline.model.adapter
        problems = check_pipeline(self.resolved, self.registry, built=built, device=device)
        pm = self.plugin_manager(None)
        components = {s.role: s.info for s in self.resolved.slots}
        for extra in pm.hook.torchrack_validate_pipeline(config=self.resolved.config, components=components):
            problems.extend(extra or [])
        return problems

    def check(self, locked: str | os.PathLike[str] | None = None, *, pipeline: Pipeline | None = None,
              device: str = "meta") -> None:
        """The lock (when given) and the tensor contracts; raise on the first that fails.
        ``device``: where the dry run runs without ``pipeline`` ("meta", or "auto": see
        :func:`check_pipeline`)."""
        if locked is not None:
            self.check_lock(locked)
        from torchrack_runs._pipeline import ContractError

        problems = self.contract_problems(pipeline, device=device)
        if problems:
            raise ContractError(self.config_path, problems)

    # -- what a run needs ------------------------------------------------------------------------

    def accelerator(self) -> Accelerator:
        """The config's accelerator (checked to be available), or the built-in CPU one."""
        from torchrack_runs._build import build_accelerator

        return build_accelerator(self.resolved, self.registry)

    def default_store_path(self) -> Path:
        from torchrack_runs._store import RunStore

        return self.store_path if self.store_path is not None else RunStore.default_path()

    def open_store(self, *, create: bool = True, read_only: bool | None = False) -> RunStore:
        """The run store, with this config's secrets sealed in everything it writes."""
        from torchrack_runs._store import RunStore

        store = RunStore(self.default_store_path(), create=create, read_only=read_only)
        store.seal(self.secrets)
        return store

    def plugin_manager(self, store: RunStore | None, *, trackers: bool = True) -> pluggy.PluginManager:
        """Hooks of this run: the store tracker (when ``store``) and the config's trackers.

        Each tracker is built from its entry point (a factory called with its params, or a
        hooks module as it is) and registered guarded: whatever it raises in a hook becomes a
        warning in the run's record, naming the tracker and the hook, and the run goes on.
        """
        from torchrack.hookspecs import plugin_manager

        pm = plugin_manager()
        if store is not None:
            from torchrack_runs._tracker import StoreTracker

            pm.register(StoreTracker(store), name="torchrack-store")
        if trackers and self.resolved.trackers:
            warnings = _TrackerWarnings(store, self.secrets)
            params = self.resolved.tracker_params or [{}] * len(self.resolved.trackers)
            for i, (ref, given) in enumerate(zip(self.resolved.trackers, params, strict=True)):
                try:
                    qualname, obj = self.registry.load_hook(ref)
                except TorchrackError as exc:
                    raise TorchrackError(f"/trackers/{i}/name: {exc}") from exc
                tracker = _build_tracker(obj, qualname, given, f"{self.config_path}: /trackers/{i}/params")
                name = qualname if pm.get_plugin(qualname) is None else f"{qualname}#{i}"
                pm.register(_guarded(pm, tracker, name, warnings), name=name)
            # Registered last, so called first: it sees the run before any tracker does.
            pm.register(warnings, name="torchrack-tracker-warnings")
        return pm

    def resume_record(self, store: RunStore, ref: str) -> dict[str, Any]:
        """The record of run ``ref`` to resume, checked to come from this same config."""
        resume: dict[str, Any] = store.get(ref)
        if resume["config_sha256"] != self.resolved.sha256:
            raise TorchrackError(
                f"run {resume['run_id']} was made from a different config "
                f"(sha256 {resume['config_sha256'][:12]}..., this one {self.resolved.sha256[:12]}...); "
                "resume it with the same config and overrides"
            )
        if resume["status"] == "completed":
            raise TorchrackError(f"run {resume['run_id']} is already completed; nothing to resume")
        return resume

    # -- running ---------------------------------------------------------------------------------

    def run(
        self,
        *,
        resume: str | None = None,
        locked: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        checked: bool = False,
        launch_file: str | None = None,
        log: Callable[[str], None] | None = None,
    ) -> tuple[Run, RunStore | None]:
        """Check (unless ``checked``: a launcher did), then train and evaluate in this process.

        Returns the finished run and the store it was recorded in (None on ranks other than the
        main one, which record nothing). ``launch_file`` is the file the launcher reads the run
        id from (set by ``torchrack run --nproc``).
        """
        from torchrack_runs._build import build
        from torchrack_runs._trainer import fit

        acc = self.accelerator()
        pipeline = None
        if not checked:
            if locked is not None:
                self.check_lock(locked)
            # Build once: the dry run checks the very objects that will train (no meta-device
            # start-up, no second construction); it changes none of them.
            pipeline = build(self.resolved, self.registry, int(self.resolved.config["run"].get("seed", 0)), acc)
            self.check(pipeline=pipeline)
        rank = int(acc.rank)
        try:
            main = bool(acc.is_main)
            store = self.open_store() if main else None
            record = None
            if resume:
                if store is not None:
                    record = self.resume_record(store, resume)
                else:  # another rank: read the record, write nothing
                    with self.open_store(create=False, read_only=True) as reader:
                        record = self.resume_record(reader, resume)
            pm = self.plugin_manager(store, trackers=main)
            if main and launch_file and store is not None:
                from torchrack_runs._launch import LaunchReporter

                pm.register(LaunchReporter(launch_file, str(Path(store.path).resolve())),
                            name="torchrack-launch")
            result = fit(self.resolved, self.registry, pm, store=store, resume=record,
                         progress=progress, accelerator=acc, log=log, safe_config=self.safe_config,
                         pipeline=pipeline)
            if main and store is not None:  # [evaluate] measure: after the final evaluation
                from torchrack_runs._measure import measure_after_run

                measure_after_run(self.resolved, self.registry, result, store, acc, pipeline, log=log)
        except TorchrackError as exc:
            if rank == 0:
                raise
            raise TorchrackError(f"rank {rank}: {exc}") from exc
        return result, store


def evaluate_recorded(
    store: RunStore,
    ref: str,
    *,
    metrics: Sequence[str] | None = None,
    split: str | None = None,
    registry: Registry | None = None,
    checkpoint: str = "last",
    measure: MeasureSettings | None = None,
    calibrate: CalibrationSettings | None = None,
) -> tuple[dict[str, Any], dict[str, Any], str, int]:
    """Evaluate run ``ref``'s checkpoint again; add the result to its record.

    ``checkpoint`` is ``last`` (the latest epoch's), ``best`` (kept by ``[train.checkpoints]``)
    or a 1-based epoch number of a kept checkpoint. A run trained with ``[train] ema`` is
    evaluated with its EMA weights, as during training. Returns ``(record, metrics, split,
    checkpoint epoch)``, the epoch 0-based. ``measure`` and ``calibrate``: also measure the
    model's costs and fit calibrators (docs/evaluation.md), recorded in the run's
    ``measurements`` and ``calibration``.
    """
    import torch
    from torchrack.contracts import params_with_defaults

    from torchrack_runs._build import build
    from torchrack_runs._checkpoint import checkpoint_for, load_checkpoint
    from torchrack_runs._config import Slot, resolve_config
    from torchrack_runs._pipeline import instantiate
    from torchrack_runs._trainer import evaluate

    record = store.get(ref)
    ckpt_path, _ = checkpoint_for(record, checkpoint)
    if not Path(ckpt_path).is_file():
        raise TorchrackError(f"run {record['run_id']} has no checkpoint at {ckpt_path} (the file "
                             "is gone: was the run folder moved or deleted?)")
    registry = registry if registry is not None else Registry.discover()
    resolved = resolve_config(record["config"], registry, f"run {record['run_id']}")
    metric_slots = None
    if metrics:
        metric_slots = []
        for i, name in enumerate(metrics):
            slot = Slot(f"--metrics[{i}]", f"/--metrics/{i}", "metric", {"name": name})
            slot.info = registry.resolve("metric", name)
            slot.params = params_with_defaults(slot.info.params_schema, {})
            metric_slots.append((slot, instantiate(slot, registry)))
    pipe = build(resolved, registry, int(record["seed"]))
    ckpt = load_checkpoint(ckpt_path)
    with torch.no_grad():
        pipe.model.load_state_dict(ckpt["model"])
        ema = (ckpt.get("strategies") or {}).get("ema")
        if ema:  # evaluated with the EMA weights, as the run's own evaluations were
            from torchrack_runs._strategies import EMA

            live = EMA(pipe.model, float(ema["decay"]))
            live.load_state_dict(ema)
            torch._foreach_copy_(live._live, live.shadow)
    split = split or resolved.config["data"].get("eval_split", "test")
    x, y = pipe.dataset.load(split)
    data = resolved.config["data"]
    batch = int(data.get("eval_batch_size", data.get("batch_size", 64) * 4))
    beyond: dict[str, Any] = {}
    pipe.accelerator.setup()
    try:
        result = evaluate(pipe, resolved, registry, x, y, batch, metric_slots=metric_slots)
        if measure is not None:
            from torchrack_runs._measure import measure_pipeline

            beyond["measurements"] = measure_pipeline(pipe, x, measure, source="eval", split=split,
                                                      epoch=int(ckpt["epoch"]) + 1)
        if calibrate is not None:
            from torchrack_runs._calibrate import calibrate_pipeline

            beyond["calibration"] = calibrate_pipeline(pipe, resolved, registry, x, y, calibrate,
                                                       split=split, seed=int(record["seed"]),
                                                       batch_size=batch, epoch=int(ckpt["epoch"]) + 1)
    finally:
        pipe.accelerator.teardown()
    store.add_evaluation(record["run_id"], split, result, ckpt_path, "eval")
    if beyond:
        store.update_fields(record["run_id"], beyond)
    return record, result, split, int(ckpt["epoch"])


# -- trackers: built from their entry points, guarded ---------------------------------------------


def _build_tracker(obj: Any, qualname: str, params: dict[str, Any], where: str) -> Any:
    """The plugin object of tracker ``qualname``: a class or function entry point is a factory,
    called with the config's params as keyword arguments; a module (or any other object) is
    registered as it is and takes no params. A factory that refuses its params (``TypeError``,
    ``ValueError``) is a config error at ``where`` (``exp.toml: /trackers/0/params``)."""
    import inspect

    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        if params:
            raise TorchrackError(
                f"{where}: tracker {qualname} is a hooks module and takes no params (given: "
                f"{', '.join(sorted(params))}); remove the params, or name it as a plain string"
            )
        return obj
    try:
        return obj(**params)
    except (TypeError, ValueError) as exc:
        hint = ""
        try:
            takes = [n for n, p in inspect.signature(obj).parameters.items()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            hint = f" (its params: {', '.join(takes) or 'none'})" if isinstance(exc, TypeError) else ""
        except (TypeError, ValueError):
            pass
        raise TorchrackError(f"{where}: tracker {qualname} refused its params: {exc}{hint}") from None
    except TorchrackError as exc:
        raise TorchrackError(f"{where}: tracker {qualname}: {exc}") from None


class _TrackerWarnings:
    """Where the guarded trackers' failures go: stderr at once, and the run's record (its
    ``warnings``: one per tracker and hook, with a ``count`` of how often it failed there).

    It is a hooks plugin of its own, registered after the trackers so that its ``run_start``
    comes first: it keeps the run, whose ``id`` the store tracker sets.
    """

    def __init__(self, store: RunStore | None, secrets: frozenset[str]) -> None:
        self.store = store
        self.secrets = secrets
        self.run: Any = None
        self.counts: dict[tuple[str, str], int] = {}
        self.pending: list[tuple[str, str, str]] = []

    def _scrub(self, text: str) -> str:
        from torchrack_runs._redact import scrub

        return scrub(text, self.secrets)

    def failed(self, tracker: str, hook: str, exc: Exception) -> None:
        """``tracker`` raised ``exc`` in ``hook``: say so once, count every time."""
        key = (tracker, hook)
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] > 1:
            return
        message = self._scrub(f"tracker {tracker} failed in {hook}: {type(exc).__name__}: {exc}; "
                              "the run went on without it")
        import sys

        print(f"torchrack: warning: {message}", file=sys.stderr)
        self.pending.append((tracker, hook, message))
        self.flush()

    def flush(self) -> None:
        """Write the warnings not yet in the record (once the run has an id)."""
        run_id = getattr(self.run, "id", None)
        if self.store is None or run_id is None:
            return
        while self.pending:
            tracker, hook, message = self.pending[0]
            try:
                self.store.add_warning(run_id, message, source=tracker, hook=hook)
            except TorchrackError as exc:  # the store's own trouble: say it, lose the warning only
                import sys

                print(f"torchrack: warning: could not record a tracker warning: {exc}", file=sys.stderr)
            self.pending.pop(0)

    def write_counts(self) -> None:
        """Set ``count`` on the warnings of hooks that failed more than once."""
        run_id = getattr(self.run, "id", None)
        repeated = {k: n for k, n in self.counts.items() if n > 1}
        if self.store is None or run_id is None or not repeated:
            return
        try:
            warnings = list(self.store.get(run_id).get("warnings") or [])
            for w in warnings:
                n = repeated.get((str(w.get("source")), str(w.get("hook"))))
                if n is not None:
                    w["count"] = n
            self.store.update_fields(run_id, {"warnings": warnings})
        except TorchrackError as exc:
            import sys

            print(f"torchrack: warning: could not record how often trackers failed: {exc}",
                  file=sys.stderr)

    @hookimpl(tryfirst=True)
    def torchrack_run_start(self, run: Any) -> None:
        """Keep the run (its id is set by the store tracker, before any tracker needs it)."""
        self.run = run
        self.counts.clear()

    @hookimpl(trylast=True)
    def torchrack_run_end(self, run: Any) -> None:
        """After the trackers' own ``run_end``: how often each failed, into the record."""
        self.flush()
        self.write_counts()


def _guarded(pm: pluggy.PluginManager, tracker: Any, name: str, warnings: _TrackerWarnings) -> Any:
    """An object with the hook implementations of ``tracker``, each calling the tracker's and
    turning any ``Exception`` it raises into a warning (``KeyboardInterrupt`` still stops the
    run). The implementations keep their names, arguments and options (tryfirst...); hook
    wrappers (generators) are registered unguarded."""
    import functools

    guard = _Guard(name)
    for attr in dir(tracker):
        opts = pm.parse_hookimpl_opts(tracker, attr)
        if opts is None:
            continue
        impl = getattr(tracker, attr)
        if opts.get("hookwrapper") or opts.get("wrapper"):
            setattr(guard, attr, impl)
            continue
        hook = opts.get("specname") or attr

        def call(*args: Any, _impl: Any = impl, _hook: str = hook) -> Any:
            try:
                return _impl(*args)
            except Exception as exc:  # noqa: BLE001 - a tracker never fails the run
                warnings.failed(name, _hook, exc)
                return None

        setattr(guard, attr, functools.wraps(impl)(call))
    return guard


class _Guard:
    """The guarded hook implementations of one tracker (set as attributes by :func:`_guarded`)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<guarded tracker {self.name}>"
