#!/usr/bin/env python
"""The per-step cost of the contrastive accuracy: `torch.topk` over the 1+K logits against counting the logits above the positive.

Three ways give the same acc@1 and acc@5: `torch.topk` (the former implementation), a count of the logits strictly
above the positive over all of them, and `smallssl.moco.contrastive_accuracy` (a maximum per block of 256 logits, the count
made only in the k blocks with the largest maxima). The logits are a batch of InfoNCE logits (the positive in column 0); the three are timed alternately in one run,
round after round, on the same logits; the table gives the median milliseconds per step and the ratio.

    python bench/acc_bench.py                     # K 65536, batch 256, 2 threads, CPU
    python bench/acc_bench.py -K 4096 -b 64 --rounds 5
"""
import argparse, statistics, sys, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smallssl.moco import contrastive_accuracy  # noqa: E402


def topk_accuracy(logits, labels, topk=(1, 5)):
    "The former implementation (`core.topk_correct`): the positive among `torch.topk`'s k largest."
    hit = logits.topk(max(topk), 1).indices.eq(labels[:, None])  # N x maxk
    return [hit[:, :k].any(1).sum().double() * (100 / len(labels)) for k in topk]


def full_count(logits, labels, topk=(1, 5)):
    "Counting every logit above the positive (a sum over a boolean mask of all 1+K logits)."
    rank = (logits > logits.gather(1, labels[:, None])).sum(1)
    return [(rank < k).sum(dtype=torch.float64) * (100 / len(labels)) for k in topk]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('-K', type=int, default=65536, help='queue size (negatives per query)')
    p.add_argument('-b', '--batch', type=int, default=256, help='queries per step')
    p.add_argument('--reps', type=int, default=10, help='calls per timing')
    p.add_argument('--rounds', type=int, default=5, help='alternating rounds')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(a.batch, 1 + a.K, generator=g) / 0.1
    logits[:, 0] += 35.   # about a third of the positives first
    labels = torch.zeros(a.batch, dtype=torch.long)
    fns = {'torch.topk': topk_accuracy, 'full count': full_count, 'block count (contrastive_accuracy)': contrastive_accuracy}
    got = {k: [float(v) for v in f(logits, labels)] for k, f in fns.items()}
    assert all(v == got['torch.topk'] for v in got.values()), got
    times = {k: [] for k in fns}
    for r in range(a.rounds):
        for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):   # alternating order
            t0 = time.perf_counter()
            for _ in range(a.reps): fns[k](logits, labels)
            times[k].append((time.perf_counter() - t0) / a.reps * 1e3)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"acc@1/acc@5 of {a.batch} x {1 + a.K} logits, {a.threads} threads, CPU ({torch.__version__}); acc@1 {got['torch.topk'][0]:.2f} %, "
          f"acc@5 {got['torch.topk'][1]:.2f} % every way")
    print("| method | ms per step (median of rounds) | ratio to torch.topk |\n|---|---|---|")
    for k, v in med.items(): print(f"| {k} | {v:.2f} | {v / med['torch.topk']:.3f} |")


if __name__ == '__main__': main()
