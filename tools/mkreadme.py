#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb without quarto: markdown cells as they are, visible code cells
as fenced Python (cells with `#| hide` or `#| echo: false` left out, `#|` lines dropped), with their
committed text outputs. With quarto installed, `nbdev_readme` does the same job."""
import json, sys
from pathlib import Path

def readme(nb_path='nbs/index.ipynb', out='README.md'):
    nb = json.loads(Path(nb_path).read_text())
    parts = ['<!-- generated from nbs/index.ipynb by tools/mkreadme.py: edit the notebook, not this file -->']
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            parts.append(src.strip())
            continue
        lines = src.splitlines()
        flags = {l[3:].strip() for l in lines if l.startswith('#|')}
        if {'hide', 'echo: false', 'include: false'} & flags: continue
        code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if code: parts.append(f'```python\n{code}\n```')
    Path(out).write_text('\n\n'.join(parts) + '\n')

if __name__ == '__main__': readme(*sys.argv[1:])
