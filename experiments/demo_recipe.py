"""Which settings let the demo's MoCo run learn to tell images apart on 2 CPU cores?

Baseline: the demo's recipe (`smallssl.train.SMALL_RECIPE`) on the embedded dataset, one process, for `--epochs`
epochs (8 by default: a screening length; the demo itself trains 30). Each other row changes one lever back to what
the demo used before or to the paper's value, everything else as the baseline. Each row trains with `smallssl-train`
and is measured as the demo measures (precise BN on 2,000 training images, best-NN over odd k <= 21 in norm space,
instance discrimination d-sd on MoCo v2 static views of val), against the same network at random initialisation.

    python experiments/demo_recipe.py [--epochs 8] [--out runs/experiments]

Prints a Markdown table; results are cached per row in OUT (delete a row's folder to rerun it). About 3 minutes a row
on 2 cores (the time column is only comparable between rows run on an idle machine).
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, table, toy

LEVERS = {  # row -> the `TrainConfig` fields it changes
    'demo-recipe': {},
    'mobilenetv3-small': dict(arch='mobilenetv3_small', stem=None),
    'improved-augmentation': dict(aug='improved'),
    'key-momentum-0.999': dict(moco_m=0.999),
    'one-sided-loss': dict(symmetric=False),
    'lr-0.03': dict(lr=0.03),
    'weight-decay-5e-4': dict(weight_decay=5e-4),
}
NOTES = {'demo-recipe': 'the baseline', 'mobilenetv3-small': 'the earlier demo\'s encoder, small-image stem',
         'improved-augmentation': "the paper's: cj 1, greyscale 0.5", 'key-momentum-0.999': "the paper's",
         'one-sided-loss': "the paper's: without --symmetric", 'lr-0.03': "the reference's default lr, 4x the scaled one",
         'weight-decay-5e-4': "MoCo's CIFAR-10 demo"}

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--out', default='runs/experiments')
    p.add_argument('--only', nargs='*', default=None, help='rows to run (substrings of their names)')
    a = p.parse_args()
    data, out = toy('v3'), Path(a.out)
    rows = []
    for name, change in LEVERS.items():
        if a.only and not any(s in name for s in a.only): continue
        rows.append((f"{name} ({NOTES[name]})", run_config(f"{name}-e{a.epochs}", data, recipe(**{'epochs': a.epochs, **change}), out)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{a.epochs} epochs, embedded dataset (2,000 train / 500 val images, 32 px), one process, seed 0\n")
    print(table(rows))
