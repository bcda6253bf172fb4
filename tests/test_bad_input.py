"""Every console script answers bad input in one line.

Each case runs a command's `main(argv)` in this process (as its console script does, `sys.exit(main())`) with one
mistake a user makes, and asserts: a non-zero exit (2: a usage error), exactly one line on stderr that names the flag
or path at fault, no traceback (no exception other than `SystemExit` leaves `main`), nothing left behind in the
case's output folder, and an existing output untouched. A few cases also run the installed script in a subprocess,
to check the same from outside.
"""
import hashlib, importlib, os, subprocess, sys
from pathlib import Path

import pytest, torch
from PIL import Image

from support import console_scripts, image_folder

BIN = Path(sys.executable).parent
COMMANDS = console_scripts()   # console script -> (module, function)


@pytest.fixture(scope='module')
def fx(tmp_path_factory):
    "The inputs every case draws on (never written by a case: checked at the end)."
    d = tmp_path_factory.mktemp('inputs')
    f = dict(imgs=image_folder(d/'imgs', n=(6, 3), classes=('a', 'b')), empty_dir=d/'empty', empty_file=d/'empty.pt', text_file=d/'notes.txt')
    f['empty_dir'].mkdir(); f['empty_file'].write_bytes(b''); f['text_file'].write_text('not a tensor file\n')
    bad = image_folder(d/'bad', n=(6, 3), classes=('a', 'b'))   # one truncated JPEG and one text file named .jpg among good images
    Image.open(bad/'train'/'a'/'im00.png').convert('RGB').save(bad/'train'/'a'/'trunc.jpg', quality=90)
    b = (bad/'train'/'a'/'trunc.jpg').read_bytes(); (bad/'train'/'a'/'trunc.jpg').write_bytes(b[:len(b) // 2])
    (bad/'train'/'b'/'text.jpg').write_text('hello'); (bad/'val'/'b'/'text.jpg').write_text('hello')
    f['bad'] = bad
    from smallssl.static import sample_augs
    sample_augs(f['imgs']/'val', d/'static', 'moco', 3, 32, workers=0, seed=0, preview=None, verbose=False)
    f['static'] = d/'static'
    g = torch.Generator().manual_seed(0)
    torch.save(dict(train_features=torch.randn(12, 8, generator=g), train_labels=torch.arange(12) % 2,
                    test_features=torch.randn(6, 8, generator=g), test_labels=torch.arange(6) % 2, meta={}), d/'knn.pt')
    torch.save(dict(views=torch.randn(3, 6, 8, generator=g), labels=torch.arange(6) % 2, meta={}), d/'static.pt')
    f['knn_feats'], f['static_feats'] = d/'knn.pt', d/'static.pt'
    import torchvision
    torch.save(torchvision.models.resnet18().state_dict(), d/'r18.pth')   # an encoder of another architecture
    f['r18'] = d/'r18.pth'
    from smallssl.moco import MoCo
    from smallssl.checkpoint import make_checkpoint
    moco = MoCo('resnet18', dim=16, K=32, mlp='wide', image_size=32, stem='imagenet')   # a teacher with a 16-d projection head
    torch.save(make_checkpoint(moco, torch.optim.SGD(moco.parameters(), lr=0.1), 1, 'resnet18'), d/'teacher.pth')
    f['teacher'] = d/'teacher.pth'
    torch.save({'epoch': 3, 'note': 'the weights are elsewhere'}, d/'odd.pth')   # no layout smallssl knows
    f['odd'] = d/'odd.pth'
    lightly = torchvision.models.mobilenet_v3_small()     # lightly's positional Sequential, of a network other than a ResNet
    torch.save(torch.nn.Sequential(*list(lightly.children())[:-1]).state_dict(), d/'seq.pth')
    f['seq'] = d/'seq.pth'
    f['snapshot'] = _snapshot(d)
    f['root'] = d
    yield f
    assert _snapshot(d) == f['snapshot'], "a case changed one of the shared inputs"


def _snapshot(root:Path)->dict:
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else 'dir'
            for p in sorted(root.rglob('*'))}


def _run(script:str, argv:list, capfd)->tuple:
    "Run `script`'s main in this process; returns (exit status, stdout, stderr)."
    mod, fn = COMMANDS[script]
    main = getattr(importlib.import_module(mod), fn)
    old = sys.argv
    sys.argv = [script, *argv]
    try: main(argv); code = 0
    except SystemExit as e: code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally: sys.argv = old
    out, err = capfd.readouterr()
    return code, out, err


# Each case: (id, script, argv, words the error line must contain). In argv, {name} is a shared input of `fx`, and
# {out} a folder for this case's outputs (empty at the start; it must be empty at the end, except for {exists}, a
# file that is there from the start and must stay unchanged).
MODEL = ['-a', 'resnet18', '--image-size', '32', '-j', '0']
TRAIN = ['-b', '4', '--moco-k', '8']   # sizes that fit the 12-image folder, so each case fails on its own mistake
DISTILL = [*MODEL, '--epochs', '1', *TRAIN, '--ckpt-dir', '{out}/ck']
CASES = [
    # missing paths
    ('train-missing-data', 'smallssl-train', ['{out}/nope', '--epochs', '1', '--ckpt-dir', '{out}/ck'], ['nope']),
    ('sample-augs-missing-src', 'smallssl-sample-augs', ['{out}/nope', '{out}/dst'], ['nope']),
    ('extract-missing-data', 'smallssl-extract', ['{out}/nope', *MODEL, '--knn', '-o', '{out}/f.pt'], ['nope']),
    ('knn-missing-data', 'smallssl-knn', ['{out}/nope', *MODEL], ['nope']),
    ('knn-missing-features', 'smallssl-knn', ['--features', '{out}/nope.pt'], ['nope.pt']),
    ('instdisc-missing-static', 'smallssl-instdisc', ['{out}/nope', *MODEL], ['nope']),
    ('stats-missing-features', 'smallssl-stats', ['--features', '{out}/nope.pt'], ['nope.pt']),
    ('tsne-missing-static', 'smallssl-tsne', ['{out}/nope', *MODEL, '--out', '{out}/t.png'], ['nope']),
    ('convert-seed-missing', 'smallssl-convert-seed', ['{out}/nope.pth', '-o', '{out}/c.pth'], ['nope.pth']),
    ('lincls-missing-data', 'smallssl-lincls', ['{out}/nope', *MODEL, '--epochs', '1', '--out-dir', '{out}/lc'], ['nope']),
    ('lincls-missing-pretrained', 'smallssl-lincls', ['{imgs}', *MODEL, '--epochs', '1', '--pretrained', '{out}/nope.pth',
                                                      '--out-dir', '{out}/lc'], ['nope.pth']),
    ('transfer-missing-data', 'smallssl-transfer', ['{out}/nope', '--dataset', 'cifar10', *MODEL, '--epochs', '1',
                                                    '--out-dir', '{out}/tr'], ['nope']),
    ('demo-missing-data', 'smallssl-demo', ['--data', '{out}/nope', '--out', '{out}/demo'], ['nope']),
    ('train-resume-missing', 'smallssl-train', ['{imgs}', *MODEL, '--epochs', '1', '--resume', '{out}/nope.pth',
                                                '--ckpt-dir', '{out}/ck'], ['nope.pth']),
    # a file where a folder is expected, a folder where a file is expected
    ('train-data-is-file', 'smallssl-train', ['{text_file}', '--epochs', '1', '--ckpt-dir', '{out}/ck'], ['notes.txt']),
    ('sample-augs-src-is-file', 'smallssl-sample-augs', ['{text_file}', '{out}/dst'], ['notes.txt']),
    ('knn-data-is-file', 'smallssl-knn', ['{text_file}', *MODEL], ['notes.txt']),
    ('instdisc-static-is-file', 'smallssl-instdisc', ['{text_file}', *MODEL], ['notes.txt']),
    ('knn-features-is-folder', 'smallssl-knn', ['--features', '{empty_dir}'], ['empty']),
    ('stats-features-is-folder', 'smallssl-stats', ['--features', '{empty_dir}'], ['empty']),
    ('convert-seed-ckpt-is-folder', 'smallssl-convert-seed', ['{empty_dir}', '-o', '{out}/c.pth'], ['empty']),
    ('lincls-pretrained-is-folder', 'smallssl-lincls', ['{imgs}', *MODEL, '--epochs', '1', '--pretrained', '{empty_dir}',
                                                        '--out-dir', '{out}/lc'], ['empty']),
    # empty folders
    ('train-empty-data', 'smallssl-train', ['{empty_dir}', *MODEL, '--epochs', '1', '--ckpt-dir', '{out}/ck'], ['empty']),
    ('sample-augs-empty-src', 'smallssl-sample-augs', ['{empty_dir}', '{out}/dst'], ['empty']),
    ('knn-empty-data', 'smallssl-knn', ['{empty_dir}', *MODEL], ['empty']),
    ('instdisc-empty-static', 'smallssl-instdisc', ['{empty_dir}', *MODEL], ['empty']),
    ('tsne-empty-static', 'smallssl-tsne', ['{empty_dir}', *MODEL, '--out', '{out}/t.png'], ['empty']),
    ('lincls-empty-data', 'smallssl-lincls', ['{empty_dir}', *MODEL, '--epochs', '1', '--out-dir', '{out}/lc'], ['empty']),
    # empty files and text files where a tensor file is expected
    ('knn-empty-features', 'smallssl-knn', ['--features', '{empty_file}'], ['empty.pt']),
    ('stats-empty-features', 'smallssl-stats', ['--features', '{empty_file}'], ['empty.pt']),
    ('instdisc-empty-features', 'smallssl-instdisc', ['--features', '{empty_file}'], ['empty.pt']),
    ('tsne-empty-features', 'smallssl-tsne', ['--features', '{empty_file}', '--out', '{out}/t.png'], ['empty.pt']),
    ('stats-text-features', 'smallssl-stats', ['--features', '{text_file}'], ['notes.txt']),
    ('convert-seed-empty', 'smallssl-convert-seed', ['{empty_file}', '-o', '{out}/c.pth'], ['empty.pt']),
    ('convert-seed-text', 'smallssl-convert-seed', ['{text_file}', '-o', '{out}/c.pth'], ['notes.txt']),
    ('knn-pretrained-empty', 'smallssl-knn', ['{imgs}', *MODEL, '--pretrained', '{empty_file}'], ['empty.pt']),
    ('train-resume-empty', 'smallssl-train', ['{imgs}', *MODEL, '--epochs', '1', '--resume', '{empty_file}',
                                              '--ckpt-dir', '{out}/ck'], ['empty.pt']),
    # feature files of the wrong kind
    ('knn-static-features', 'smallssl-knn', ['--features', '{static_feats}'], ['static.pt', 'knn']),
    ('stats-knn-features', 'smallssl-stats', ['--features', '{knn_feats}'], ['knn.pt', 'static']),
    ('instdisc-knn-features', 'smallssl-instdisc', ['--features', '{knn_feats}'], ['knn.pt', 'static']),
    ('tsne-knn-features', 'smallssl-tsne', ['--features', '{knn_feats}', '--out', '{out}/t.png'], ['knn.pt', 'static']),
    ('lincls-probe-static-features', 'smallssl-lincls', ['--probe', '--features', '{static_feats}', '--out-dir', '{out}/lc'],
     ['static.pt', 'knn']),
    ('convert-seed-feature-file', 'smallssl-convert-seed', ['{knn_feats}', '-o', '{out}/c.pth'], ['knn.pt']),
    # a checkpoint of another architecture
    ('knn-pretrained-other-arch', 'smallssl-knn', ['{imgs}', '-a', 'mobilenetv3_small', '--image-size', '32', '-j', '0',
                                                   '--pretrained', '{r18}'], ['r18.pth', 'mobilenetv3_small']),
    ('lincls-pretrained-other-arch', 'smallssl-lincls', ['{imgs}', '-a', 'mobilenetv3_small', '--image-size', '32', '-j', '0',
                                                         '--epochs', '1', '--pretrained', '{r18}', '--out-dir', '{out}/lc'],
     ['r18.pth', 'mobilenetv3_small']),
    ('train-resume-other-arch', 'smallssl-train', ['{imgs}', '-a', 'mobilenetv3_small', '--image-size', '32', '-j', '0',
                                                   '--epochs', '1', *TRAIN, '--resume', '{r18}', '--ckpt-dir', '{out}/ck'], ['r18.pth']),
    # a checkpoint of a layout smallssl does not know, or positional keys it cannot name for -a
    ('knn-pretrained-unknown-layout', 'smallssl-knn', ['{imgs}', *MODEL, '--pretrained', '{odd}'],
     ['odd.pth', 'Top-level keys: epoch, note', 'Known layouts']),
    ('lincls-pretrained-positional-other-arch', 'smallssl-lincls', ['{imgs}', '-a', 'mobilenetv3_small', '--image-size', '32',
                                                                    '-j', '0', '--epochs', '1', '--pretrained', '{seq}',
                                                                    '--out-dir', '{out}/lc'],
     ['seq.pth', 'positional keys', 'resnet18, resnet34, resnet50 only']),
    # zero, negative and absurd numbers
    ('train-image-size-7', 'smallssl-train', ['{imgs}', '-a', 'resnet18', '--image-size', '7', '--epochs', '1', *TRAIN,
                                              '--ckpt-dir', '{out}/ck'], ['--image-size']),
    ('train-batch-0', 'smallssl-train', ['{imgs}', *MODEL, '-b', '0', '--epochs', '1', '--ckpt-dir', '{out}/ck'], ['-b']),
    ('train-epochs-0', 'smallssl-train', ['{imgs}', *MODEL, '--epochs', '0', '--ckpt-dir', '{out}/ck'], ['--epochs']),
    ('train-epochs-negative', 'smallssl-train', ['{imgs}', *MODEL, '--epochs', '-2', '--ckpt-dir', '{out}/ck'], ['--epochs']),
    ('train-lr-negative', 'smallssl-train', ['{imgs}', *MODEL, *TRAIN, '--lr', '-1', '--epochs', '1', '--ckpt-dir', '{out}/ck'], ['--lr']),
    ('train-moco-k-0', 'smallssl-train', ['{imgs}', *MODEL, '--moco-k', '0', '--epochs', '1', '--ckpt-dir', '{out}/ck'],
     ['--moco-k']),
    ('train-moco-t-0', 'smallssl-train', ['{imgs}', *MODEL, *TRAIN, '--moco-t', '0', '--epochs', '1', '--ckpt-dir', '{out}/ck'],
     ['--moco-t']),
    ('train-moco-m-2', 'smallssl-train', ['{imgs}', *MODEL, *TRAIN, '--moco-m', '2', '--epochs', '1', '--ckpt-dir', '{out}/ck'],
     ['--moco-m']),
    ('train-workers-negative', 'smallssl-train', ['{imgs}', '-a', 'resnet18', '--image-size', '32', '-j', '-1',
                                                  '--epochs', '1', *TRAIN, '--ckpt-dir', '{out}/ck'], ['-j']),
    ('train-save-freq-0', 'smallssl-train', ['{imgs}', *MODEL, *TRAIN, '--save-freq', '0', '--epochs', '1', '--ckpt-dir', '{out}/ck'],
     ['--save-freq']),
    ('sample-augs-per-class-0', 'smallssl-sample-augs', ['{imgs}/val', '{out}/dst', '--images-per-class', '0'],
     ['--images-per-class']),
    ('sample-augs-image-size-0', 'smallssl-sample-augs', ['{imgs}/val', '{out}/dst', '--image-size', '0'], ['--image-size']),
    ('knn-k-0', 'smallssl-knn', ['--features', '{knn_feats}', '-k', '0'], ['-k']),
    ('knn-k-negative', 'smallssl-knn', ['--features', '{knn_feats}', '-k', '-3'], ['-k']),
    ('knn-image-size-7', 'smallssl-knn', ['{imgs}', '-a', 'resnet18', '--image-size', '7', '-j', '0'], ['--image-size']),
    ('knn-batch-0', 'smallssl-knn', ['{imgs}', *MODEL, '-b', '0'], ['-b']),
    ('knn-precise-bn-negative', 'smallssl-knn', ['{imgs}', *MODEL, '--precise-bn', '-5'], ['--precise-bn']),
    ('instdisc-topk-0', 'smallssl-instdisc', ['--features', '{static_feats}', '--topk', '0'], ['--topk']),
    ('instdisc-chunk-0', 'smallssl-instdisc', ['--features', '{static_feats}', '--chunk', '0'], ['--chunk']),
    ('instdisc-s-negative', 'smallssl-instdisc', ['--features', '{static_feats}', '-s', '-1'], ['-s']),
    ('instdisc-subset-0', 'smallssl-instdisc', ['--features', '{static_feats}', '--subset-per-class', '0'], ['--subset-per-class']),
    ('stats-s-wrong-class-size', 'smallssl-stats', ['--features', '{static_feats}', '-s', '2'], ['-s 2']),
    ('tsne-subset-too-large', 'smallssl-tsne', ['--features', '{static_feats}', '--subset-per-class', '9', '--out', '{out}/t.png'],
     ['--subset-per-class 9']),
    ('stats-chunk-0', 'smallssl-stats', ['--features', '{static_feats}', '--chunk', '0'], ['--chunk']),
    ('tsne-perplexity-0', 'smallssl-tsne', ['--features', '{static_feats}', '--perplexity', '0', '--out', '{out}/t.png'],
     ['--perplexity']),
    ('tsne-classes-0', 'smallssl-tsne', ['--features', '{static_feats}', '--classes', '0', '--out', '{out}/t.png'],
     ['--classes']),
    ('tsne-per-class-negative', 'smallssl-tsne', ['--features', '{static_feats}', '--per-class', '-1', '--out', '{out}/t.png'],
     ['--per-class']),
    ('lincls-epochs-0', 'smallssl-lincls', ['{imgs}', *MODEL, '--epochs', '0', '--out-dir', '{out}/lc'], ['--epochs']),
    ('lincls-batch-0', 'smallssl-lincls', ['{imgs}', *MODEL, '--epochs', '1', '-b', '0', '--out-dir', '{out}/lc'], ['-b']),
    ('lincls-lr-negative', 'smallssl-lincls', ['{imgs}', *MODEL, '--epochs', '1', '--lr', '-0.5', '--out-dir', '{out}/lc'], ['--lr']),
    ('transfer-epochs-0', 'smallssl-transfer', ['{imgs}', '--dataset', 'cifar10', *MODEL, '--epochs', '0',
                                                '--out-dir', '{out}/tr'], ['--epochs']),
    ('demo-epochs-0', 'smallssl-demo', ['--epochs', '0', '--out', '{out}/demo'], ['--epochs']),
    ('demo-batch-0', 'smallssl-demo', ['-b', '0', '--out', '{out}/demo'], ['-b']),
    ('demo-nproc-0', 'smallssl-demo', ['--nproc', '0', '--out', '{out}/demo'], ['--nproc']),
    # outputs that cannot be written: inside a file, or an existing file where a folder goes
    ('knn-json-under-file', 'smallssl-knn', ['--features', '{knn_feats}', '--json', '{exists}/r.json'], ['--json', 'exists']),
    ('extract-out-under-file', 'smallssl-extract', ['{imgs}', *MODEL, '--knn', '-o', '{exists}/f.pt'], ['-o', 'exists']),
    ('instdisc-json-under-file', 'smallssl-instdisc', ['--features', '{static_feats}', '--json', '{exists}/r.json'],
     ['--json', 'exists']),
    ('tsne-out-under-file', 'smallssl-tsne', ['--features', '{static_feats}', '--out', '{exists}/t.png'], ['--out', 'exists']),
    ('convert-seed-out-under-file', 'smallssl-convert-seed', ['{r18}', '-o', '{exists}/c.pth'], ['exists']),
    ('sample-augs-dst-is-file', 'smallssl-sample-augs', ['{imgs}/val', '{exists}'], ['exists']),
    ('train-ckpt-dir-is-file', 'smallssl-train', ['{imgs}', *MODEL, *TRAIN, '--epochs', '1', '--ckpt-dir', '{exists}'],
     ['--ckpt-dir', 'exists']),
    ('lincls-out-dir-is-file', 'smallssl-lincls', ['{imgs}', *MODEL, '--epochs', '1', '--out-dir', '{exists}'],
     ['--out-dir', 'exists']),
    ('transfer-out-dir-is-file', 'smallssl-transfer', ['{imgs}', '--dataset', 'cifar10', *MODEL, '--epochs', '1',
                                                       '--out-dir', '{exists}'], ['--out-dir', 'exists']),
    ('demo-out-is-file', 'smallssl-demo', ['--out', '{exists}'], ['--out', 'exists']),
    # distillation: the teacher cannot be read, its embedding is not --moco-dim, the queue is longer than the data
    ('distill-teacher-missing', 'smallssl-distill', ['{imgs}', '--teacher', '{out}/nope.pth', *DISTILL], ['nope.pth']),
    ('distill-teacher-unreadable', 'smallssl-distill', ['{imgs}', '--teacher', '{text_file}', *DISTILL], ['--teacher', 'notes.txt']),
    ('distill-teacher-empty', 'smallssl-distill', ['{imgs}', '--teacher', '{empty_file}', *DISTILL], ['--teacher', 'empty.pt']),
    ('distill-teacher-no-layout', 'smallssl-distill', ['{imgs}', '--teacher', '{odd}', *DISTILL], ['odd.pth', 'Known layouts']),
    ('distill-teacher-dim-no-head', 'smallssl-distill', ['{imgs}', '--teacher', '{r18}', '--teacher-arch', 'resnet18', *DISTILL],
     ['r18.pth', 'without a projection head', '--moco-dim 512']),
    ('distill-teacher-dim-head', 'smallssl-distill', ['{imgs}', '--teacher', '{teacher}', '--moco-dim', '64', *DISTILL],
     ['teacher.pth', 'projection head', '--moco-dim 16']),
    ('distill-teacher-no-arch', 'smallssl-distill', ['{imgs}', '--teacher', '{r18}', '--moco-dim', '512', *DISTILL],
     ['r18.pth', '--teacher-arch']),
    ('distill-queue-longer-than-data', 'smallssl-distill', ['{imgs}', '--teacher', '{teacher}', '--moco-dim', '16', *DISTILL,
                                                             '--moco-k', '16'], ['--moco-k 16', 'longer than the 12 training images']),
    ('distill-no-teacher', 'smallssl-distill', ['{imgs}', *DISTILL], ['--teacher']),
    ('distill-teacher-t-0', 'smallssl-distill', ['{imgs}', '--teacher', '{teacher}', '--moco-dim', '16', *DISTILL, '--teacher-t', '0'],
     ['--teacher-t']),
    ('distill-ckpt-dir-is-file', 'smallssl-distill', ['{imgs}', '--teacher', '{teacher}', '--moco-dim', '16', *MODEL, *TRAIN,
                                                       '--epochs', '1', '--ckpt-dir', '{exists}'], ['--ckpt-dir', 'exists']),
]


def _argv(argv:list, fx:dict, out:Path)->list:
    subs = {k: str(v) for k, v in fx.items() if isinstance(v, Path)}
    subs.update(out=str(out), exists=str(out/'exists'))
    return [a.format(**subs) for a in argv]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, fx, tmp_path, capfd, monkeypatch):
    name, script, argv, words = case
    monkeypatch.chdir(tmp_path)
    out = tmp_path/'out'; out.mkdir()
    (out/'exists').write_bytes(b'keep me')
    before = _snapshot(out)
    code, stdout, stderr = _run(script, _argv(argv, fx, out), capfd)
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert code not in (0, None), f"{name}: exit 0 on bad input; stdout: {stdout[-500:]}"
    assert 'Traceback' not in stderr + stdout, stderr
    assert len(lines) == 1, f"{name}: expected one error line, got:\n{stderr}"
    msg = lines[0]
    assert msg.startswith(f"{script}: error: "), msg
    for w in words: assert w in msg, f"{name}: {w!r} not in {msg!r}"
    assert code == 2, f"{name}: exit {code}, usage errors exit 2"
    assert _snapshot(out) == before, f"{name}: left {sorted(set(_snapshot(out)) - set(before))} or changed an existing file"


def test_unreadable_images_are_named(fx, tmp_path, capfd):
    "A truncated JPEG and a text file named .jpg in an input folder: the commands that read images name both files."
    code, out, err = _run('smallssl-knn', [str(fx['bad']), *MODEL, '-k', '3'], capfd)
    assert code == 0, err
    for f in ('trunc.jpg', 'text.jpg'): assert f in out + err, f"{f} is not named:\n{out}\n{err}"
    assert 'Traceback' not in out + err
    code, out, err = _run('smallssl-sample-augs', [str(fx['bad']/'train'), str(tmp_path/'dst'), '--images-per-class', '7',
                                                   '--image-size', '32', '-j', '0'], capfd)
    assert 'Traceback' not in out + err
    assert 'trunc.jpg' in out + err and 'text.jpg' in out + err, f"unreadable files are not named:\n{out}\n{err}"


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_read_only_output_folder(fx, tmp_path, capfd):
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o500)
    try:
        code, out, err = _run('smallssl-knn', ['--features', str(fx['knn_feats']), '--json', str(ro/'r.json')], capfd)
        assert code == 2 and 'Traceback' not in err and str(ro) in err, err
        assert list(ro.iterdir()) == []
    finally: ro.chmod(0o700)


@pytest.mark.parametrize('case', [c for c in CASES if c[0] in ('stats-empty-features', 'sample-augs-dst-is-file')],
                         ids=lambda c: c[0])
def test_installed_script(case, fx, tmp_path):
    "The same, through the installed console script: stderr is one line, the exit status 2."
    name, script, argv, words = case
    out = tmp_path/'out'; out.mkdir(); (out/'exists').write_bytes(b'keep me')
    p = subprocess.run([str(BIN/script), *_argv(argv, fx, out)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert p.returncode == 2, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and 'Traceback' not in p.stderr, p.stderr
    assert (out/'exists').read_bytes() == b'keep me'
