"""Peak memory and time of the exact (all-pairs) uniformity on 50,000 x 1,280 features.

    python bench/uniformity_memory.py                 # 50,000 x 1,280 (MobileNetV3-Large / EfficientNet-B0 width)
    python bench/uniformity_memory.py --n 5000        # a quick run

The measurement runs in a fresh subprocess: the peak resident set size (`resource.getrusage(...).ru_maxrss`) is read once
the features exist and again after `uniformity_exact`; the difference is what the computation added on top of the features
(tracemalloc does not see torch's allocations). Target: under 2 GB. For scale, `torch.pdist` would need N(N-1)/2 floats.
"""
import argparse, json, subprocess, sys

CHILD = r"""
import json, resource, sys, time
import torch
from smallssl.metrics import uniformity_exact, uniformity_sampled
n, d, chunk, threads = map(int, sys.argv[1:5])
torch.set_num_threads(threads)
z = torch.randn(n, d, generator=torch.Generator().manual_seed(0))
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: KiB
base = rss()
t = time.perf_counter(); u = uniformity_exact(z, chunk=chunk); dt = time.perf_counter() - t
peak = rss()
print(json.dumps(dict(n=n, d=d, chunk=chunk, exact=u, sampled=uniformity_sampled(z), seconds=dt,
                      base_bytes=base, peak_bytes=peak, features_bytes=z.numel() * 4)))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--n', type=int, default=50_000)
    p.add_argument('--dim', type=int, default=1280)
    p.add_argument('--chunk', type=int, default=2048)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--limit-gb', type=float, default=2.0)
    a = p.parse_args(argv)
    out = subprocess.run([sys.executable, '-c', CHILD, str(a.n), str(a.dim), str(a.chunk), str(a.threads)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    gb = 1024 ** 3
    added = r['peak_bytes'] - r['base_bytes']
    print(f"exact uniformity, {r['n']} x {r['d']} float32 features, blocks of {r['chunk']} rows, {a.threads} threads\n")
    print(f"| {'quantity':<46} | {'value':>12} |\n|{'-' * 48}|{'-' * 13}:|")
    for name, val in [('features', f"{r['features_bytes'] / gb:.2f} GB"),
                      ('process peak RSS before (imports + features)', f"{r['base_bytes'] / gb:.2f} GB"),
                      ('process peak RSS after uniformity_exact', f"{r['peak_bytes'] / gb:.2f} GB"),
                      ('added by uniformity_exact', f"{added / gb:.3f} GB"),
                      ('torch.pdist would hold (N(N-1)/2 floats)', f"{r['n'] * (r['n'] - 1) / 2 * 4 / gb:.2f} GB"),
                      ('time', f"{r['seconds']:.1f} s"),
                      ('uniformity, exact (all pairs)', f"{r['exact']:.4f}"),
                      ('uniformity, sampled (3 x 128, seed 0)', f"{r['sampled']:.4f}")]:
        print(f"| {name:<46} | {val:>12} |")
    ok = added < a.limit_gb * gb
    print(f"\nadded peak memory {added / gb:.3f} GB {'<' if ok else '>='} {a.limit_gb} GB: {'OK' if ok else 'FAIL'}")
    if not ok: sys.exit(1)


if __name__ == '__main__':
    main()
