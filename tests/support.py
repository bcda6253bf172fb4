"""Helpers shared by the tests in this folder and by the chapters' test cells (which import it from ../tests)."""
import contextlib, io
from pathlib import Path

import numpy as np
from PIL import Image


def run_main(fn, argv:list)->tuple:
    "Call a command's entry point (`main`, a parser's `parse_args`, ...) on `argv`; returns (exit status, stdout, stderr)."
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: fn(argv)
        except SystemExit as e: code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def image_folder(root, # where to write (created)
                 splits=('train', 'val'), # one sub-folder per split; () for a single <root>/<class>/<image> folder
                 n=8, # images per class and split (an int, or one int per split)
                 size=40, # image height in pixels (the width is `size + 8`: not square, so crops matter)
                 classes=('red', 'green', 'blue'), # class folder names; class i is the one whose colour channel i % 3 dominates
                 seed=0, # the noise
                 ext='.png', # image format by file suffix ('.jpg' for a lossy one)
                )->Path:
    "A tiny ImageFolder of noisy images whose dominant colour channel gives the class; files are named im00, im01, ..."
    rng, root = np.random.default_rng(seed), Path(root)
    counts = [n] * max(1, len(splits)) if isinstance(n, int) else list(n)
    for split, count in zip(splits or [''], counts):
        for c, name in enumerate(classes):
            d = root/split/name; d.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                a = rng.integers(0, 70, (size, size + 8, 3)); a[..., c % 3] += 180
                Image.fromarray(a.astype(np.uint8)).save(d/f"im{i:02d}{ext}")
    return root
