"""A plain install works: `pip install .` without the development extras, in a fresh virtual environment.

Every module imports, every console script answers `--help`, and the two commands that need the extras
(`smallssl-docs`, `smallssl-lab`), and `smallssl-train --tensorboard`, say in one line which extra to install and exit 2,
without a traceback. The new
environment gets the same torch build as this one, from pip's cache (no download where the cache has it). A few
minutes on 2 CPU cores, most of it copying the torch wheel."""
import configparser, os, subprocess, sys
from pathlib import Path

import pytest, torch, torchvision

ROOT = Path(__file__).resolve().parents[1]


def _scripts():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return [l.split('=')[0].strip() for l in cfg['DEFAULT']['console_scripts'].splitlines() if l.strip()]


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    env = tmp_path_factory.mktemp('plain')/'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(env)], check=True)
    py = env/'bin'/'python'
    pins = [f"torch=={torch.__version__.split('+')[0]}", f"torchvision=={torchvision.__version__.split('+')[0]}"]
    for what in (pins, [str(ROOT)]):
        p = subprocess.run([str(py), '-m', 'pip', 'install', '-q', *what], capture_output=True, text=True, timeout=1800)
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return env


def _run(env, *cmd, timeout=300):
    return subprocess.run([str(env/'bin'/cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), cwd=env.parent)


def test_no_dev_extras(plain):
    p = _run(plain, 'python', '-c', "import importlib.util as u; print([m for m in ('nbdev', 'execnb', 'jupyterlab') if u.find_spec(m)])")
    assert p.stdout.strip() == '[]', p.stdout   # the environment really lacks the extras


def test_every_module_imports(plain):
    mods = sorted(f"smallssl.{f.stem}" for f in (ROOT/'smallssl').glob('*.py') if f.stem != '__init__')
    p = _run(plain, 'python', '-c', f"import importlib; [importlib.import_module(m) for m in {mods!r}]; print('ok')")
    assert p.returncode == 0 and p.stdout.strip() == 'ok', p.stderr[-3000:]


@pytest.mark.parametrize('name', _scripts())
def test_help(plain, name):
    p = _run(plain, name, '--help')
    assert p.returncode == 0 and 'usage' in p.stdout.lower(), p.stderr[-2000:]


@pytest.mark.parametrize('name', ['smallssl-docs', 'smallssl-lab'])
def test_extras_named(plain, name):
    p = _run(plain, name)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and 'Traceback' not in p.stderr, p.stderr
    assert lines[0].startswith(f"{name}: error: needs the development extras") and 'pip install "smallssl[dev]"' in lines[0], lines[0]


def test_tensorboard_extra_named(plain):
    "`smallssl-train --tensorboard` without the tensorboard package: one line naming the extra, exit 2, before any work."
    p = _run(plain, 'python', '-c', "import importlib.util as u; print(bool(u.find_spec('tensorboard')))")
    assert p.stdout.strip() == 'False', p.stdout
    p = _run(plain, 'smallssl-train', '--tensorboard', '--ckpt-dir', 'never')
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and 'Traceback' not in p.stderr, p.stderr
    assert lines[0] == 'smallssl-train: error: --tensorboard needs the tensorboard package: pip install "smallssl[tensorboard]"', lines
    assert not (plain.parent/'never').exists()
