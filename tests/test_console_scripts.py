"Every console script in settings.ini is installed, answers --help, and exits 0 after a successful run."
import configparser, os, subprocess, sys
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _scripts():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return [l.split('=')[0].strip() for l in cfg['DEFAULT']['console_scripts'].splitlines() if l.strip()]

def _env(): return dict(os.environ, OMP_NUM_THREADS='1')

@pytest.mark.parametrize('name', _scripts())
def test_help(name):
    exe = BIN/name
    assert exe.exists(), f"{name} is not installed: pip install -e ."
    p = subprocess.run([str(exe), '--help'], capture_output=True, text=True, timeout=300, env=_env())
    assert p.returncode == 0, p.stderr
    assert 'usage' in p.stdout.lower()

def test_success_exits_zero(tmp_path):
    "A console script runs `sys.exit(main())`: a successful run must exit 0 and print only its own lines."
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 5
    ytr, yte = torch.arange(30) % 3, torch.arange(9) % 3
    feats = dict(train_features=centres[ytr] + torch.randn(30, 8, generator=g), train_labels=ytr,
                 test_features=centres[yte] + torch.randn(9, 8, generator=g), test_labels=yte,
                 meta={'arch': 'none', 'checkpoint': 'synthetic'})
    torch.save(feats, tmp_path/'f.pt')
    p = subprocess.run([str(BIN/'smallssl-knn'), '--features', str(tmp_path/'f.pt'), '-k', '5', '--json', str(tmp_path/'r.json')],
                       capture_output=True, text=True, timeout=300, env=_env())
    assert p.returncode == 0, p.stderr
    assert 'best-NN=100.00%' in p.stdout, p.stdout   # well-separated clusters: every test point is classified right
    assert "{'" not in p.stdout + p.stderr, "the result dict leaked to the terminal"
