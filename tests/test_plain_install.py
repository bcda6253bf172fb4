"""A plain install works: `pip install .` without the development extras, in a fresh virtual environment.

Every module imports, every console script answers `--help`, and the two commands that need the extras
(`smallssl-docs`, `smallssl-lab`) say in one line which extra to install and exit 2, without a traceback. The new
environment sees this environment's torch and torchvision (and what they require) through links in a folder named by a
`.pth` file, not a copy: a CUDA build of torch takes over 5 GB, more than a CI machine's disk may have to spare. Every
other requirement of smallssl is installed by pip from its declaration, which is what the test is about."""
import importlib.metadata as md, os, shutil, subprocess, sys, sysconfig
from pathlib import Path

import pytest, torch, torchvision

from support import console_scripts

ROOT = Path(__file__).resolve().parents[1]


def _torch_dists()->set:
    "The installed distributions torch and torchvision need at run time (with the extras they ask for), recursively."
    from packaging.requirements import Requirement
    seen, todo = set(), [('torch', ()), ('torchvision', ())]
    while todo:
        name, extras = todo.pop()
        try: dist = md.distribution(name)
        except md.PackageNotFoundError: continue   # a requirement for another platform
        if (dist.metadata['Name'].lower(), extras) in seen: continue
        seen.add((dist.metadata['Name'].lower(), extras))
        for r in map(Requirement, dist.requires or []):
            if r.marker is None or any(r.marker.evaluate({'extra': e}) for e in ('', *extras)):
                todo.append((r.name, tuple(sorted(r.extras))))
    return {name for name, _ in seen} - {'setuptools'}   # the new environment has its own


def _link_torch(env:Path, folder:Path):
    "Link the top-level entries of those distributions (packages, modules, .dist-info) into `folder`, named by a .pth in `env`."
    folder.mkdir()
    site = Path(sysconfig.get_paths()['purelib'])
    for name in _torch_dists():
        for top in {f.parts[0] for f in md.distribution(name).files or [] if f.parts[0] not in ('..', '__pycache__')}:
            if not (folder/top).exists() and not top.endswith('.pth') and (site/top).exists(): (folder/top).symlink_to(site/top)
    purelib = subprocess.run([str(env/'bin'/'python'), '-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib)/'torch-of-the-test-environment.pth').write_text(f"{folder}\n")


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('plain')
    env = tmp/'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(env)], check=True)
    _link_torch(env, tmp/'torch-links')
    py = env/'bin'/'python'
    p = subprocess.run([str(py), '-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'],
                       capture_output=True, text=True)
    assert p.stdout.split() == [torch.__version__, torchvision.__version__], p.stdout + p.stderr[-2000:]
    p = subprocess.run([str(py), '-m', 'pip', 'install', '-q', str(ROOT)], capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    yield env
    shutil.rmtree(tmp, ignore_errors=True)   # 400 MB


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


@pytest.mark.parametrize('name', list(console_scripts()))
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
