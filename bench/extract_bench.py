#!/usr/bin/env python
"""Benchmark feature extraction on CPU: `extract_features` (inference_mode + channels_last) against a plain eval-mode loop
(`torch.no_grad`, contiguous memory format), in images/s, on the same in-memory images (no decoding).

    python bench/extract_bench.py [-a resnet18,mobilenetv3_small] [--image-size 64] [-n 512] [-b 128]

Both paths are checked to give the same features (to float tolerance).
"""
import argparse, copy, sys, time

import torch
from torch.utils.data import TensorDataset

from smallssl.pretrained import load_pretrained_encoder
from smallssl.encoder import extract_features

def plain_loop(model, x, bs):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), bs): out.append(model(x[i:i+bs]))
    return torch.cat(out)

def bench(fn, repeats):
    fn()  # warm-up (oneDNN primitive creation)
    best = float('inf')
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(); best = min(best, time.perf_counter() - t)
    return best, out

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('-a', '--archs', default='resnet18,mobilenetv3_small')
    p.add_argument('--image-size', type=int, default=64)
    p.add_argument('-n', type=int, default=512, help='images')
    p.add_argument('-b', '--batch-size', type=int, default=128)
    p.add_argument('--repeats', type=int, default=3, help='best of this many timed runs')
    a = p.parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(a.n, 3, a.image_size, a.image_size)
    ds = TensorDataset(x, torch.zeros(a.n, dtype=torch.long))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {a.n} images of {a.image_size} px, batch {a.batch_size}")
    for arch in a.archs.split(','):
        m = load_pretrained_encoder(arch, None, image_size=a.image_size, verbose=False)
        m_plain, m_fast = copy.deepcopy(m), copy.deepcopy(m)
        t0, ref = bench(lambda: plain_loop(m_plain, x, a.batch_size), a.repeats)
        t1, (f, _, _) = bench(lambda: extract_features(m_fast, ds, a.batch_size, workers=0, device='cpu', verbose=False), a.repeats)
        err = (f - ref).abs().max().item() / (ref.abs().max().item() + 1e-12)
        print(f"{arch:>18}: plain eval loop {a.n / t0:8.1f} img/s | extract_features (inference_mode + channels_last) "
              f"{a.n / t1:8.1f} img/s | speed-up {t0 / t1:.2f}x | max rel. diff {err:.1e}", flush=True)
    return 0

if __name__ == '__main__': sys.exit(main())
