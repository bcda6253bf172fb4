#!/usr/bin/env python
"""Convert between notebooks and a plain-text "percent" form, for editing notebooks in a text editor.

    python tools/nbpct.py to-nb  nbs/03_moco.pct.py  nbs/03_moco.ipynb
    python tools/nbpct.py to-pct nbs/03_moco.ipynb   /tmp/03_moco.pct.py

Cells start with `# %%` (code) or `# %% [markdown]` (markdown; every line of its body starts with `# `).
Run `nbdev_clean` after writing a notebook.
"""
import json, sys
from pathlib import Path

def pct_to_cells(text):
    cells, kind, lines = [], None, []
    def flush():
        if kind is None: return
        while lines and not lines[-1].strip(): lines.pop()
        while lines and not lines[0].strip(): lines.pop(0)
        if kind == 'markdown': body = [l[2:] if l.startswith('# ') else l.lstrip('#') for l in lines]
        else: body = lines
        src = '\n'.join(body)
        cell = {'cell_type': kind, 'metadata': {}, 'source': src.splitlines(keepends=True)}
        if kind == 'code': cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    for line in text.splitlines():
        if line.startswith('# %%'):
            flush()
            kind, lines = ('markdown' if '[markdown]' in line else 'code'), []
        elif kind is not None: lines.append(line)
    flush()
    return cells

def to_nb(src, dst):
    nb = {'cells': pct_to_cells(Path(src).read_text()), 'metadata': {
        'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
        'nbformat': 4, 'nbformat_minor': 5}
    Path(dst).write_text(json.dumps(nb, indent=1) + '\n')

def to_pct(src, dst):
    nb = json.loads(Path(src).read_text())
    out = []
    for c in nb['cells']:
        src_ = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            out.append('# %% [markdown]\n' + '\n'.join(('# ' + l) if l else '#' for l in src_.splitlines()))
        else: out.append('# %%\n' + src_)
    Path(dst).write_text('\n\n'.join(out) + '\n')

if __name__ == '__main__':
    cmd, src, dst = sys.argv[1:4]
    {'to-nb': to_nb, 'to-pct': to_pct}[cmd](src, dst)
