"""examples/digits.toml as a plain PyTorch script: the reference of benchmarks/startup.py.

The same data, model, augmentation, loss, optimizer, schedule, metrics, epochs, batch sizes, seed
and thread count as ``torchrack run examples/digits.toml``, written as a hand-made loop: the
component classes are imported straight from the first-party packages (so the compute is the
same code), with no registry, no validation, no dry run, no run store, no events and no
checkpoints. ``--threads N`` sets torch's thread count (default: torch's own).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.nn import functional as F
from torchrack_augment.transforms import RandomTranslate
from torchrack_backbones.small_cnn import SmallCNN
from torchrack_datasets.digits import Digits
from torchrack_metrics.accuracy import Accuracy
from torchrack_metrics.ece import ECE
from torchrack_metrics.nll import NLL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    data = Digits()
    x_train, y_train = data.load("train")
    x_test, y_test = data.load("test")
    aug = RandomTranslate(max_shift=1)
    torch.manual_seed(0)
    model = nn.Sequential(SmallCNN(in_channels=1, widths=[32, 64]), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.0005)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    metrics = [Accuracy(), NLL(), ECE()]
    batch, eval_batch = 32, 128
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        torch.manual_seed(epoch)
        gen = torch.Generator().manual_seed(epoch + 1)
        perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(epoch))
        model.train()
        for start in range(0, len(perm), batch):
            idx = perm[start:start + batch]
            xb, yb = aug(x_train[idx], y_train[idx], generator=gen)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        for m in metrics:
            m.reset()
        with torch.no_grad():
            for start in range(0, len(x_test), eval_batch):
                logits = model(x_test[start:start + eval_batch])
                for m in metrics:
                    m.update(logits, y_test[start:start + eval_batch])
        results = {k: v for m in metrics for k, v in m.compute().items()}
    print(f"plain: {args.epochs} epochs in {time.perf_counter() - t0:.2f}s: accuracy {results['accuracy']:.4f}")


if __name__ == "__main__":
    main()
