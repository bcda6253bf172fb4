#!/usr/bin/env python
"""Convert between notebooks and a plain-text "percent" form, for editing notebooks in a text editor.

    python tools/nbpct.py to-pct nbs/04_moco.ipynb   /tmp/04_moco.pct.py
    python tools/nbpct.py to-nb  /tmp/04_moco.pct.py nbs/04_moco.ipynb

Cells start with `# %%` (code) or `# %% [markdown]` (markdown; every line of its body starts with `# `). A marker may end
with `id=XXXXXXXX`, the cell's id: `to-pct` writes it and `to-nb` keeps it, and a cell whose id is already in the
destination notebook keeps the way that notebook stores its source (one string or a list of lines), so that a round trip
changes nothing but what was edited. Cells without an id get a new one. Run `nbdev_clean` after writing a notebook.
"""
import json, re, secrets, sys
from pathlib import Path

_MARK = re.compile(r'^# %%(?P<md> \[markdown\])?(?: id=(?P<id>[0-9a-zA-Z_-]+))?\s*$')

def pct_to_cells(text, old=None):
    "Cells from the percent text; `old`: id -> cell of the notebook being replaced (keeps source formats)."
    old, cells, kind, cid, lines = old or {}, [], None, None, []
    def flush():
        if kind is None: return
        while lines and not lines[-1].strip(): lines.pop()
        while lines and not lines[0].strip(): lines.pop(0)
        body = [l[2:] if l.startswith('# ') else l.lstrip('#') for l in lines] if kind == 'markdown' else lines
        src = '\n'.join(body)
        prev = old.get(cid)
        as_str = isinstance(prev['source'], str) if prev is not None and prev['cell_type'] == kind else False
        cell = {'cell_type': kind}
        if kind == 'code': cell['execution_count'] = None
        cell['id'] = cid or secrets.token_hex(4)
        cell['metadata'] = {}
        if kind == 'code': cell['outputs'] = []
        cell['source'] = src if as_str else src.splitlines(keepends=True)
        cells.append(cell)
    for line in text.splitlines():
        m = _MARK.match(line)
        if m:
            flush()
            kind, cid, lines = ('markdown' if m['md'] else 'code'), m['id'], []
        elif kind is not None: lines.append(line)
    flush()
    return cells

def to_nb(src, dst):
    dst = Path(dst)
    old = {c.get('id'): c for c in json.loads(dst.read_text())['cells']} if dst.exists() else {}
    nb = {'cells': pct_to_cells(Path(src).read_text(), old), 'metadata': {
        'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
        'nbformat': 4, 'nbformat_minor': 5}
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

def to_pct(src, dst):
    nb = json.loads(Path(src).read_text())
    out = []
    for c in nb['cells']:
        src_ = ''.join(c['source'])
        tag = f" id={c['id']}" if c.get('id') else ''
        if c['cell_type'] == 'markdown':
            out.append(f'# %% [markdown]{tag}\n' + '\n'.join(('# ' + l) if l else '#' for l in src_.splitlines()))
        else: out.append(f'# %%{tag}\n' + src_)
    Path(dst).write_text('\n\n'.join(out) + '\n')

if __name__ == '__main__':
    cmd, src, dst = sys.argv[1:4]
    {'to-nb': to_nb, 'to-pct': to_pct}[cmd](src, dst)
