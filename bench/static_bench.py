#!/usr/bin/env python
"""Benchmark `smallssl-sample-augs`: wall time with `-j 2` against `-j 1` on the same source images (target: >= 1.7x on 2 cores).

    python bench/static_bench.py [--classes 10] [--per-class 50] [--aug moco] [--size 500x375] [--workers 2]

Source images are synthetic JPEGs of ImageNet-like size (smooth random colour fields), written to a temporary folder.
Both runs write into fresh folders with the same --seed; the script also checks that their files are byte-identical.
"""
import argparse, os, resource, shutil, sys, tempfile, time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from smallssl.static import sample_augs

def make_source(root:Path, classes:int, per_class:int, size:tuple, seed:int=0)->Path:
    rng = np.random.default_rng(seed)
    w, h = size
    for c in range(classes):
        d = root/f"class{c:03d}"; d.mkdir(parents=True)
        for i in range(per_class):
            small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
            im = Image.fromarray(small).resize((w, h), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2))
            im.save(d/f"img_{i:05d}.JPEG", quality=90)
    return root

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--classes', type=int, default=10)
    p.add_argument('--per-class', type=int, default=50)
    p.add_argument('--aug', default='moco')
    p.add_argument('--size', default='500x375', help='source image WxH (default: ImageNet-like 500x375)')
    p.add_argument('--image-size', type=int, default=224)
    p.add_argument('--workers', type=int, default=2, help='the parallel run (compared with -j 1)')
    a = p.parse_args(argv)
    size = tuple(int(v) for v in a.size.split('x'))
    tmp = Path(tempfile.mkdtemp(prefix='static_bench.'))
    try:
        src = make_source(tmp/'src', a.classes, a.per_class, size)
        n = a.classes * a.per_class
        times = {}
        def cpu(): return sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime
                              for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the wall-time ratio needs idle cores)")
        for j in (1, a.workers):
            t, c = time.perf_counter(), cpu()
            sample_augs(src, tmp/f'j{j}', a.aug, a.per_class, a.image_size, workers=j, seed=0, preview=None, verbose=False)
            times[j], used = time.perf_counter() - t, cpu() - c
            print(f"-j {j}: {times[j]:.2f} s wall ({n / times[j]:.1f} images/s), {used:.2f} CPU-s ({1000 * used / n:.1f} CPU-ms/image)", flush=True)
        files = sorted(q.relative_to(tmp/'j1') for q in (tmp/'j1').rglob('*.jpeg'))
        same = all((tmp/'j1'/q).read_bytes() == (tmp/f'j{a.workers}'/q).read_bytes() for q in files)
        ratio = times[1] / times[a.workers]
        print(f"{n} images ({a.classes} classes x {a.per_class}), --aug {a.aug}, source {a.size}, views {a.image_size} px: "
              f"-j {a.workers} is {ratio:.2f}x faster than -j 1 (target >= 1.7x); files identical: {same}", flush=True)
        return 0 if same else 1
    finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': sys.exit(main())
