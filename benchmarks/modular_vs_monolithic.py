"""Modular vs monolithic: one training workload built two ways, timed alternately in one process.

The workload (CIFAR-shaped): synthetic 3x32x32 uint8 images, 10 classes; random crop 32 after
zero padding 4, horizontal flip (p = 0.5), per-channel normalize; a CIFAR ResNet (depth 6n+2,
batch norm) and a linear head; cross-entropy with label smoothing 0.1; SGD with nesterov momentum
0.9 and weight decay 5e-4.

- ``monolithic``: all of it hand-written in this file: the ResNet, the batched augmentation, the
  loss and the loop, in plain PyTorch, the way one writes a fast single-file training script.
- ``modular``: the same thing as a torchrack config (``synthetic_images``, ``random_crop``,
  ``hflip``, ``normalize``, ``resnet``, ``linear``, ``cross_entropy``, ``sgd`` and the ``cpu`` or
  ``cuda`` accelerator), built by the trainer's own functions (``build_accelerator``, ``build``,
  ``build_optimizer``, ``place_data``, ``prepare_model``) and trained by ``train_epoch``, the hot
  loop that ``fit`` runs. Only the store, the hooks and the per-epoch evaluation are left out.

After a warm-up (which includes torch.compile's compilation and CUDA-graph capture), the two are
timed alternately, round by round (the order alternates), each round ``--steps`` optimizer steps;
device work is synchronized before each clock read. Prints one JSON line per configuration: the
median images/s of each, the median of the per-round ratios modular/monolithic (paired rounds
cancel slow drifts in machine load), and the target.

Whole-step variants (``*-step``): both sides compile the whole training step (augmentation,
forward, loss, gradients, SGD update) as one ``torch.compile(fullgraph=True)`` graph: the config
with the accelerator's ``compile_scope = "step"`` (torchrack-runs' ``WholeStep``), the hand-written
loop with the same technique written out here (``torch.autograd.grad`` traced, torch's functional
SGD); on CUDA with ``reduce-overhead``, one CUDA graph per step.

Workloads (``--net``): ``resnet`` (the CIFAR ResNet above) or ``cnn``, the heavier plain net
conv-bn-relu 64, 128, pool, 128, 256, pool, 256, global pool, linear (``small_cnn`` with
``widths = [64, 128, 128, 256, 256]``, ``pool_after = [1, 3]``, and ``linear``). ``--batch`` takes
a comma-separated list (``--batch 512,1024``): one line per batch and variant.

Modes:
- ``cpu``: fp32, batch 128 (target: modular / monolithic >= 0.97); ``--variants fp32-step`` for
  the whole step (inductor's CPU code; the first round compiles);
- ``cuda``: batch 512, ``fp32-eager`` and ``tuned`` (bf16 autocast, channels_last,
  torch.compile mode "reduce-overhead", i.e. CUDA graphs), the tuned line also giving its speedup
  over the fp32-eager monolithic loop (target >= 3).

    python benchmarks/modular_vs_monolithic.py cpu [--rounds 20] [--steps 3] [--depth 8] [--threads N]
    python benchmarks/modular_vs_monolithic.py cpu --variants fp32-step --net cnn --batch 16 --rounds 2 --steps 2
    python benchmarks/modular_vs_monolithic.py cuda [--variants fp32-eager,tuned,tuned-step] [--net cnn --batch 512,1024]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
PAD, SIZE, CLASSES = 4, 32, 10
LR, MOMENTUM, WEIGHT_DECAY, SMOOTHING = 0.1, 0.9, 5e-4, 0.1
TARGET_RATIO = 0.97
TARGET_TUNED_SPEEDUP = 3.0


@dataclass(frozen=True)
class Variant:
    name: str
    device: str
    precision: str = "fp32"  # or bf16
    channels_last: bool = False
    compile_mode: str | None = None  # None: eager
    scope: str = "model"  # "step": the whole training step compiled as one graph


VARIANTS = {
    "fp32": Variant("fp32", "cpu"),
    "fp32-step": Variant("fp32-step", "cpu", "fp32", False, "default", "step"),
    "fp32-eager": Variant("fp32-eager", "cuda"),
    "tuned": Variant("tuned", "cuda", "bf16", True, "reduce-overhead"),
    "tuned-step": Variant("tuned-step", "cuda", "bf16", True, "reduce-overhead", "step"),
}
#: the heavier plain CIFAR net: conv-bn-relu per width, a 2x2 max pool after these blocks
CNN_WIDTHS, CNN_POOL_AFTER = (64, 128, 128, 256, 256), (1, 3)


# -- monolithic: everything by hand ------------------------------------------------------------------


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                       nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.short(x), inplace=True)


class Net(nn.Module):
    """CIFAR ResNet-depth with a linear head."""

    def __init__(self, depth: int, width: int) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        blocks, cin = [], width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(Block(cin, cout, 2 if stage > 0 and i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.blocks(self.stem(x)).mean(dim=(2, 3)))


class PlainCNN(nn.Module):
    """conv-bn-relu 64, 128, pool, 128, 256, pool, 256, global pool, linear."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for i, w in enumerate(CNN_WIDTHS):
            layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i in CNN_POOL_AFTER:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, CLASSES)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.layers(x).mean(dim=(2, 3)))


def whole_step_sgd(params: list[Tensor], bufs: list[Tensor], lr: Tensor, loss: Tensor) -> Tensor:
    """The gradients and SGD (nesterov) update inside the compiled step; returns the loss."""
    from torch.optim.sgd import sgd

    value = loss.detach().clone()
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        sgd(params, list(grads), list(bufs), weight_decay=WEIGHT_DECAY, momentum=MOMENTUM, lr=lr,
            dampening=0.0, nesterov=True, maximize=False, foreach=False)
    return value


class Monolithic:
    """The hand-written loop: gather-based crop+flip on the uint8 batch, normalize, step."""

    def __init__(self, v: Variant, x: Tensor, y: Tensor, depth: int, width: int, seed: int,
                 net: str = "resnet") -> None:
        dev = torch.device(v.device)
        torch.manual_seed(seed)
        self.v, self.dev = v, dev
        self.x, self.y = x.to(dev), y.to(dev)
        self.model = (Net(depth, width) if net == "resnet" else PlainCNN()).to(dev)
        if v.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.forward: Callable[[Tensor], Tensor] = self.model
        if v.compile_mode is not None and v.scope == "model":
            self.forward = torch.compile(self.model, mode=v.compile_mode)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM, nesterov=True,
                                   weight_decay=WEIGHT_DECAY)
        self.gen = torch.Generator(device=dev).manual_seed(seed + 1)
        self.ar = torch.arange(SIZE, device=dev)
        self.scale = (1.0 / (255.0 * torch.tensor(STD, device=dev))).view(1, 3, 1, 1)
        self.shift = (-torch.tensor(MEAN, device=dev) / torch.tensor(STD, device=dev)).view(1, 3, 1, 1)
        self.amp = v.precision == "bf16"
        self.whole: Callable[[Tensor, Tensor], Tensor] | None = None
        if v.scope == "step":
            params = list(self.model.parameters())
            bufs = [torch.zeros_like(p) for p in params]
            lr = torch.tensor(LR, device=dev)

            def step(xb: Tensor, yb: Tensor) -> Tensor:
                xb = self.augment(xb, None)  # traced: torch's default RNG
                if self.v.channels_last:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp):
                    loss = F.cross_entropy(self.model(xb), yb, label_smoothing=SMOOTHING)
                return whole_step_sgd(params, bufs, lr, loss)

            mode = None if v.compile_mode in (None, "default") else v.compile_mode
            self.whole = torch.compile(step, fullgraph=True, dynamic=False, mode=mode)

    def augment(self, xb: Tensor, gen: torch.Generator | None = None) -> Tensor:
        n, c = xb.shape[0], xb.shape[1]
        padded = F.pad(xb, (PAD, PAD, PAD, PAD))  # zeros, uint8
        full = SIZE + 2 * PAD
        top = torch.randint(0, 2 * PAD + 1, (n, 1), device=self.dev, generator=gen)
        left = torch.randint(0, 2 * PAD + 1, (n, 1), device=self.dev, generator=gen)
        flip = torch.rand(n, 1, device=self.dev, generator=gen) < 0.5
        rows = top + self.ar
        cols = left + torch.where(flip, SIZE - 1 - self.ar, self.ar)  # the flip folded into the crop
        index = (rows.unsqueeze(2) * full + cols.unsqueeze(1)).view(n, 1, SIZE * SIZE)
        out = padded.view(n, c, full * full).gather(2, index.expand(n, c, SIZE * SIZE))
        return torch.addcmul(self.shift, out.view(n, c, SIZE, SIZE).float(), self.scale)

    def steps(self, perm: Tensor, batch: int, count: int) -> None:
        self.model.train()
        if self.whole is not None:
            with torch._dynamo.config.patch(trace_autograd_ops=True):
                for step in range(count):
                    idx = perm[step * batch:(step + 1) * batch]
                    self.whole(self.x[idx], self.y[idx])
            return
        for step in range(count):
            idx = perm[step * batch:(step + 1) * batch]
            xb = self.augment(self.x[idx], self.gen)
            if self.v.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp):
                loss = F.cross_entropy(self.forward(xb), self.y[idx], label_smoothing=SMOOTHING)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()


# -- modular: the same workload as a torchrack config, through the trainer's functions ----------------


def config(v: Variant, depth: int, width: int, train_size: int, seed: int, net: str = "resnet") -> dict[str, Any]:
    acc: dict[str, Any] = {"name": "cpu", "params": {} if v.scope == "model" else {"compile_scope": v.scope}}
    if v.device == "cuda":
        acc = {"name": "cuda", "params": {
            "precision": v.precision, "channels_last": v.channels_last,
            "compile": v.compile_mode is not None, "compile_mode": v.compile_mode or "default",
            "compile_scope": v.scope,
        }}
    backbone: dict[str, Any] = {"name": "resnet", "params": {"in_channels": 3, "depth": depth, "width": width}}
    features = 4 * width
    if net == "cnn":
        backbone = {"name": "small_cnn", "params": {"in_channels": 3, "widths": list(CNN_WIDTHS),
                                                    "pool_after": list(CNN_POOL_AFTER)}}
        features = CNN_WIDTHS[-1]
    return {
        "schema_version": 1,
        "run": {"name": f"bench-{v.name}", "seed": seed, "epochs": 1, "deterministic": False},
        "data": {"dataset": {"name": "synthetic_images", "params": {
            "channels": 3, "height": SIZE, "width": SIZE, "num_classes": CLASSES,
            "train_size": train_size, "test_size": 16, "seed": seed, "dtype": "uint8"}}},
        "augment": [
            {"name": "random_crop", "params": {"size": SIZE, "padding": PAD}},
            {"name": "hflip", "params": {"p": 0.5}},
            {"name": "normalize", "params": {"mean": list(MEAN), "std": list(STD)}},
        ],
        "model": {
            "backbone": backbone,
            "head": {"name": "linear", "params": {"in_features": features, "num_classes": CLASSES}},
        },
        "loss": {"name": "cross_entropy", "params": {"label_smoothing": SMOOTHING}},
        "optimizer": {"name": "sgd", "params": {"lr": LR, "momentum": MOMENTUM, "nesterov": True,
                                                "weight_decay": WEIGHT_DECAY}},
        "accelerator": acc,
    }


class Modular:
    """build_accelerator -> build -> build_optimizer -> place_data -> prepare_model, then
    train_epoch: what ``torchrack run`` does, without store, hooks and evaluation."""

    def __init__(self, v: Variant, depth: int, width: int, train_size: int, seed: int,
                 net: str = "resnet") -> None:
        from torchrack import Registry
        from torchrack_runs._config import resolve_config
        from torchrack_runs._optim import build_optimizer
        from torchrack_runs._trainer import build, build_accelerator
        from torchrack_runs._whole_step import WholeStep

        registry = Registry.discover()
        resolved = resolve_config(config(v, depth, width, train_size, seed, net), registry, "benchmark")
        self.acc = build_accelerator(resolved, registry)
        self.acc.setup()
        self.pipe = build(resolved, registry, seed, self.acc)
        x, y = self.pipe.dataset.load("train")
        place = getattr(self.acc, "place_data", None)
        self.x, self.y = place(x, y) if place is not None else (x, y)
        self.opt = build_optimizer(resolved, registry, self.pipe.model.parameters())
        self.pipe.forward = self.acc.prepare_model(self.pipe.model)
        # compile_scope "step": what fit() does, the whole step compiled by the trainer
        self.whole = (WholeStep(self.pipe, self.opt, mode=v.compile_mode) if v.scope == "step" else None)
        self.gen = torch.Generator(device=self.acc.device).manual_seed(seed + 1)
        self.data_cpu = (x, y)

    def steps(self, perm: Tensor, batch: int, count: int) -> None:
        from torchrack_runs._trainer import train_epoch

        self.pipe.model.train()
        train_epoch(self.pipe, self.opt, self.x, self.y, perm, batch_size=batch, steps=count,
                    generator=self.gen, whole_step=self.whole)


# -- timing ------------------------------------------------------------------------------------------


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure(v: Variant, args: argparse.Namespace, batch: int) -> dict[str, Any]:
    steps = args.steps
    train_size = batch * steps
    modular = Modular(v, args.depth, args.width, train_size, args.seed, args.net)
    x, y = modular.data_cpu  # the same images for both
    mono = Monolithic(v, x, y, args.depth, args.width, args.seed, args.net)
    n_mod = sum(p.numel() for p in modular.pipe.model.parameters())
    n_mono = sum(p.numel() for p in mono.model.parameters())
    assert n_mod == n_mono, f"the two models differ: {n_mod} vs {n_mono} parameters"
    order = torch.Generator().manual_seed(args.seed)

    def perm_for(device: Any) -> Tensor:
        return torch.randperm(train_size, generator=order).to(device)

    sides: dict[str, Any] = {"monolithic": mono, "modular": modular}
    devices = {"monolithic": mono.dev, "modular": modular.x.device}
    t0 = time.perf_counter()
    for _ in range(args.warmup_rounds):  # compile, capture CUDA graphs, fill allocator caches
        for name, side in sides.items():
            side.steps(perm_for(devices[name]), batch, steps)
    _sync(v.device)
    warmup_s = time.perf_counter() - t0

    rates: dict[str, list[float]] = {"monolithic": [], "modular": []}
    for r in range(args.rounds):
        names = ["monolithic", "modular"] if r % 2 == 0 else ["modular", "monolithic"]
        for name in names:
            perm = perm_for(devices[name])
            _sync(v.device)
            start = time.perf_counter()
            sides[name].steps(perm, batch, steps)
            _sync(v.device)
            rates[name].append(batch * steps / (time.perf_counter() - start))
    modular.acc.teardown()
    ratios = [a / b for a, b in zip(rates["modular"], rates["monolithic"], strict=True)]
    out: dict[str, Any] = {
        "benchmark": "modular_vs_monolithic", "mode": args.mode, "variant": v.name,
        "device": _device_name(v.device), "torch": torch.__version__,
        "threads": torch.get_num_threads() if v.device == "cpu" else None,
        "batch": batch, "parameters": n_mod,
        "model": f"resnet{args.depth}-w{args.width}" if args.net == "resnet" else "cnn-64-128-128-256-256",
        "precision": v.precision, "channels_last": v.channels_last, "compile_mode": v.compile_mode,
        "compile_scope": v.scope,
        "steps_per_round": steps, "rounds": args.rounds, "warmup_s": round(warmup_s, 1),
        "monolithic_images_per_s": round(statistics.median(rates["monolithic"]), 1),
        "modular_images_per_s": round(statistics.median(rates["modular"]), 1),
        "ratio": round(statistics.median(ratios), 4),
        "ratio_min": round(min(ratios), 4), "ratio_max": round(max(ratios), 4),
        "target_ratio": TARGET_RATIO,
    }
    out["meets_target"] = out["ratio"] >= TARGET_RATIO
    return out


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--variants", help="comma-separated (cpu: fp32, fp32-step; cuda: fp32-eager, tuned, "
                                           "tuned-step; default cpu: fp32; cuda: fp32-eager,tuned)")
    parser.add_argument("--batch", help="global batch, or a comma-separated list (cpu 128, cuda 512)")
    parser.add_argument("--net", choices=("resnet", "cnn"), default="resnet",
                        help="resnet: CIFAR ResNet (--depth, --width); cnn: conv-bn-relu 64, 128, pool, "
                             "128, 256, pool, 256, global pool, linear")
    parser.add_argument("--depth", type=int, help="ResNet depth, 6n+2 (cpu 8, cuda 20)")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--steps", type=int, help="optimizer steps per timed round (cpu 3, cuda 20)")
    parser.add_argument("--rounds", type=int, help="timed rounds per side (cpu 20, cuda 15)")
    parser.add_argument("--warmup-rounds", type=int, default=None)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (cpu)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cpu = args.mode == "cpu"
    batches = [int(b) for b in str(args.batch or (128 if cpu else 512)).split(",")]
    args.depth = args.depth or (8 if cpu else 20)
    args.steps = args.steps or (3 if cpu else 20)
    args.rounds = args.rounds or (20 if cpu else 15)
    args.warmup_rounds = args.warmup_rounds if args.warmup_rounds is not None else (1 if cpu else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = (args.variants or ("fp32" if cpu else "fp32-eager,tuned")).split(",")
    if not cpu and not torch.cuda.is_available():
        print(json.dumps({"benchmark": "modular_vs_monolithic", "mode": "cuda",
                          "error": "needs a CUDA GPU (torch.cuda.is_available() is False)"}))
        return 1
    if not cpu:
        torch.backends.cudnn.benchmark = True
    status = 0
    for batch in batches:
        results: dict[str, dict[str, Any]] = {}
        for name in names:
            v = VARIANTS[name]
            if v.precision == "bf16" and not torch.cuda.is_bf16_supported():
                v = Variant(v.name, v.device, "fp32", v.channels_last, v.compile_mode, v.scope)
            try:
                result = measure(v, args, batch)
            except Exception as exc:  # noqa: BLE001 - report, and go on with the next variant
                traceback.print_exc(file=sys.stderr)
                result = {"benchmark": "modular_vs_monolithic", "mode": args.mode, "variant": name,
                          "batch": batch, "net": args.net, "error": f"{type(exc).__name__}: {exc}"}
                status = 1
            results[name] = result
            if (name in ("tuned", "tuned-step") and "error" not in result
                    and "error" not in results.get("fp32-eager", {"error": 1})):
                base = results["fp32-eager"]["monolithic_images_per_s"]
                result["speedup_vs_fp32_eager_monolithic"] = round(result["modular_images_per_s"] / base, 2)
                result["target_speedup"] = TARGET_TUNED_SPEEDUP
            print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
