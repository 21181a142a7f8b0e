#!/usr/bin/env python3
"""PyTorch (CPU, eager) training step of the net `cargo bench --bench train_step` times, for a
side-by-side figure in one run: MobileNetV2-Tiny (models::MBV2_TINY_BLOCKS, stem 16 with stride
1, DS block 16 -> 8, head 1x1 -> 448, ReLU6, BatchNorm after every conv, linear classifier with
bias) at 32x32 with one input channel, batch 64 of Fashion-MNIST padded to 32x32, cross entropy,
SGD with Nesterov momentum 0.9, lr 0.05, no weight decay. `shift` rounds every conv weight except
the stem's to a signed power of two in the forward pass with a straight-through gradient
(DeepShift-Q, exponents in [-15, 0]), as our Shift layers do.

Usage: bench_pytorch.py [--threads 2] [--steps 12] [--conv mult,shift] [--ours FILE]
Prints one markdown row per conv kind: images/s, median of the timed steps after 2 warm-up steps.
With --ours (the output of `cargo bench --bench train_step`), also each of our direct rows with
every fast kernel on (`every kernel`) as a ratio to PyTorch's Mult step.
"""
import argparse, gzip, re, statistics, time

import numpy as np
import torch
from torch import nn

BLOCKS = [  # (kernel, stride, in, mid, out), MBV2_TINY_BLOCKS
    (3, 2, 8, 48, 8), (3, 1, 8, 48, 8), (3, 2, 8, 48, 16), (3, 1, 16, 96, 16),
    (3, 1, 16, 96, 16), (3, 2, 16, 96, 24), (3, 1, 24, 144, 24), (3, 1, 24, 144, 24),
    (3, 1, 24, 144, 24), (3, 1, 24, 144, 32), (3, 1, 32, 192, 32), (3, 1, 32, 192, 32),
    (3, 2, 32, 192, 56), (3, 1, 56, 336, 56), (3, 1, 56, 336, 56), (3, 1, 56, 336, 112),
]
DATA = "/usr/share/datasets/fashion-mnist"


class PotSte(torch.autograd.Function):
    """sign(w) * 2^clamp(round(log2 |w|), -15, 0) forward, identity backward."""

    @staticmethod
    def forward(ctx, w):
        e = torch.clamp(torch.round(torch.log2(w.abs().clamp_min(2.0**-16))), -15, 0)
        return torch.sign(w) * torch.pow(2.0, e)

    @staticmethod
    def backward(ctx, g):
        return g


class Conv(nn.Conv2d):
    def __init__(self, cin, cout, k, stride, groups, shift):
        super().__init__(cin, cout, k, stride, k // 2, groups=groups, bias=False)
        self.shift = shift

    def forward(self, x):
        w = PotSte.apply(self.weight) if self.shift else self.weight
        return self._conv_forward(x, w, None)


def conv_bn(cin, cout, k, stride, groups, shift, act):
    layers = [Conv(cin, cout, k, stride, groups, shift), nn.BatchNorm2d(cout)]
    return nn.Sequential(*(layers + [nn.ReLU6()] if act else layers))


class Block(nn.Module):
    def __init__(self, k, stride, cin, mid, cout, shift):
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(cin, mid, 1, 1, 1, shift, True),
            conv_bn(mid, mid, k, stride, mid, shift, True),
            conv_bn(mid, cout, 1, 1, 1, shift, False),
        )
        self.shortcut = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.shortcut else y


def mbv2_tiny(shift):
    return nn.Sequential(
        conv_bn(1, 16, 3, 1, 1, False, True),
        conv_bn(16, 16, 3, 1, 16, shift, True),
        conv_bn(16, 8, 1, 1, 1, shift, False),
        *[Block(*b, shift) for b in BLOCKS],
        conv_bn(112, 448, 1, 1, 1, shift, True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(448, 10),
    )


def load(n):
    with gzip.open(f"{DATA}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[: n * 784].reshape(n, 1, 28, 28)
    with gzip.open(f"{DATA}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    x = np.pad(x.astype(np.float32) / 255.0, ((0, 0), (0, 0), (2, 2), (2, 2)))
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--conv", default="mult,shift")
    p.add_argument("--ours")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    batch = 64
    x, y = load(batch * (a.steps + 2))
    print(f"\nPyTorch {torch.__version__}, CPU, {torch.get_num_threads()} threads; images/s, median of {a.steps} steps\n")
    print("| PyTorch conv | direct |")
    print("|---|---|")
    rates = {}
    for kind in a.conv.split(","):
        net = mbv2_tiny(kind == "shift").train()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        loss_fn = nn.CrossEntropyLoss()
        times = []
        for i in range(a.steps + 2):
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            opt.step()
            loss.item()
            if i >= 2:
                times.append(time.perf_counter() - start)
        rates[kind] = batch / statistics.median(times)
        print(f"| {kind} | {rates[kind]:.1f} |")
    if a.ours and "mult" in rates:
        print("\n| ours, direct, every kernel | images/s | / PyTorch Mult |")
        print("|---|---|---|")
        for line in open(a.ours):
            m = re.match(r"\| (\w+) \| every kernel \| ([0-9.]+) \|", line)
            if m:
                print(f"| {m[1]} | {m[2]} | {float(m[2]) / rates['mult']:.2f}x |")


if __name__ == "__main__":
    main()
