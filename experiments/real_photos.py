"""Does the demo learn on real photographs too? `smallssl-demo --data` on patches of the photographs that ship with
scikit-learn and matplotlib (the only photographs available offline here).

The folder: three photographs (scikit-learn's `china.jpg` and `flower.jpg`, matplotlib's `grace_hopper.jpg`), each
cut into its four quadrants; a class is one quadrant of one photograph (12 classes). Each image is a square crop whose
side is 25-45 % of the photograph's shorter side, centred at a random point of its quadrant, resized to 64 px: 200
training and 50 validation images per class, drawn with a seeded generator. Then the demo runs on it with its defaults.

    python experiments/real_photos.py [--out runs/experiments/real_photos] [demo flags ...]
"""
import argparse, subprocess, sys
from pathlib import Path

import matplotlib, numpy as np, sklearn
from PIL import Image

PHOTOS = [Path(sklearn.__file__).parent/'datasets'/'images'/'china.jpg', Path(sklearn.__file__).parent/'datasets'/'images'/'flower.jpg',
          Path(matplotlib.get_data_path())/'sample_data'/'grace_hopper.jpg']


def photo_patches(dst:Path, n_train:int=200, n_val:int=50, size:int=64, seed:int=0)->Path:
    "Write the quadrant-patch ImageFolder (train/, val/) into `dst` once."
    dst = Path(dst)
    if (dst/'done').exists(): return dst
    rng = np.random.default_rng(seed)
    for p in PHOTOS:
        im = Image.open(p).convert('RGB'); W, H = im.size; s = min(W, H)
        for qy in range(2):
            for qx in range(2):
                cls = f"{p.stem}-{'tb'[qy]}{'lr'[qx]}"
                for split, n in (('train', n_train), ('val', n_val)):
                    (dst/split/cls).mkdir(parents=True, exist_ok=True)
                    for i in range(n):
                        side = rng.uniform(.25, .45) * s
                        cx, cy = rng.uniform(qx * W / 2, (qx + 1) * W / 2), rng.uniform(qy * H / 2, (qy + 1) * H / 2)
                        x0, y0 = np.clip(cx - side / 2, 0, W - side), np.clip(cy - side / 2, 0, H - side)
                        im.crop((round(x0), round(y0), round(x0 + side), round(y0 + side))).resize((size, size), Image.BICUBIC) \
                          .save(dst/split/cls/f"{cls}_{i:04d}.jpeg", quality=95)
    (dst/'done').write_text('')
    return dst


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='runs/experiments/real_photos')
    a, demo_flags = p.parse_known_args()
    data = photo_patches(Path(a.out)/'data')
    sys.exit(subprocess.call([str(Path(sys.executable).parent/'smallssl-demo'), '--data', str(data), '--out', str(Path(a.out)/'demo'),
                              *demo_flags]))
