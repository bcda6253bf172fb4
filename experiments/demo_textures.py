"""How much margin does the demo have on its data, the embedded textures, and which lever widens it?

Baseline: the demo's recipe (`smallssl.train.SMALL_RECIPE`, 30 epochs) on `toy_dataset(kind='textures')`, the
row `textures-v2-e30` shared with `toy_data.py --epochs 30`. Each other row changes one lever: weight decay 5e-4
(MoCo's CIFAR-10 demo; the best row on the scenes), and a batch of 128 with the learning rate scaled with it (the queue
stays 1,024 keys, below the 2,000 images; fewer, larger steps: more images per second on 2 cores). Measured as the demo
measures, against the same network at random initialisation; the demo's bar is instance discrimination >= 3x random
and +3 points, best-NN +10 points.

    python experiments/demo_textures.py [--epochs 30] [--out runs/experiments]
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, table, toy

LEVERS = {'textures-v2': ({}, 'the baseline'),
          'textures-wd-5e-4': (dict(weight_decay=5e-4), "MoCo's CIFAR-10 demo weight decay"),
          'textures-b128': (dict(batch_size=128, lr=0.015), 'batch 128, lr 0.015, K 1024')}

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    data, out, rows = toy('v2'), Path(a.out), []
    for name, (change, note) in LEVERS.items():
        rows.append((f"{name} ({note})", run_config(f"{name}-e{a.epochs}", data, recipe(**{'epochs': a.epochs, **change}), out)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{a.epochs} epochs, embedded textures, one process, seed 0\n")
    print(table(rows))
