#!/usr/bin/env python
"""Seconds per epoch of the same MoCo v2 training in smallssl and in lightly, run alternately on the same machine.

The work: torchvision MobileNetV3-Small and ResNet-18 with the small-image stem at 32 px, MoCo v2's 2-layer MLP head
(`--mlp simple`: Linear(d, d)-ReLU-Linear(d, 128)), batch 64, SGD lr 0.03 (momentum 0.9, wd 1e-4) on a cosine, queue 1024,
m 0.99, T 0.1, MoCo v2's augmentation, on 3,000 real 28 px photo patches (`experiments/real_photos.photo_patches`); one
process with `--threads` threads and `--workers` loader workers.

- smallssl: the real command, `python -m smallssl.train DATA -a ARCH ... --shuffle-groups G` as a subprocess, with
  PYTHONPATH set to each source tree given by `--smallssl NAME=PATH` (default: this checkout), with 2 groups (the default
  one-process shuffle-BN emulation) and 1 (none); epoch times are the `time` field of its `log.jsonl`.
- smallssl under torchrun (`--torchrun`): the same command as `torchrun --nproc_per_node 2`, one thread per process
  and `-j` split between them, the same global batch (shuffle-BN across the two ranks instead of emulated), to compare
  the multi-process path per image with the one-process path on the same cores.
- lightly: `bench/lightly_moco.py` (lightly's documented MoCo example with this recipe) run by the Python of a virtual
  environment that has lightly (`--lightly-python` or $LIGHTLY_PYTHON); skipped, with a message, when there is none.

Each round runs every side once, in an order that alternates between rounds; the table gives the median epoch time
(epoch 0 left out: it starts the loader workers) and the ratio to lightly's in the same run.

    python bench/peer_bench.py --lightly-python /path/to/venv/bin/python
    python bench/peer_bench.py --smallssl new=. --smallssl old=../main:2 --archs mobilenetv3_small --epochs 3 --rounds 2
    python bench/peer_bench.py --torchrun --archs mobilenetv3_small    # one process vs two, per image, same cores
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from experiments.real_photos import photo_patches  # noqa: E402

RECIPE = ['--image-size', '32', '--stem', 'small', '-b', '64', '--lr', '0.03', '--cos', '--momentum', '0.9', '--wd', '1e-4',
          '--moco-k', '1024', '--moco-m', '0.99', '--moco-t', '0.1', '--mlp', 'simple', '--aug', 'v2', '--seed', '0']


def lightly_python(given):
    "The Python that can import lightly, or None (with the reason printed)."
    exe = given or os.environ.get('LIGHTLY_PYTHON')
    if not exe:
        print("lightly: skipped (no --lightly-python and no $LIGHTLY_PYTHON: give the Python of a virtual environment with lightly)")
        return None
    r = subprocess.run([exe, '-c', 'import lightly; print(lightly.__version__)'], capture_output=True, text=True)
    if r.returncode:
        print(f"lightly: skipped ({exe} cannot import lightly: {r.stderr.strip().splitlines()[-1:]})")
        return None
    print(f"lightly {r.stdout.strip()} from {exe}")
    return exe


OMP_WAIT = None


def env_for(threads, pythonpath=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES='')
    if OMP_WAIT: env['OMP_WAIT_POLICY'] = OMP_WAIT
    if pythonpath: env['PYTHONPATH'] = str(pythonpath)
    return env


def run_smallssl(src, data, arch, groups, epochs, workers, threads, tmp, nproc=1):
    "Epoch times and encoder size of one `smallssl-train` run from the source tree `src` (`nproc` > 1: under torchrun)."
    ckpt = Path(tempfile.mkdtemp(dir=tmp))
    launch = ['-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}'] if nproc > 1 else []
    cmd = [sys.executable, *launch, '-m', 'smallssl.train', str(data), '-a', arch, *RECIPE, '--epochs', str(epochs), '-j', str(workers),
           '--shuffle-groups', str(groups), '--ckpt-dir', str(ckpt), '--keep-last', '1', '-p', '1000']
    r = subprocess.run(cmd, capture_output=True, text=True, env=env_for(max(1, threads // nproc), src), cwd=tmp)
    if r.returncode: raise SystemExit(f"smallssl-train failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    log = [json.loads(line) for line in (ckpt/'log.jsonl').read_text().splitlines()]
    params = next((line.split('encoder_q ')[1].split(' M')[0] for line in r.stdout.splitlines() if 'encoder_q ' in line), '?')
    shutil.rmtree(ckpt, ignore_errors=True)
    return [e['time'] for e in log], f"{params} M", [e['loss'] for e in log]


def run_lightly(exe, data, arch, epochs, workers, threads):
    cmd = [exe, str(ROOT/'bench'/'lightly_moco.py'), str(data), '-a', arch, '--epochs', str(epochs), '-j', str(workers),
           '--threads', str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env_for(threads))
    if r.returncode: raise SystemExit(f"lightly run failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith('{')]
    head, epochs_ = lines[0], [e for e in lines if 'epoch' in e]
    return [e['time'] for e in epochs_], f"{head['encoder_params'] / 1e6:.2f} M", [e['loss'] for e in epochs_]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archs', nargs='+', default=['mobilenetv3_small', 'resnet18'])
    p.add_argument('--epochs', type=int, default=3, help='epochs per run (epoch 0 is left out of the medians)')
    p.add_argument('--rounds', type=int, default=2, help='runs of every side, alternating')
    p.add_argument('--threads', type=int, default=2, help='torch threads of the training process')
    p.add_argument('--workers', type=int, default=2, help='data-loading worker processes')
    p.add_argument('--smallssl', action='append', default=None, metavar='NAME=PATH',
                   help='a smallssl source tree to time: a name, the folder holding the smallssl package and optionally the '
                        'shuffle-BN groups to run (NAME=PATH[:G,G]; default groups 2,1; repeatable; default: this checkout)')
    p.add_argument('--torchrun', action='store_true',
                   help='also time each smallssl tree under torchrun: 2 processes of threads/2 threads each, the same global batch')
    p.add_argument('--lightly-python', default=None, help="Python of a virtual environment with lightly (default: $LIGHTLY_PYTHON)")
    p.add_argument('--data', default=None, help='the photo-patch folder (made there once; default: a temporary folder)')
    p.add_argument('--per-class', type=int, default=250, help='training images per class (12 classes)')
    p.add_argument('--json', default=None, help='write every epoch time here')
    p.add_argument('--omp-wait-policy', default=None, choices=['PASSIVE', 'ACTIVE'],
                   help="OMP_WAIT_POLICY of both sides (default: the environment's); on a machine shared with other busy processes, "
                        "PASSIVE avoids OpenMP's spinning threads, which made 2-thread steps 5-10x slower there")
    a = p.parse_args(argv)
    global OMP_WAIT
    OMP_WAIT = a.omp_wait_policy
    srcs = []
    for spec in a.smallssl or [f'smallssl={ROOT}']:
        name, path = spec.split('=', 1)
        path, _, groups = path.partition(':')
        srcs.append((name, path, [int(g) for g in groups.split(',')] if groups else [2, 1]))
    exe = lightly_python(a.lightly_python)
    with tempfile.TemporaryDirectory() as tmp:
        data = photo_patches(Path(a.data or Path(tmp)/f'photos{a.per_class}'), n_train=a.per_class, n_val=50, size=28)
        print(f"data: {sum(1 for _ in (data/'train').rglob('*.jpeg'))} training images of 28 px at 32 px; {a.threads} threads, "
              f"{a.workers} workers, {a.epochs} epochs per run, {a.rounds} rounds, OMP_WAIT_POLICY {OMP_WAIT or 'as set'}", flush=True)
        sides = [(f"{name} --shuffle-groups {g}", ('smallssl', src, g, 1)) for name, src, groups in srcs for g in groups]
        if a.torchrun: sides += [(f"{name} torchrun 2 processes", ('smallssl', src, 1, 2)) for name, src, _ in srcs]
        if exe: sides.append(('lightly', ('lightly', exe, None, 1)))
        results = {}
        for arch in a.archs:
            for r in range(a.rounds):
                for label, (kind, src, g, nproc) in (sides if r % 2 == 0 else sides[::-1]):
                    t = time.time()
                    times, params, losses = (run_smallssl(src, data, arch, g, a.epochs, a.workers, a.threads, tmp, nproc) if kind == 'smallssl'
                                             else run_lightly(src, data, arch, a.epochs, a.workers, a.threads))
                    results.setdefault((arch, label), dict(times=[], params=params, losses=[]))
                    results[(arch, label)]['times'] += times[1:]
                    results[(arch, label)]['losses'].append(losses)
                    print(f"  {arch} round {r}: {label}: epochs {', '.join(f'{x:.1f}' for x in times)} s  (loss {losses[-1]:.3f}; "
                          f"run {time.time() - t:.0f} s)", flush=True)
        print("\n| arch | side | encoder params | s/epoch (median) | vs lightly | epochs timed |\n|---|---|---|---|---|---|")
        for arch in a.archs:
            ref = statistics.median(results[(arch, 'lightly')]['times']) if exe else None
            for label, _ in sides:
                res = results[(arch, label)]
                med = statistics.median(res['times'])
                print(f"| {arch} | {label} | {res['params']} | {med:.1f} | {f'{med / ref:.2f}' if ref else '—'} | {len(res['times'])} |")
        if a.json:
            Path(a.json).write_text(json.dumps({f"{k[0]} | {k[1]}": v for k, v in results.items()}, indent=1))


if __name__ == '__main__': main()
