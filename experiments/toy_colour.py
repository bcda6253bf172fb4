"""Is colour what makes the random encoder good at instance discrimination on the embedded scenes?

On the v3 scenes a randomly initialised ResNet-18 already finds the right image for about one static view in seven (the
issue's real photos: one in sixty), so "trained >= 3x random" asks the trained encoder for about 40 %. A random network
mostly sees colour; MoCo's colour jitter and greyscale teach the trained one to ignore it. This script measures the
demo's recipe on the v3 scenes (the baseline row, shared with `demo_recipe.py`) and on the same scenes with muted
colours: every colour the generator draws (background gradient, clutter, object) keeps its luminance but only
`--saturation` of its distance from grey, so identity has to come from layout, shapes and brightness.

    python experiments/toy_colour.py [--epochs 30] [--saturation 0.2] [--out runs/experiments]
"""
import argparse, sys, unittest.mock
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from common import recipe, run_config, table, toy
import smallssl.toy as stoy


def muted_toy(root:Path, saturation:float)->Path:
    "The embedded dataset (default sizes) drawn with colours `saturation` of the way from their grey."
    colour = stoy._colour
    def muted(rng, lum):
        c = colour(rng, lum)
        grey = c @ np.array([.299, .587, .114])
        return grey + saturation * (c - grey)
    with unittest.mock.patch.object(stoy, "_colour", muted):
        return stoy.toy_dataset(root, verbose=False)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--saturation', type=float, default=0.2)
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    out = Path(a.out)
    flags = recipe(epochs=a.epochs)
    rows = [('v3 scenes (the baseline)', run_config(f"demo-recipe-e{a.epochs}", toy('v3'), flags, out))]
    print(table(rows).splitlines()[-1], flush=True)
    data = muted_toy(out/'data'/f'muted-{a.saturation:g}', a.saturation)
    rows.append((f'v3 scenes, colours at {a.saturation:g} saturation', run_config(f"muted-{a.saturation:g}-e{a.epochs}", data, flags, out)))
    print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{a.epochs} epochs, demo recipe, one process, seed 0\n")
    print(table(rows))
