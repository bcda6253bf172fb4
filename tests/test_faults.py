"""Faults and damaged files: every file a command reads, damaged every way; every writer killed in the middle of a write;
a disk that fills up.

1. The damage matrix (fast). `READERS` names, for each kind of file a command reads, the command that reads it;
   `DAMAGES` says how a file is damaged (cut at three places, random bytes, a valid file of the wrong kind or structure,
   NaN or inf among its numbers, a code-executing pickle, zero bytes, a folder in its place). Every applicable pair is one
   case: the command runs in this process (`main(argv)`, as its console script does) on a private copy of its inputs with
   the one file damaged, and must answer as `expected` says. Mostly that is an error: exit status 2, exactly one line on
   stderr that names the damaged file and says what to do, no traceback, and every file that was there before unchanged.
   Where the design says otherwise the table says so: a damaged image or static view is left out and named (the run goes
   on, its count one less), a damaged file-index cache is rebuilt, and `config.json`, which no command reads, is
   rewritten by a resumed run.
2. Interrupted writes (slow). Each writer runs in a subprocess whose `sitecustomize` (`FAULTS_SITE`) makes one write stop
   halfway through its bytes and wait; the test kills the process group with SIGKILL at that moment, checks that the half
   file sits under a temporary name only, that every file under a final name is complete, and that rerunning the command
   (or `--resume`) ends exactly where an uninterrupted run ends. The same hook, in a recording mode, lists every file a
   run writes: each must be written under a temporary name and renamed.
3. A full disk (slow, root only): a 70 MB tmpfs as `--ckpt-dir` of a MobileNetV3-Small run whose second 49 MB checkpoint
   does not fit.
4. The four cases of issue 33 through the installed console scripts.

    pytest tests/test_faults.py -m 'not slow'   # the matrix (270 cases of a second or two) and the console-script cases
    pytest tests/test_faults.py -m slow         # the interrupted writes, the full disk and the demo (about 13 minutes on 2 cores)
"""
import hashlib, importlib, json, os, pickle, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pytest, torch

from support import console_scripts, image_folder, write_resnet_layouts

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMANDS = console_scripts()   # console script -> (module, function)
R18 = ['-a', 'resnet18', '--image-size', '32', '-j', '0']
MNV3 = ['-a', 'mobilenetv3_small', '--image-size', '32', '-j', '0']
TRAIN = [*MNV3, '-b', '4', '--moco-k', '8', '--mlp', 'none', '--seed', '0']   # a MoCo run small enough for every case
REMEDY = ('re-copy', 'rerun', 'write it again', 'write one with', 'write the views again', 'extract them again', 'delete ',
          'resume from', 'use another', 'use an earlier', 'choose another', 'check the', 'free some space', 're-create', 'restore',
          'give the', 'remove ', 'pass --', 'start again', 'train into another', 'name it with', 'save the', 'keep its weights', 'pass it with')   # an error line says what to do: one of these


# ---- shared inputs ------------------------------------------------------------------------------------------------------

def _write_cifar(root, n_train=10, n_test=6, seed=0):
    "A tiny CIFAR-10 folder in torchvision's on-disk layout (pickled dicts of uint8 rows), labels cycling over 3 classes."
    rng, d = np.random.default_rng(seed), Path(root)/'cifar-10-batches-py'
    d.mkdir(parents=True)
    def batch(n, name):
        y = np.arange(n) % 3
        x = rng.integers(0, 90, (n, 3, 32, 32)); x[np.arange(n), y] += 150
        return {b'batch_label': name.encode(), b'labels': [int(v) for v in y], b'data': x.reshape(n, -1).astype(np.uint8),
                b'filenames': [f'{i}.png'.encode() for i in range(n)]}
    for i in range(1, 6): (d/f'data_batch_{i}').write_bytes(pickle.dumps(batch(n_train // 5, f'data_batch_{i}'), protocol=2))
    (d/'test_batch').write_bytes(pickle.dumps(batch(n_test, 'test_batch'), protocol=2))
    (d/'batches.meta').write_bytes(pickle.dumps({b'label_names': [f'c{i}'.encode() for i in range(10)]}, protocol=2))
    return Path(root)


@pytest.fixture(scope='module')
def fx(tmp_path_factory):
    "Every input a case copies and damages (never written by a case: checked at the end)."
    threads = torch.get_num_threads(); torch.set_num_threads(1)   # tiny models; the machine is shared
    d = tmp_path_factory.mktemp('faults')
    mp = pytest.MonkeyPatch()
    mp.setenv('SMALLSSL_CACHE', str(d/'cache'))   # the file-index cache of these inputs stays here
    f = dict(imgs=image_folder(d/'imgs', n=(6, 3), classes=('a', 'b')),
             caltech=image_folder(d/'caltech', splits=('train', 'test'), n=(6, 3), classes=('a', 'b')),
             cifar=_write_cifar(d/'cifar'))
    quiet = lambda script, argv: _call(script, [str(a) for a in argv])
    # our own checkpoint and run folder: a MoCo run of one epoch
    assert quiet('smallssl-train', [f['imgs'], *TRAIN, '--epochs', '1', '--ckpt-dir', d/'run']) == 0
    f['run'] = d/'run'; f['ours'] = d/'run'/'checkpoint_0000.pth.tar'
    # a linear-evaluation checkpoint of one epoch
    assert quiet('smallssl-lincls', [f['imgs'], *MNV3, '--epochs', '1', '-b', '4', '--out-dir', d/'lc']) == 0
    f['lincls-ckpt'] = d/'lc'/'lincls_checkpoint.pth.tar'
    # the other codebases' layouts (ResNet-18), written as they write them (tests/support.py)
    import torchvision
    torch.manual_seed(0)
    lay = write_resnet_layouts(d/'layouts', torchvision.models.resnet18(), torchvision.models.resnet18())
    for k in ('moco-v2', 'seed', 'torchvision', 'dino', 'moco-v3', 'solo-learn', 'lightly backbone'): f[k] = lay[k]
    f['seed-legacy'] = d/'layouts'/'seed_legacy.pth'   # SEED's files come from torch < 1.6: the legacy (non-zip) format
    torch.save(torch.load(lay['seed'], weights_only=True), f['seed-legacy'], _use_new_zipfile_serialization=False)
    for p in d.glob('layouts/*.pth'):
        if p not in [f[k] for k in f if isinstance(f[k], Path)]: p.unlink()   # keep only what the cases read
    # feature files of both kinds and a static-views folder
    assert quiet('smallssl-sample-augs', [f['imgs']/'val', d/'static', '--image-size', '32', '-j', '0', '--images-per-class', '3',
                                          '--preview', 'none']) == 0
    f['static'] = d/'static'
    assert quiet('smallssl-extract', [f['imgs'], *R18, '--knn', '-o', d/'knn.pt']) == 0
    assert quiet('smallssl-extract', [*R18, '--static', f['static'], '-o', d/'static.pt']) == 0
    f['knn-feats'], f['static-feats'] = d/'knn.pt', d/'static.pt'
    f['root'] = d
    snap = _snapshot(d, skip='cache')
    yield f
    torch.set_num_threads(threads); mp.undo()
    assert _snapshot(d, skip='cache') == snap, "a case changed one of the shared inputs"


def _snapshot(root:Path, skip:str|None=None)->dict:
    "Path -> content hash (or 'dir') of everything under `root` (an entry named `skip` left out)."
    out = {}
    for p in sorted(root.rglob('*')):
        rel = p.relative_to(root)
        if skip and skip in rel.parts: continue
        out[str(rel)] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else 'dir'
    return out


def _call(script:str, argv:list)->int:
    "Run `script`'s main in this process; its exit status."
    mod, fn = COMMANDS[script]
    main = getattr(importlib.import_module(mod), fn)
    old = sys.argv
    sys.argv = [script, *argv]
    try: main(argv); return 0
    except SystemExit as e: return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally: sys.argv = old


def _lines(text:str)->list:
    "The non-blank lines of `text` as a terminal shows them (a progress bar redrawn with carriage returns is one line)."
    return [l.split('\r')[-1] for l in text.split('\n') if l.split('\r')[-1].strip()]


def _load(path:Path):
    "torch.load with weights_only=True, allowing the argparse.Namespace DINO stores its flags in."
    import argparse
    with torch.serialization.safe_globals([argparse.Namespace]): return torch.load(path, weights_only=True)


def _run(script:str, argv:list, capfd)->tuple:
    "(exit status, stdout, stderr) of `script`'s main run in this process."
    capfd.readouterr()
    code = _call(script, argv)
    out, err = capfd.readouterr()
    return code, out, err


# ---- the damages ------------------------------------------------------------------------------------------------------

def _tensor_file(p:Path)->bool:
    return p.suffix in ('.pt', '.pth', '.tar')


def _poison(obj, value:float)->bool:
    "Set one element of the first weight (or feature) tensor of every dict in `obj` to `value`; True if one was found."
    if not isinstance(obj, dict): return False
    done = False
    for k, v in obj.items():
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel() > 1 and any(
                w in str(k) for w in ('weight', 'features', 'views')):
            v[(0,) * v.dim()] = value; done = True; break
    for v in obj.values(): done = _poison(v, value) or done
    return done


def _restructure(obj):
    "The same file with its weights (or features) as a list instead of a dict of tensors."
    holders = [k for k, v in obj.items() if isinstance(v, dict) and any(isinstance(t, torch.Tensor) for t in v.values())]
    if holders: return {**obj, holders[0]: list(obj[holders[0]].values())}
    return list(obj.values())


class _Evil:
    "Unpickling this creates a folder: a stand-in for code a pickle runs."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.makedirs, (str(self.marker),))


def damage(path:Path, how:str, kind:str):
    "Damage the file at `path` in place, one of `DAMAGES`."
    data = path.read_bytes()
    cut = {'cut10': len(data) // 10, 'cut50': len(data) // 2, 'cut-end': len(data) - max(2, len(data) // 100)}
    if how in cut: path.write_bytes(data[:cut[how]])
    elif how == 'random': path.write_bytes(np.random.default_rng(0).integers(0, 256, min(len(data), 65536), dtype=np.uint8).tobytes())
    elif how == 'zero': path.write_bytes(b'')
    elif how == 'dir': path.unlink(); path.mkdir(); (path/'stray.txt').write_text('a folder where a file belongs')
    elif how == 'evil': torch.save({'epoch': 1, 'state_dict': {}, 'payload': _Evil(path.parent/'PWNED')}, path)
    elif how in ('nan', 'inf'):
        obj = _load(path)
        assert _poison(obj, float(how)), f"nothing to poison in {path}"
        torch.save(obj, path)
    elif how == 'wrong-kind':   # a valid file of another kind
        if kind == 'json': path.write_text('[1, 2, 3]\n')
        elif kind == 'jsonl': path.write_text('{"step": 0, "loss": 1.0}\n')
        elif kind == 'pickle': path.write_bytes(pickle.dumps({b'something': [1, 2, 3]}, protocol=2))
        else:
            other = {'knn-feats': 'static', 'static-feats': 'knn'}.get(kind, 'knn')
            g = torch.Generator().manual_seed(0)
            torch.save(dict(views=torch.randn(3, 6, 8, generator=g), labels=torch.arange(6) % 2, meta={}) if other == 'static' else
                       dict(train_features=torch.randn(12, 8, generator=g), train_labels=torch.arange(12) % 2,
                            test_features=torch.randn(6, 8, generator=g), test_labels=torch.arange(6) % 2, meta={}), path)
    elif how == 'wrong-struct': torch.save(_restructure(_load(path)), path)
    elif how == 'tensor': torch.save(torch.zeros(4, 4), path)
    else: raise ValueError(how)


TENSOR_DAMAGES = ('cut10', 'cut50', 'cut-end', 'random', 'wrong-kind', 'wrong-struct', 'tensor', 'nan', 'inf', 'evil', 'zero', 'dir')
TEXT_DAMAGES = ('cut10', 'cut50', 'cut-end', 'random', 'wrong-kind', 'zero', 'dir')
IMAGE_DAMAGES = ('cut10', 'cut50', 'random', 'zero', 'dir')

# ---- the table -------------------------------------------------------------------------------------------------------
# (id, kind, where the file is, script, argv, damages, expected)
#   kind: what the file is (picks the 'wrong-kind' damage); where: a key of `fx` (a file, copied), or (key of a folder of
#   `fx`, path of the file inside it): the folder is copied and `{src}` names the copy;
#   argv: `{file}` the damaged file, `{src}` the copied folder, `{out}` an empty folder for outputs, other `{key}`s are `fx`'s;
#   expected: 'error', or a dict damage -> outcome for the exceptions ('skip', 'rebuilt', 'rewritten').
READERS = [
    # checkpoints: ours, MoCo's, SEED's (zip and legacy format), plain state dicts, the peers', a linear-evaluation one
    ('train-resume-ours', 'ckpt', 'ours', 'smallssl-train', ['{imgs}', *TRAIN, '--epochs', '2', '--resume', '{file}',
                                                            '--ckpt-dir', '{out}/ck'], TENSOR_DAMAGES, 'error'),
    ('train-resume-auto-ours', 'ckpt', ('run', 'checkpoint_0000.pth.tar'), 'smallssl-train',
     ['{imgs}', *TRAIN, '--epochs', '2', '--resume', 'auto', '--ckpt-dir', '{src}'], TENSOR_DAMAGES, 'error'),
    ('knn-pretrained-ours', 'ckpt', 'ours', 'smallssl-knn', ['{imgs}', *MNV3, '-k', '1', '--pretrained', '{file}'],
     TENSOR_DAMAGES, 'error'),
    ('lincls-pretrained-moco', 'ckpt', 'moco-v2', 'smallssl-lincls', ['{imgs}', *R18, '--epochs', '1', '-b', '4',
                                                                     '--pretrained', '{file}', '--out-dir', '{out}/lc'],
     TENSOR_DAMAGES, 'error'),
    ('convert-seed', 'ckpt', 'seed', 'smallssl-convert-seed', ['{file}', '-o', '{out}/c.pth'], TENSOR_DAMAGES, 'error'),
    ('convert-seed-legacy', 'ckpt', 'seed-legacy', 'smallssl-convert-seed', ['{file}', '-o', '{out}/c.pth'],
     TENSOR_DAMAGES, 'error'),
    ('train-pretrained-seed', 'ckpt', 'seed', 'smallssl-train', ['{imgs}', *R18, '-b', '4', '--moco-k', '8', '--epochs', '1',
                                                                '--pretrained', '{file}', '--ckpt-dir', '{out}/ck'],
     ('cut50', 'random', 'wrong-struct', 'nan', 'evil', 'zero', 'dir'), 'error'),
    ('transfer-pretrained-torchvision', 'ckpt', 'torchvision', 'smallssl-transfer',
     ['{caltech}', '--dataset', 'caltech101', *R18, '--epochs', '1', '-b', '4', '--pretrained', '{file}', '--out-dir', '{out}/tr'],
     TENSOR_DAMAGES, 'error'),
    ('extract-pretrained-dino', 'ckpt', 'dino', 'smallssl-extract', ['{imgs}', *R18, '--split', 'val', '--pretrained', '{file}',
                                                                    '-o', '{out}/f.pt'],
     ('cut50', 'random', 'wrong-struct', 'nan', 'inf', 'zero'), 'error'),
    ('extract-pretrained-moco-v3', 'ckpt', 'moco-v3', 'smallssl-extract', ['{imgs}', *R18, '--split', 'val',
                                                                          '--pretrained', '{file}', '-o', '{out}/f.pt'],
     ('cut50', 'random', 'wrong-struct', 'nan', 'zero'), 'error'),
    ('extract-pretrained-solo-learn', 'ckpt', 'solo-learn', 'smallssl-extract', ['{imgs}', *R18, '--split', 'val',
                                                                                '--pretrained', '{file}', '-o', '{out}/f.pt'],
     ('cut50', 'random', 'wrong-struct', 'nan', 'zero'), 'error'),
    ('knn-pretrained-lightly', 'ckpt', 'lightly backbone', 'smallssl-knn', ['{imgs}', *R18, '-k', '1', '--pretrained', '{file}'],
     ('cut50', 'random', 'wrong-struct', 'nan', 'zero'), 'error'),
    ('lincls-resume', 'ckpt', 'lincls-ckpt', 'smallssl-lincls', ['{imgs}', *MNV3, '--epochs', '2', '-b', '4', '--resume', '{file}',
                                                               '--out-dir', '{out}/lc'], TENSOR_DAMAGES, 'error'),
    # feature files of both kinds
    ('knn-features', 'knn-feats', 'knn-feats', 'smallssl-knn', ['--features', '{file}', '-k', '1'], TENSOR_DAMAGES, 'error'),
    ('probe-features', 'knn-feats', 'knn-feats', 'smallssl-lincls', ['--probe', '--features', '{file}', '--out-dir', '{out}/lc'],
     TENSOR_DAMAGES, 'error'),
    ('stats-features', 'static-feats', 'static-feats', 'smallssl-stats', ['--features', '{file}'], TENSOR_DAMAGES, 'error'),
    ('instdisc-features', 'static-feats', 'static-feats', 'smallssl-instdisc', ['--features', '{file}'], TENSOR_DAMAGES, 'error'),
    ('tsne-features', 'static-feats', 'static-feats', 'smallssl-tsne', ['--features', '{file}', '--out', '{out}/t.png',
                                                                       '--perplexity', '2'], TENSOR_DAMAGES, 'error'),
    # a static-views folder: one view damaged (left out and named), view 1 of every image damaged (nothing left)
    ('instdisc-static-one-view', 'image', ('static', 'a/im00-1.jpeg'), 'smallssl-instdisc',
     ['{src}', *R18, '--json', '{out}/r.json'], IMAGE_DAMAGES, {d: 'skip' for d in IMAGE_DAMAGES}),
    ('instdisc-static-every-view', 'image', ('static', '*/*-1.jpeg'), 'smallssl-instdisc', ['{src}', *R18], IMAGE_DAMAGES, 'error'),
    ('sample-augs-manifest', 'json', ('static', 'sample-augs.json'), 'smallssl-sample-augs',
     ['{imgs}/val', '{src}', '--image-size', '32', '-j', '0', '--images-per-class', '3', '--preview', 'none'], TEXT_DAMAGES, 'error'),
    # image folders: one image (left out and named), every image of val (nothing to measure)
    ('knn-one-image', 'image', ('imgs', 'val/a/im00.png'), 'smallssl-knn', ['{src}', *R18, '-k', '1', '--json', '{out}/r.json'],
     IMAGE_DAMAGES, {d: 'skip' for d in IMAGE_DAMAGES}),
    ('knn-every-val-image', 'image', ('imgs', 'val/*/*.png'), 'smallssl-knn', ['{src}', *R18, '-k', '1'], IMAGE_DAMAGES, 'error'),
    # the run folder's JSON files
    ('train-log', 'jsonl', ('run', 'log.jsonl'), 'smallssl-train', ['{imgs}', *TRAIN, '--epochs', '2', '--resume', 'auto',
                                                                     '--ckpt-dir', '{src}'], TEXT_DAMAGES, 'error'),
    ('train-config-json', 'json', ('run', 'config.json'), 'smallssl-train',
     ['{imgs}', *TRAIN, '--epochs', '2', '--resume', 'auto', '--ckpt-dir', '{src}'], TEXT_DAMAGES,
     {d: 'rewritten' for d in TEXT_DAMAGES if d != 'dir'}),
    # the file-index cache: rebuilt, and said so
    ('knn-file-index-cache', 'json', 'index-cache', 'smallssl-knn', ['{imgs}', *R18, '-k', '1', '--json', '{out}/r.json'],
     TEXT_DAMAGES, {d: 'rebuilt' for d in TEXT_DAMAGES}),
    # CIFAR's pickled batches (smallssl-transfer)
    ('transfer-cifar-batch', 'pickle', ('cifar', 'cifar-10-batches-py/data_batch_1'), 'smallssl-transfer',
     ['{src}', '--dataset', 'cifar10', *R18, '--epochs', '1', '-b', '4', '--out-dir', '{out}/tr'], TEXT_DAMAGES, 'error'),
]
CASES = [(r, d) for r in READERS for d in r[5]]


def _expected(reader, how)->str:
    e = reader[6]
    return e if isinstance(e, str) else e.get(how, 'error')


def _fill(argv:list, fx:dict, subs:dict)->list:
    s = {k: str(v) for k, v in fx.items() if isinstance(v, Path)}
    s.update(subs)
    return [a.format(**s) for a in argv]


def _prepare(reader, fx, tmp:Path)->tuple:
    "Copy the reader's input into `tmp`; returns (the files to damage, substitutions for argv)."
    where, subs = reader[2], {'out': str(tmp/'out')}
    (tmp/'out').mkdir()
    if where == 'index-cache':   # the cache of a private copy of the images, written by an intact first run
        src = tmp/'imgs'; shutil.copytree(fx['imgs'], src)
        from smallssl.data import file_index, _index_file
        for split in ('train', 'val'):
            classes = sorted(p.name for p in (src/split).iterdir())
            file_index(src/split, {c: i for i, c in enumerate(classes)}, verbose=False)
        files = [_index_file((src/'val').resolve())]
        subs['imgs'] = str(src)
    elif isinstance(where, tuple):
        src = tmp/'src'; shutil.copytree(fx[where[0]], src)
        files = sorted(src.glob(where[1]))
        subs['src'] = str(src)
    else:
        src = tmp/'src'; src.mkdir()
        files = [src/fx[where].name]; shutil.copy(fx[where], files[0])
    assert files and all(f.is_file() for f in files), f"nothing to damage for {reader[0]}"
    subs['file'] = str(files[0])
    return files, subs


@pytest.mark.parametrize('case', CASES, ids=[f"{r[0]}-{d}" for r, d in CASES])
def test_damaged_file(case, fx, tmp_path, capfd, monkeypatch):
    reader, how = case
    name, kind, where, script, argv, _, _ = reader
    expect = _expected(reader, how)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('SMALLSSL_CACHE', str(tmp_path/'cache'))
    files, subs = _prepare(reader, fx, tmp_path)
    for f in files: damage(f, how, kind)
    before = _snapshot(tmp_path, skip='cache')
    code, out, err = _run(script, _fill(argv, fx, subs), capfd)
    assert 'Traceback' not in out + err, f"{name}/{how}: a traceback:\n{err[-3000:]}"
    assert not (files[0].parent/'PWNED').exists(), f"{name}/{how}: unpickling ran code"
    shown = files[0].name if len(files) == 1 else files[0].parent.parent.name
    if expect == 'error':
        lines = _lines(err)
        assert code == 2, f"{name}/{how}: exit {code} (expected 2); stdout: {out[-1500:]}\nstderr: {err[-1500:]}"
        assert len(lines) == 1, f"{name}/{how}: expected one error line, got:\n{err}"
        msg = lines[0]
        assert msg.startswith(f"{script}: error: "), msg
        assert shown in msg, f"{name}/{how}: {shown!r} not named in {msg!r}"
        assert any(w in msg.lower() for w in REMEDY), f"{name}/{how}: no word on what to do in {msg!r}"
        assert _snapshot(tmp_path, skip='cache') == before, f"{name}/{how}: a file was written or changed"
    elif expect == 'skip':
        assert code == 0, f"{name}/{how}: exit {code}:\n{err[-2000:]}"
        if how != 'dir' or reader[3] == 'smallssl-instdisc': assert shown in out + err, f"{name}/{how}: {shown} not named:\n{out}\n{err}"
        r = json.loads((tmp_path/'out'/'r.json').read_text())
        n = r.get('n', r.get('n_test'))
        assert n == 5, f"{name}/{how}: {n} images measured, expected 5 (6 less the damaged one)"
    elif expect == 'rebuilt':
        assert code == 0, f"{name}/{how}: exit {code}:\n{err[-2000:]}"
        notes = [l for l in (out + err).splitlines() if files[0].name in l]
        assert len(notes) == 1, f"{name}/{how}: the rebuilt cache is not named in one line:\n{out}\n{err}"
        if how == 'dir': return   # a folder in the cache's place is left alone: the listing is only not kept
        c = json.loads(files[0].read_text())
        assert c['root'] == str((Path(subs['imgs'])/'val').resolve()) and sum(map(len, c['files'])) == 6
    elif expect == 'rewritten':
        assert code == 0, f"{name}/{how}: exit {code}:\n{err[-2000:]}"
        assert json.loads(files[0].read_text())['epochs'] == 2
    else: raise ValueError(expect)


@pytest.mark.parametrize('reader', READERS, ids=[r[0] for r in READERS])
def test_intact_file(reader, fx, tmp_path, capfd, monkeypatch):
    "The control of every row: the same command on the undamaged copy runs (exit 0), so each case fails on its damage."
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('SMALLSSL_CACHE', str(tmp_path/'cache'))
    files, subs = _prepare(reader, fx, tmp_path)
    code, out, err = _run(reader[3], _fill(reader[4], fx, subs), capfd)
    assert code == 0 and 'Traceback' not in err, f"{reader[0]}: exit {code}:\n{err[-3000:]}"


# ---- interrupted writes ---------------------------------------------------------------------------------------------
# A sitecustomize for the subprocesses: with SMALLSSL_FAULTS_LOG set it records every file written by torch.save,
# PIL's Image.save, Path.write_text and matplotlib's savefig (the path the writer was given); with SMALLSSL_FAULTS_PAUSE =
# "name|n|fraction" the n-th of those writes whose file name contains `name` writes only `fraction` of its bytes, says
# where (SMALLSSL_FAULTS_MARKER) and waits to be killed.
FAULTS_SITE = r'''
import os
if os.environ.get('SMALLSSL_FAULTS_LOG') or os.environ.get('SMALLSSL_FAULTS_PAUSE'):
    import io, pathlib, time
    _log, _plan = os.environ.get('SMALLSSL_FAULTS_LOG'), os.environ.get('SMALLSSL_FAULTS_PAUSE')
    _needle, _nth, _frac = (_plan.split('|') if _plan else ('', '0', '1'))
    _seen = [0]
    def _target(f):
        return os.path.abspath(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else None
    def _write(target, render):
        "Run a writer: record its target; at the planned write, put part of its bytes there and wait."
        if target is None: return render(None)
        if _log:
            with open(_log, 'a') as f: f.write(target + '\n')
        if _plan and _needle in os.path.basename(target):
            _seen[0] += 1
            if _seen[0] == int(_nth):
                buf = io.BytesIO(); render(buf); data = buf.getvalue()
                with open(target, 'wb') as f: f.write(data[:int(len(data) * float(_frac))]); f.flush(); os.fsync(f.fileno())
                m = os.environ['SMALLSSL_FAULTS_MARKER']
                with open(m + '.part', 'w') as f: f.write(target)
                os.replace(m + '.part', m)
                while True: time.sleep(60)
        return render(None)
    import torch
    _save = torch.save
    def save(obj, f, *a, **kw): return _write(_target(f), lambda b: _save(obj, f if b is None else b, *a, **kw))
    torch.save = save
    from PIL import Image
    _isave = Image.Image.save
    def isave(self, fp, format=None, **kw):
        t = _target(fp)
        fmt = format or (os.path.splitext(t)[1][1:].upper().replace('JPG', 'JPEG') if t else None)
        return _write(t, lambda b: _isave(self, fp if b is None else b, format=fmt, **kw))
    Image.Image.save = isave
    _wt = pathlib.Path.write_text
    def write_text(self, data, *a, **kw):
        return _write(_target(self), lambda b: _wt(self, data, *a, **kw) if b is None else b.write(data.encode()))
    pathlib.Path.write_text = write_text
    import matplotlib.figure
    _sf = matplotlib.figure.Figure.savefig
    def savefig(self, fname, *a, **kw):
        t = _target(fname)
        if t and 'format' not in kw: kw['format'] = os.path.splitext(t)[1][1:] or 'png'
        return _write(t, lambda b: _sf(self, fname if b is None else b, *a, **kw))
    matplotlib.figure.Figure.savefig = savefig
'''


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp('site')
    (d/'sitecustomize.py').write_text(FAULTS_SITE)
    return d


def _env(site:Path, **kw)->dict:
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '', 'PYTHONUNBUFFERED': '1',
           'PYTHONPATH': os.pathsep.join([str(site), str(ROOT), os.environ.get('PYTHONPATH', '')])}
    for k in ('SMALLSSL_FAULTS_LOG', 'SMALLSSL_FAULTS_PAUSE', 'SMALLSSL_FAULTS_MARKER'): env.pop(k, None)
    env.update({k: str(v) for k, v in kw.items()})
    return env


def _text(p:subprocess.CompletedProcess)->subprocess.CompletedProcess:
    "`p` with stdout and stderr decoded, carriage returns kept (text=True would turn them into line ends)."
    p.stdout, p.stderr = p.stdout.decode(errors='replace'), p.stderr.decode(errors='replace')
    return p


def run_script(script:str, argv:list, env:dict, timeout=600)->subprocess.CompletedProcess:
    "The installed console script `script` on `argv`, in a subprocess."
    return _text(subprocess.run([str(BIN/script), *map(str, argv)], capture_output=True, env=env, timeout=timeout))


def run_killed(script:str, argv:list, site:Path, tmp:Path, needle:str, nth:int=1, fraction:float=0.5, timeout=600)->Path:
    "Run `script` until its `nth` write of a file named like `needle` is half done, then SIGKILL it (its whole process group); the path it was writing."
    marker = tmp/f'paused-{needle}-{nth}'
    env = _env(site, SMALLSSL_FAULTS_PAUSE=f'{needle}|{nth}|{fraction}', SMALLSSL_FAULTS_MARKER=marker)
    p = subprocess.Popen([str(BIN/script), *map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                         start_new_session=True)
    t0 = time.time()
    try:
        while not marker.exists():
            if p.poll() is not None: raise AssertionError(f"{script} ended ({p.returncode}) before writing {needle}:\n{p.stdout.read()[-3000:].decode()}")
            if time.time() - t0 > timeout: raise AssertionError(f"{script}: no write of {needle} within {timeout} s")
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL
    return Path(marker.read_text())


def _temporary(p:Path)->bool: return p.name.startswith('.') and p.name.endswith('.tmp')


def written(log:Path, under:Path)->list:
    "The files a recorded run wrote under `under`."
    under = str(under.resolve())
    return sorted({Path(l) for l in log.read_text().splitlines() if l.startswith(under)}) if log.exists() else []


def assert_atomic(log:Path, under:Path):
    "Every file the recorded run wrote under `under` was written under a temporary name (then renamed)."
    ws = written(log, under)
    assert ws, f"nothing recorded under {under}"
    direct = [str(p) for p in ws if not _temporary(p)]
    assert not direct, f"written in place, not through a temporary file: {direct}"


def no_temporaries(folder:Path):
    left = [str(p) for p in folder.rglob('*') if _temporary(p)]
    assert not left, f"temporary files left behind: {left}"


def same_state(a:dict, b:dict, skip=()):
    "Assert two loaded checkpoints or feature files hold the same tensors and values (keys in `skip` left out)."
    assert set(a) - set(skip) == set(b) - set(skip), (sorted(a), sorted(b))
    for k in set(a) - set(skip):
        x, y = a[k], b[k]
        if isinstance(x, dict): same_state(x, y)
        elif isinstance(x, torch.Tensor): assert torch.equal(x, y), k
        else: assert x == y, (k, x, y)


TIMING = ('img_per_s', 'data_wait', 'time', 'knn_time', 'seconds', 'checkpoint')


def same_log(a:list, b:list):
    assert [{k: v for k, v in r.items() if k not in TIMING} for r in a] == [{k: v for k, v in r.items() if k not in TIMING} for r in b]


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp('small')
    return dict(imgs=image_folder(d/'imgs', n=(6, 3), classes=('a', 'b')),
                caltech=image_folder(d/'caltech', splits=('train', 'test'), n=(6, 3), classes=('a', 'b')))


@pytest.mark.slow
@pytest.mark.parametrize('needle', ['checkpoint_0001', 'log.jsonl'])
def test_train_killed_while_writing(needle, small, site, tmp_path):
    "A training killed while writing its second checkpoint (or its log) resumes with --resume auto to the uninterrupted run."
    from smallssl.loop import read_log
    from smallssl.checkpoint import find_resume, load_checkpoint
    argv = [small['imgs'], *TRAIN, '--epochs', '2']
    log = tmp_path/'writes.log'
    ref = run_script('smallssl-train', [*argv, '--ckpt-dir', tmp_path/'ref'], _env(site, SMALLSSL_FAULTS_LOG=log))
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert_atomic(log, tmp_path/'ref')
    ck = tmp_path/'ck'
    partial = run_killed('smallssl-train', [*argv, '--ckpt-dir', ck], site, tmp_path, needle, nth=2 if needle == 'log.jsonl' else 1)
    assert _temporary(partial) and partial.parent == ck.resolve(), f"the half-written file has a final name: {partial}"
    for p in ck.glob('checkpoint_*.pth.tar'): load_checkpoint(p)             # every file under a final name is complete
    assert find_resume(ck, verbose=False).name == 'checkpoint_0000.pth.tar'
    assert len(read_log(ck/'log.jsonl')) >= 1
    r = run_script('smallssl-train', [*argv, '--ckpt-dir', ck, '--resume', 'auto'], _env(site))
    assert r.returncode == 0, r.stderr[-3000:]
    no_temporaries(ck)
    a, b = (torch.load(d/'checkpoint_0001.pth.tar', weights_only=True) for d in (tmp_path/'ref', ck))
    same_state(a, b, skip=('args',))
    same_log(read_log(tmp_path/'ref'/'log.jsonl'), read_log(ck/'log.jsonl'))


@pytest.mark.slow
def test_extract_killed_while_writing(small, site, tmp_path):
    "smallssl-extract killed while writing its feature file: the earlier file stays as it was; a rerun writes the uninterrupted result."
    argv = [small['imgs'], *R18, '--knn']
    log = tmp_path/'writes.log'
    ref = run_script('smallssl-extract', [*argv, '-o', tmp_path/'ref'/'f.pt'], _env(site, SMALLSSL_FAULTS_LOG=log))
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert_atomic(log, tmp_path/'ref')
    out = tmp_path/'out'/'f.pt'
    assert run_script('smallssl-extract', [*argv, '--seed', '1', '-o', out], _env(site)).returncode == 0   # an earlier file
    before = out.read_bytes()
    partial = run_killed('smallssl-extract', [*argv, '-o', out], site, tmp_path, 'f.pt')
    assert _temporary(partial) and out.read_bytes() == before
    r = run_script('smallssl-extract', [*argv, '-o', out], _env(site))
    assert r.returncode == 0, r.stderr[-3000:]
    no_temporaries(out.parent)
    same_state(torch.load(tmp_path/'ref'/'f.pt', weights_only=True), torch.load(out, weights_only=True))


@pytest.mark.slow
@pytest.mark.parametrize('needle', ['-1.jpeg', '-0.jpeg'])
def test_sample_augs_killed_while_writing(needle, small, site, tmp_path):
    "smallssl-sample-augs killed in the middle of a view: no half view under a final name, the incomplete triple is left out, a rerun gives the same files."
    from smallssl.static import StaticViews
    argv = [small['imgs']/'val', '--image-size', '32', '-j', '0', '--images-per-class', '3', '--preview', 'none']
    log = tmp_path/'writes.log'
    ref = run_script('smallssl-sample-augs', [argv[0], tmp_path/'ref', *argv[1:]], _env(site, SMALLSSL_FAULTS_LOG=log))
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert_atomic(log, tmp_path/'ref')
    dst = tmp_path/'dst'
    partial = run_killed('smallssl-sample-augs', [argv[0], dst, *argv[1:]], site, tmp_path, needle, nth=3)
    assert _temporary(partial)
    refs = {p.relative_to(tmp_path/'ref'): p.read_bytes() for p in (tmp_path/'ref').rglob('*.jpeg')}
    for p in dst.rglob('*.jpeg'):                     # every view under a final name is the complete, final one
        assert p.read_bytes() == refs[p.relative_to(dst)], p
    sv = StaticViews(dst, image_size=32, verbose=False)   # the third image is being written: views 1, 2, then the original (0)
    assert len(sv) == 2 and len(sv.excluded) == (needle == '-0.jpeg'), (len(sv), sv.excluded)   # ... so it is not a triple yet
    r = run_script('smallssl-sample-augs', [argv[0], dst, *argv[1:]], _env(site))
    assert r.returncode == 0, r.stderr[-3000:]
    no_temporaries(dst)
    assert {p.relative_to(dst): p.read_bytes() for p in dst.rglob('*.jpeg')} == refs


@pytest.mark.slow
@pytest.mark.parametrize('script', ['smallssl-lincls', 'smallssl-transfer'])
def test_supervised_killed_while_writing(script, small, site, tmp_path):
    "lincls and transfer killed while writing their second checkpoint: --resume from the intact first gives the uninterrupted result."
    name = 'lincls' if script == 'smallssl-lincls' else 'transfer'
    data = [small['imgs']] if name == 'lincls' else [small['caltech'], '--dataset', 'caltech101']
    argv = [*data, *MNV3, '--epochs', '2', '-b', '4', '--schedule', '1']
    log = tmp_path/'writes.log'
    ref = run_script(script, [*argv, '--out-dir', tmp_path/'ref'], _env(site, SMALLSSL_FAULTS_LOG=log))
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert_atomic(log, tmp_path/'ref')
    out, ck = tmp_path/'out', f'{name}_checkpoint.pth.tar'
    partial = run_killed(script, [*argv, '--out-dir', out], site, tmp_path, ck, nth=2)
    assert _temporary(partial)
    assert torch.load(out/ck, weights_only=True)['epoch'] == 1       # the first epoch's checkpoint, complete
    r = run_script(script, [*argv, '--out-dir', out, '--resume', out/ck], _env(site))
    assert r.returncode == 0, r.stderr[-3000:]
    no_temporaries(out)
    a, b = (torch.load(d/ck, weights_only=True) for d in (tmp_path/'ref', out))
    same_state(a, b, skip=('args', 'history'))
    same_log(a['history'], b['history'])


@pytest.mark.slow
def test_demo_killed_while_writing(site, tmp_path):
    "The demo killed while writing the trained encoder's features: a rerun into the same folder gives the uninterrupted results."
    from smallssl.toy import toy_dataset, TEXTURE_CLASSES
    data = toy_dataset(root=tmp_path/'toy', n_train=8, n_val=4, size=32, classes=TEXTURE_CLASSES[:4], kind='textures', verbose=False)
    argv = ['--data', data, '--epochs', '1', '-b', '16', '--moco-k', '32', '-j', '0', '--precise-bn', '32', '-k', '3', '--nproc', '1']
    log = tmp_path/'writes.log'
    ref = run_script('smallssl-demo', [*argv, '--out', tmp_path/'ref'], _env(site, SMALLSSL_FAULTS_LOG=log), timeout=900)
    assert ref.returncode == 0, (ref.stdout[-3000:], ref.stderr[-3000:])
    assert_atomic(log, tmp_path/'ref')
    out = tmp_path/'out'
    partial = run_killed('smallssl-demo', [*argv, '--out', out], site, tmp_path, 'trained-static.pt', timeout=900)
    assert _temporary(partial) and not (out/'features'/'trained-static.pt').exists()
    r = run_script('smallssl-demo', [*argv, '--out', out], _env(site), timeout=900)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    no_temporaries(out)
    a, b = (json.loads((d/'results.json').read_text()) for d in (tmp_path/'ref', out))
    numbers = lambda r: {k: numbers(v) for k, v in r.items() if k not in ('meta', 'args')} if isinstance(r, dict) else r   # not the paths
    assert numbers(a['results']) == numbers(b['results'])
    same_log(a['train_log'], b['train_log'])


# ---- a full disk -----------------------------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    "A 70 MB tmpfs (root only): room for one MobileNetV3-Small MoCo checkpoint (49 MB), not two."
    if os.geteuid() != 0: pytest.skip('mounting a tmpfs needs root')
    d = tmp_path/'disk'; d.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=70m', 'tmpfs', str(d)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs here: {r.stderr.strip()}')
    yield d
    subprocess.run(['umount', str(d)], check=True)


@pytest.mark.slow
def test_full_disk(small_disk, small, site, tmp_path):
    "The second checkpoint does not fit: one line says so (file, bytes needed and free, the first intact); --resume auto continues once there is room."
    from smallssl.checkpoint import load_checkpoint
    argv = [small['imgs'], *MNV3, '-b', '4', '--moco-k', '4096', '--epochs', '2', '--seed', '0']   # 49 MB checkpoints
    ck = small_disk/'run'
    r = run_script('smallssl-train', [*argv, '--ckpt-dir', ck], _env(site))
    lines = _lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr[-3000:]
    msg = lines[0]
    for w in ('smallssl-train: error:', 'disk is full', 'checkpoint_0001.pth.tar', 'needs', 'free', 'checkpoint_0000.pth.tar',
              'intact', '--resume auto'):
        assert w in msg, f"{w!r} not in {msg!r}"
    assert sorted(p.name for p in ck.iterdir()) == ['checkpoint_0000.pth.tar', 'config.json', 'log.jsonl']   # nothing partial
    assert load_checkpoint(ck/'checkpoint_0000.pth.tar')['epoch'] == 1
    subprocess.run(['mount', '-o', 'remount,size=200m', str(small_disk)], check=True)
    r = run_script('smallssl-train', [*argv, '--ckpt-dir', ck, '--resume', 'auto'], _env(site))
    assert r.returncode == 0, r.stderr[-3000:]
    ref = run_script('smallssl-train', [*argv, '--ckpt-dir', tmp_path/'ref'], _env(site))
    assert ref.returncode == 0, ref.stderr[-3000:]
    same_state(torch.load(tmp_path/'ref'/'checkpoint_0001.pth.tar', weights_only=True),
               torch.load(ck/'checkpoint_0001.pth.tar', weights_only=True), skip=('args',))


def test_write_error_names_the_path(tmp_path, capfd):
    "A write the operating system refuses (a folder where the output file goes, made after the flags were checked) is one line with the path."
    from smallssl.core import save_json
    target = tmp_path/'r.json'
    target.mkdir()
    code = _call_cli(lambda a: save_json({'a': 1}, target), capfd)
    out, err = capfd.readouterr()
    assert code == 2 and len(_lines(err)) == 1 and 'Traceback' not in err and str(target) in err, err
    assert [p.name for p in tmp_path.iterdir()] == ['r.json'] and target.is_dir()


def _call_cli(fn, capfd)->int:
    from smallssl.core import run_cli
    try: run_cli(fn, [], prog='smallssl-x'); return 0
    except SystemExit as e: return e.code


# ---- issue 33's four cases, through the installed console scripts ----------------------------------------------------

def _script(script:str, argv:list, cwd:Path)->subprocess.CompletedProcess:
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '', 'PYTHONPATH': str(ROOT)}
    return _text(subprocess.run([str(BIN/script), *map(str, argv)], capture_output=True, env=env, cwd=cwd, timeout=600))


def _one_line(p:subprocess.CompletedProcess, script:str)->str:
    lines = _lines(p.stderr)
    assert p.returncode == 2 and len(lines) == 1 and 'Traceback' not in p.stderr, (p.returncode, p.stderr[-3000:])
    assert lines[0].startswith(f'{script}: error: '), lines[0]
    return lines[0]


def test_issue_text_file_to_convert_seed(tmp_path):
    (tmp_path/'f').write_text('text\n')
    msg = _one_line(_script('smallssl-convert-seed', ['f'], tmp_path), 'smallssl-convert-seed')
    assert 'checkpoint f' in msg and 'corrupt' in msg and 're-copy' in msg, msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f']


def test_issue_knn_every_image_unreadable(small, tmp_path):
    data = tmp_path/'data'; shutil.copytree(small['imgs'], data)
    for p in (data/'val').rglob('*.png'): p.write_bytes(b'not an image')
    p = _script('smallssl-knn', [data, *R18, '-k', '1'], tmp_path)
    msg = _one_line(p, 'smallssl-knn')
    assert 'val' in msg and 'none of the 6' in msg, msg
    for name in ('im00.png', 'im02.png'): assert name in p.stdout + p.stderr


def test_issue_knn_features_with_nan(fx, tmp_path):
    f = tmp_path/'f.pt'
    obj = torch.load(fx['knn-feats'], weights_only=True)
    obj['train_features'][3, 5] = float('nan')
    torch.save(obj, f)
    msg = _one_line(_script('smallssl-knn', ['--features', f, '-k', '1'], tmp_path), 'smallssl-knn')
    assert 'f.pt' in msg and "'train_features'" in msg and '1 of 12 row' in msg and 'NaN' in msg, msg
