"""Does the embedded dataset let MoCo learn individuals? The textures of v2 against the scenes of v3, same recipe.

Both datasets have 10 classes, 2,000 training and 500 validation images of 64 px. Each is trained with the demo's recipe
(`smallssl.train.SMALL_RECIPE`, `--epochs` epochs, one process) and measured as the demo measures, against the
same network at random initialisation. The v2 textures are `smallssl.data.toy_dataset(kind='textures')`.

    python experiments/toy_data.py [--epochs 8] [--out runs/experiments]   (shares the baseline row of demo_recipe.py)

The demo's 30 epochs: --epochs 30.
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, table, toy

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=8)
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    out = Path(a.out)
    flags = recipe(epochs=a.epochs)
    rows = []
    for name, version, run in [('v2: textures in two grey levels', 'v2', 'textures-v2'),
                               ('v3: scenes (main object, clutter, colour)', 'v3', 'demo-recipe')]:
        rows.append((name, run_config(f"{run}-e{a.epochs}", toy(version), flags, out)))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{a.epochs} epochs, demo recipe, one process, seed 0\n")
    print(table(rows))
