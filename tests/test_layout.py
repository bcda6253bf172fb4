"The project layout users were promised: one quarto configuration, the README generated from index.ipynb."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_one_quarto_config():
    top, nbs = ROOT/'_quarto.yml', ROOT/'nbs'/'_quarto.yml'
    assert top.is_file() and not top.is_symlink(), "the top-level _quarto.yml is the real file"
    assert nbs.is_symlink() and nbs.resolve() == top.resolve(), "nbs/_quarto.yml (read by nbdev 2) links to it"
    assert 'metadata-files' in top.read_text()

def test_readme_is_generated_from_index(tmp_path):
    out = tmp_path/'README.md'
    subprocess.run([sys.executable, str(ROOT/'tools'/'mkreadme.py'), str(ROOT/'nbs'/'index.ipynb'), str(out)], check=True)
    assert out.read_text() == (ROOT/'README.md').read_text(), "README.md is stale: run tools/mkreadme.py (make sync-check)"
    assert 'make demo' in out.read_text() and 'make test' in out.read_text()


def _imports(path:Path)->set:
    "The smallssl modules a module imports, at the top or inside functions (relative or absolute)."
    import ast
    out = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom):
            if n.level == 1: out |= {n.module} if n.module else {a.name for a in n.names}
            elif (n.module or '').startswith('smallssl.'): out.add(n.module.split('.')[1])
            elif n.module == 'smallssl': out |= {a.name for a in n.names}
        elif isinstance(n, ast.Import): out |= {a.name.split('.')[1] for a in n.names if a.name.startswith('smallssl.')}
    return out

def test_chapters_form_no_cycle():
    "One import direction: no module imports itself through others (late imports count); the maths import only core."
    mods = {p.stem: p for p in (ROOT/'smallssl').glob('*.py') if not p.stem.startswith('_')}
    graph = {m: _imports(p) & set(mods) - {m} for m, p in mods.items()}
    def reach(m, seen):
        for u in graph[m]:
            assert u not in seen, f"import cycle: {' -> '.join(seen + [u])}"
            reach(u, seen + [u])
    for m in graph: reach(m, [m])
    assert graph['metrics'] == {'core'} and graph['knn'] == {'core'}, (graph['metrics'], graph['knn'])
    assert graph['features'] == {'core'}, graph['features']   # the feature-file format sits below extraction
