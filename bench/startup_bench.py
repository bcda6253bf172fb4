#!/usr/bin/env python
"""Start-up of `smallssl-train` on a large folder: time from launch to the first training step, 1,000 vs 100,000 files.

Writes two synthetic ImageFolders of tiny PNGs (100 classes; 10 and 1,000 files per class; each file written once and
then hard-linked, so making the large one takes seconds), then launches `smallssl-train` on each, as a user would, and
stops it at its first step line (`-p 1`). For each folder it runs twice: a cold start (no cached file index) and a warm
one (the index cached by the first), each `--repeats` times, keeping the fastest. The baseline of the same run is what start-up cost before the file index:
listing the large folder with the header check that opens every file (`SafeImageFolder(check='header')`), timed alone.

    python bench/startup_bench.py [--small 1000] [--large 100000] [--repeats 3] [--root DIR]

Target (issue 13): the 100-times-larger folder costs less than 3x the start-up of the small one.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smallssl.data import SafeImageFolder

BIN = Path(sys.executable).parent


def make_folder(root:Path, n_files:int, classes:int=100)->Path:
    "An ImageFolder root/train/<class>/<i>.png of `n_files` 16 px PNGs (hard links of one file per class)."
    if (root/'done').exists(): return root
    shutil.rmtree(root, ignore_errors=True)
    rng = np.random.default_rng(0)
    for c in range(classes):
        d = root/'train'/f'class{c:03d}'; d.mkdir(parents=True)
        first = d/'0.png'
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(first)
        for i in range(1, n_files // classes): os.link(first, d/f'{i}.png')
    (root/'done').write_text('')
    return root


def time_to_first_step(data:Path, cache:Path, timeout:float=600)->float:
    "Seconds from launching `smallssl-train` until it prints its first step line."
    cmd = [str(BIN/'smallssl-train'), str(data), '-a', 'resnet18', '--image-size', '32', '-b', '8', '--moco-k', '64',
           '-j', '0', '--epochs', '1', '-p', '1', '--seed', '0', '--ckpt-dir', str(cache.parent/'ckpt')]
    env = dict(os.environ, SMALLSSL_CACHE=str(cache), OMP_NUM_THREADS='2')
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        for line in p.stdout:
            if line.startswith('Epoch: [0]'): return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout: break
        raise RuntimeError(f"no step line from {' '.join(cmd)} (exit {p.poll()})")
    finally:
        p.kill(); p.wait()


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--small', type=int, default=1000)
    ap.add_argument('--large', type=int, default=100_000)
    ap.add_argument('--repeats', type=int, default=3, help='launches per row; the fastest counts')
    ap.add_argument('--root', default=None, help='where the folders go (default: a temporary folder, removed at the end)')
    a = ap.parse_args()
    root = Path(a.root or tempfile.mkdtemp(prefix='startup-bench-'))
    try:
        t0 = time.perf_counter()
        small, large = make_folder(root/f'f{a.small}', a.small), make_folder(root/f'f{a.large}', a.large)
        print(f"folders: {a.small:,} and {a.large:,} files in {time.perf_counter() - t0:.1f} s", flush=True)
        rows = {}
        for name, data in (('small', small), ('large', large)):
            colds, warms = [], []
            for _ in range(a.repeats):   # the fastest of a few: start-up on a busy machine is noisy
                cache = root/f'cache-{name}'; shutil.rmtree(cache, ignore_errors=True)
                colds.append(time_to_first_step(data, cache))
                warms.append(time_to_first_step(data, cache))
            cold, warm = min(colds), min(warms)
            rows[name] = (cold, warm)
            print(f"{name}: cold {cold:.1f} s, warm {warm:.1f} s", flush=True)
        t0 = time.perf_counter()
        n = len(SafeImageFolder(large/'train', check='header', verbose=False))
        header = time.perf_counter() - t0
        print("\n| folder | files | first step, cold (s) | first step, cached index (s) |\n|---|---|---|---|")
        for name, n_files in (('small', a.small), ('large', a.large)):
            print(f"| {name} | {n_files:,} | {rows[name][0]:.1f} | {rows[name][1]:.1f} |")
        print(f"\nlarge / small start-up: cold {rows['large'][0] / rows['small'][0]:.2f}x, "
              f"cached {rows['large'][1] / rows['small'][1]:.2f}x (target: < 3x)")
        print(f"baseline, same run: listing the large folder with the header check (every file opened): {header:.1f} s "
              f"for {n:,} files, before any other start-up work")
    finally:
        if not a.root: shutil.rmtree(root, ignore_errors=True)
