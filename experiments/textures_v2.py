"""The embedded dataset before v3 (textures in two fixed grey levels), kept so that `toy_data.py` can measure both under
the same recipe. Same generator as smallssl 0.1's `toy_image`, same layout (10 classes x 200 train / 50 val, 64 px)."""
from pathlib import Path
import numpy as np
from PIL import Image

TEXTURE_CLASSES = ['blobs', 'checks', 'dashes', 'dots', 'grid', 'hexdots', 'rings', 'stripes', 'waves', 'zigzag']  # sorted, as ImageFolder labels them
_SS = 2   # patterns are drawn at 2x and box-downsampled: anti-aliased edges
GREYS = (40, 220)   # background and pattern grey levels, the same in every image

def _pattern_alpha(cls:str, rng:np.random.Generator, size:int)->np.ndarray:
    "Coverage in [0, 1] (size x size) of the texture `cls` at a random orientation, period and phase."
    W = size * _SS
    yy, xx = np.mgrid[0:W, 0:W].astype(np.float32) + .5
    rot = rng.uniform(0, 2 * np.pi); c, s = np.cos(rot), np.sin(rot)
    P = rng.uniform(.12, .2) * W           # period in (super-sampled) pixels
    u, v = (xx * c + yy * s) / P + rng.uniform(), (-xx * s + yy * c) / P + rng.uniform()   # lattice coordinates
    fu, fv = np.mod(u, 1), np.mod(v, 1)
    if cls == 'stripes': t = fu < .5
    elif cls == 'checks': t = (fu < .5) ^ (fv < .5)
    elif cls == 'dots': t = (fu - .5) ** 2 + (fv - .5) ** 2 < .08
    elif cls == 'grid': t = (fu < .18) | (fv < .18)
    elif cls == 'rings':
        cx, cy = rng.uniform(0, W, 2); t = np.mod(np.hypot(xx - cx, yy - cy) / P, 1) < .5
    elif cls == 'waves': t = np.mod(u + .3 * np.sin(np.pi * v), 1) < .5
    elif cls == 'zigzag': t = np.mod(u + .5 * np.abs(fv - .5), 1) < .5
    elif cls == 'hexdots':                  # dots on a hexagonal lattice (rows shifted by half a period)
        v2 = v * 1.1547; fu2 = np.mod(u + .5 * np.floor(v2), 1); fv2 = np.mod(v2, 1)
        t = (fu2 - .5) ** 2 + ((fv2 - .5) / 1.1547) ** 2 < .04
    elif cls == 'blobs':                    # thresholded smooth noise
        noise = rng.normal(size=(8, 8)).astype(np.float32)
        t = np.asarray(Image.fromarray(noise).resize((W, W), Image.BICUBIC)) > 0
    elif cls == 'dashes':                   # short strokes scattered at random angles
        t = np.zeros((W, W), bool)
        for _ in range(int(rng.integers(25, 40))):
            x0, y0 = rng.uniform(0, W, 2); a = rng.uniform(0, np.pi)
            across = np.abs((xx - x0) * np.sin(a) - (yy - y0) * np.cos(a))
            along = np.abs((xx - x0) * np.cos(a) + (yy - y0) * np.sin(a))
            t |= (across < .09 * P) & (along < .4 * P)
    else: raise ValueError(f"unknown toy class {cls!r}")
    m = Image.fromarray((t * 255).astype(np.uint8)).resize((size, size), Image.BOX)
    return np.asarray(m, np.float32) / 255

def toy_image(cls:str, # one of `TEXTURE_CLASSES`
              rng:np.random.Generator, # source of all randomness
              size:int=64, # width = height in pixels
             )->Image.Image:
    "Draw one toy image of class `cls`: a light texture on a dark ground, as RGB."
    lo, hi = GREYS
    grey = lo + (hi - lo) * _pattern_alpha(cls, rng, size)
    return Image.fromarray(np.clip(grey + .5, 0, 255).astype(np.uint8)).convert('RGB')


def write_textures(dst:Path, n_train:int=200, n_val:int=50, size:int=64, seed:int=0)->Path:
    "Write the texture dataset into `dst` (once): train/ and val/, one folder per class."
    dst = Path(dst)
    if (dst/'done').exists(): return dst
    for split_id, (split, n) in enumerate([('train', n_train), ('val', n_val)]):
        for c, cls in enumerate(TEXTURE_CLASSES):
            (dst/split/cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                toy_image(cls, np.random.default_rng([seed, split_id, c, i]), size).save(dst/split/cls/f"{cls}_{i:04d}.png")
    (dst/'done').write_text('')
    return dst
