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
