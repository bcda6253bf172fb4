"""Which lever widens the demo's instance-discrimination margin at the same cost?

Baseline: the demo as it runs (`smallssl.train.SMALL_RECIPE`: 30 epochs, batch 64, lr 0.0075, T 0.1; torchrun,
one process, one thread), the row `textures-nproc1-e30` shared with `demo_processes.py`. Each other row changes one
lever: the temperature of MoCo v2's ImageNet recipe (0.2), and a batch of 32 with the learning rate scaled with it
for 25 epochs (more, smaller steps: 1,550 instead of 930, for about the same compute on 2 cores; the queue stays 1,024
keys). Embedded textures, seed 0, measured as the demo measures (`smallssl.measure.measure`).

    python experiments/demo_margin.py [--only NAME ...] [--out runs/experiments]
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, table, toy

LEVERS = {'textures-nproc1-e30': ({}, 'the demo as it runs'),
          'textures-t0.2-e30': (dict(moco_t=0.2), 'temperature 0.2 (MoCo v2)'),
          'textures-b32-e25': (dict(batch_size=32, lr=0.00375, epochs=25), 'batch 32, lr 0.00375, 25 epochs')}

def flags(name): return recipe(**LEVERS[name][0])

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='+', choices=list(LEVERS), help='run only these rows (the others are read from the cache)')
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    data, out, rows = toy('v2'), Path(a.out), []
    for name in a.only or LEVERS:
        rows.append((f"{name} ({LEVERS[name][1]})", run_config(name, data, flags(name), out, threads=1, nproc=1)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print("\nembedded textures, torchrun, one process, one thread, seed 0\n")
    print(table(rows))
