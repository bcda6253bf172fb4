"""Does the demo learn more within its time budget with two torchrun processes on the two cores instead of one?

The demo trained with `torchrun --nproc_per_node=1` and one thread (`OMP_NUM_THREADS=1`) until this measurement (now
`--nproc 2`): on a 2-core machine one core computed and the other only decoded images. Two processes of one thread
each split the global batch of 64 (32 per process, shuffle-BN over each process's half) and use both cores. Rows: one
process and two processes (`--nproc`), each for `--epochs` epochs. Embedded textures, seed 0, measured as the demo measures (`smallssl.measure.measure`). The
time column is wall time of training and is only comparable between rows run on an otherwise idle machine.

    python experiments/demo_processes.py [--epochs 30] [--nproc 1 2] [--out runs/experiments]
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, table, toy

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--nproc', type=int, nargs='+', default=[1, 2], choices=[1, 2], help='rows to run: torchrun processes')
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    data, out, rows = toy('v2'), Path(a.out), []
    for nproc in a.nproc:
        res = run_config(f"textures-nproc{nproc}-e{a.epochs}", data, recipe(epochs=a.epochs), out, threads=1, nproc=nproc)
        rows.append((f"{nproc} process{'es' if nproc > 1 else ''}, {a.epochs} epochs", res))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print("\nembedded textures, torchrun, one thread per process, global batch 64, seed 0\n")
    print(table(rows))
