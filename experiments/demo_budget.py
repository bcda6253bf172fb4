"""What learns most within the demo's ten minutes on 2 CPU cores?

On Intel Xeon cores with AVX-512 the demo's training runs at about 77 img/s (two torchrun processes, one thread each),
26 s an epoch of 2,000 images: the 30-epoch recipe needs about 13 minutes of training alone, and the evaluation
stages take about 20 s more. Twenty epochs fit. Baseline: the demo's recipe cut to 20 epochs. Each other row changes
one lever and spends about the same wall time (epochs chosen from the speeds measured on those cores with
`--epochs 2`: batch 128 ran at 100 img/s, 24 px at 88 img/s, against 77 for the baseline):

- `lr-0.015`: twice the learning rate (a shorter schedule may want a larger step);
- `batch-128`: a global batch of 128 (64 per process, lr scaled to 0.015), 26 epochs: fewer, cheaper-per-image steps;
- `24px`: 24 px images (training and the static views), 24 epochs.

Embedded textures, seed 0, measured as the demo measures (`smallssl.measure.measure`), each against its random initialisation.
The time column is wall time of training, comparable only between rows run on an otherwise idle machine.

    python experiments/demo_budget.py [--only NAME ...] [--out runs/experiments]
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, table, toy

LEVERS = {  # row -> the `TrainConfig` fields it changes from the baseline (20 epochs of the demo's recipe)
    'baseline-20-epochs': {},
    'lr-0.015': dict(lr=0.015),
    'batch-128': dict(batch_size=128, lr=0.015, epochs=26),
    '24px': dict(image_size=24, epochs=24),
}

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='*', default=None, help='rows to run (substrings of their names)')
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    data, out, rows = toy('v2'), Path(a.out), []
    for name, change in LEVERS.items():
        if a.only and not any(s in name for s in a.only): continue
        r = {'epochs': 20, **change}
        res = run_config(f"budget-{name}", data, recipe(**r), out, threads=1, nproc=2)
        rows.append((f"{name} ({r['epochs']} epochs)", res))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print("\nembedded textures, torchrun with two processes of one thread, seed 0\n")
    print(table(rows))
