"""Checkpoint interoperability: MoCo's official layout, MoCo's `main_lincls.py` key handling, SEED conversion + `--restart`,
plain torchvision state_dicts, and refusal of checkpoints that would leave the encoder random.

Run: `pytest tests/test_interop.py` (about a minute on 2 CPU cores; builds its own tiny data)."""
import json, os, subprocess, sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torchvision

from smallssl.core import SmallSSLError
from smallssl.checkpoint import load_checkpoint
from smallssl.pretrained import load_pretrained_encoder
from smallssl import linear, transfer
from support import image_folder, run_main

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''), 'OMP_NUM_THREADS': '2'}


@pytest.fixture(scope='module')
def tmp(tmp_path_factory): return tmp_path_factory.mktemp('interop')

@pytest.fixture(scope='module')
def data(tmp): return image_folder(tmp/'data')


def run_py(*args, timeout=900):
    "Run `python -m ...` in a subprocess; returns (returncode, stdout+stderr)."
    p = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout, cwd=REPO)
    return p.returncode, p.stdout + p.stderr


def run_cli(main, argv):
    "Call a console-script `main` in-process on `argv` (paths and numbers as strings); returns (exit code, stdout, stderr)."
    return run_main(main, [str(a) for a in argv])


def same_backbone(model: nn.Module, source: dict, prefix: str = ''):
    "Assert every non-fc tensor of `model` equals `source[prefix + name]`."
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith('fc.')}
    assert sd, 'empty model'
    for k, v in sd.items():
        if k.endswith('num_batches_tracked'): continue
        assert torch.equal(v, source[prefix + k]), k


# ---------------------------------------------------------------------------------------------------------------
# 1. An official MoCo v1 / v2 ResNet-50 checkpoint layout loads for every evaluation.

def official_moco_checkpoint(path, version):
    "A checkpoint laid out as MoCo's released v1/v2 ResNet-50 files: DDP `module.encoder_q/k.*`, torchvision names, queue."
    torch.manual_seed({'v1': 1, 'v2': 2}[version])
    enc = torchvision.models.resnet50(num_classes=128)
    if version == 'v2': enc.fc = nn.Sequential(nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 128))
    with torch.no_grad():  # make BN statistics non-trivial, so a skipped buffer would show
        for m in enc.modules():
            if isinstance(m, nn.BatchNorm2d): m.running_mean.uniform_(-.1, .1); m.running_var.uniform_(.5, 1.5)
    sd = {}
    for k, v in enc.state_dict().items():
        sd[f'module.encoder_q.{k}'] = v
        sd[f'module.encoder_k.{k}'] = v.clone()
    sd['module.queue'] = nn.functional.normalize(torch.randn(128, 16), dim=0)
    sd['module.queue_ptr'] = torch.zeros(1, dtype=torch.long)
    opt = torch.optim.SGD(enc.parameters(), lr=0.03, momentum=0.9)
    torch.save({'epoch': 200 if version == 'v1' else 800, 'arch': 'resnet50', 'state_dict': sd, 'optimizer': opt.state_dict()}, path)
    return sd


@pytest.mark.parametrize('version', ['v1', 'v2'])
def test_official_moco_layout_loads(tmp, version, capsys):
    path = tmp/f'moco_{version}_resnet50.pth.tar'
    sd = official_moco_checkpoint(path, version)
    enc = load_pretrained_encoder('resnet50', path, image_size=224)
    out = capsys.readouterr().out
    assert 'used' in out and 'missing' in out and 'ignored' in out, out
    same_backbone(enc, sd, 'module.encoder_q.')
    # the classifiers of linear evaluation and transfer are built on the same loader
    clf = linear.build_classifier('resnet50', str(path), 10, 224, verbose=False)
    same_backbone(clf, sd, 'module.encoder_q.')
    assert [n for n, p in clf.named_parameters() if p.requires_grad] == ['fc.weight', 'fc.bias']
    clf = linear.build_classifier('resnet50', str(path), 10, 224, l2norm=True, finetune=True, verbose=False)
    same_backbone(clf, sd, 'module.encoder_q.')


def test_official_moco_layout_every_command(tmp, data):
    "The commands themselves accept the official layout (one short run each; ResNet-50 at 72 px keeps the standard stem)."
    path = tmp/'moco_v2_cmd.pth.tar'
    if not path.exists(): official_moco_checkpoint(path, 'v2')
    data = image_folder(tmp/'data50', n=2, size=24)  # ResNet-50 is costly on a CPU: 6 train / 6 val images
    common = ['-a', 'resnet50', '--pretrained', path, '--image-size', 72, '-b', 6, '-j', 0, '--no-progress']
    code, out, err = run_cli(linear.main, [data, *common, '--epochs', 1, '--out-dir', tmp/'lc50', '--json', tmp/'lc50.json'])
    assert code == 0, err
    assert 'used' in out and json.loads((tmp/'lc50.json').read_text())['epochs'] == 1
    code, out, err = run_cli(linear.main, [data, *common, '--probe', '--probe-lams', 1e-2, '--json', tmp/'probe50.json'])
    assert code == 0, err
    cal = image_folder(tmp/'cal', splits=('train', 'test'), n=2, size=24)
    code, out, err = run_cli(transfer.main, [cal, '--dataset', 'caltech101', *common, '--epochs', 1, '--out-dir', tmp/'tr50'])
    assert code == 0, err
    from smallssl import evaluate
    code, out, err = run_cli(evaluate.knn_main, [data, '-a', 'resnet50', '--pretrained', path, '--image-size', 72, '-b', 6, '-j', 0, '-k', 3])
    assert code == 0, err + out
    assert 'best-NN=' in out, out


# ---------------------------------------------------------------------------------------------------------------
# 2. Our training checkpoints load in a script that follows MoCo's main_lincls.py key handling.

def moco_main_lincls_load(arch, path):
    "The pretrained-weights part of MoCo's main_lincls.py, step by step (torchvision model, key renaming, strict=False)."
    model = torchvision.models.__dict__[arch]()
    for name, param in model.named_parameters():
        if name not in ['fc.weight', 'fc.bias']: param.requires_grad = False
    model.fc.weight.data.normal_(mean=0.0, std=0.01)
    model.fc.bias.data.zero_()
    checkpoint = torch.load(path, map_location='cpu')
    state_dict = checkpoint['state_dict']
    for k in list(state_dict.keys()):
        if k.startswith('module.encoder_q') and not k.startswith('module.encoder_q.fc'):
            state_dict[k[len('module.encoder_q.'):]] = state_dict[k]
        del state_dict[k]
    msg = model.load_state_dict(state_dict, strict=False)
    assert set(msg.missing_keys) == {'fc.weight', 'fc.bias'}, msg.missing_keys
    return model, msg


@pytest.fixture(scope='module')
def our_checkpoint(tmp, data):
    "One epoch of `smallssl-train` at 72 px (standard torchvision stem), as a user would run it."
    ck = tmp/'ours72'
    code, out = run_py('-m', 'smallssl.train', data, '-a', 'resnet18', '--image-size', 72, '--epochs', 1, '-b', 8, '-j', 0,
                       '--moco-k', 16, '--moco-dim', 16, '--mlp', 'wide', '--ckpt-dir', ck, '--seed', 0)
    assert code == 0, out[-3000:]
    path = ck/'checkpoint_0000.pth.tar'
    assert path.is_file(), out[-2000:]
    return path


def test_our_checkpoint_in_moco_main_lincls(our_checkpoint):
    model, msg = moco_main_lincls_load('resnet18', our_checkpoint)
    assert msg.unexpected_keys == []
    # MoCo's model and ours compute the same representation
    sd = load_checkpoint(our_checkpoint)['state_dict']
    same_backbone(model, sd, 'module.encoder_q.')
    ours = load_pretrained_encoder('resnet18', our_checkpoint, image_size=72, verbose=False)
    model.fc = nn.Identity(); model.eval()
    x = torch.randn(2, 3, 72, 72)
    with torch.no_grad(): torch.testing.assert_close(model(x), ours(x))


# ---------------------------------------------------------------------------------------------------------------
# 3. SEED checkpoints convert, and the converted file restarts training.

def seed_checkpoint(path):
    "A SEED-style distillation checkpoint: student ResNet-18 (32 px stem) with an MLP head, a teacher, a queue."
    from smallssl.archs import create_encoder
    torch.manual_seed(3)
    student = create_encoder('resnet18', num_classes=16, image_size=32)
    student.fc = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 16))
    teacher = torchvision.models.resnet18(num_classes=16)
    sd = {**{f'module.student.{k}': v for k, v in student.state_dict().items()},
          **{f'module.teacher.{k}': v for k, v in teacher.state_dict().items()},
          'module.queue': torch.randn(16, 32), 'module.queue_ptr': torch.zeros(1, dtype=torch.long)}
    torch.save({'epoch': 200, 'arch': 'resnet18', 'state_dict': sd}, path)
    return student


def test_seed_convert_and_restart(tmp, data):
    from smallssl.archs import create_encoder
    student = seed_checkpoint(tmp/'seed_r18.pth.tar')
    code, out = run_py('-m', 'smallssl.checkpoint', tmp/'seed_r18.pth.tar', '-o', tmp/'converted_seed_r18.pth.tar')
    assert code == 0, out
    conv = load_checkpoint(tmp/'converted_seed_r18.pth.tar')['state_dict']
    assert not any(k.startswith('module.teacher.') or k.startswith('module.student.') for k in conv)
    same_backbone(student, conv, 'module.encoder_q.')
    # the evaluations read it
    enc = load_pretrained_encoder('resnet18', tmp/'converted_seed_r18.pth.tar', image_size=32, verbose=False)
    same_backbone(enc, conv, 'module.encoder_q.')
    # and training restarts from it: with lr 0 the encoder's weights after one epoch are still the student's
    # (up to float noise of the training step), far from any random initialisation
    ck = tmp/'restart'
    code, out = run_py('-m', 'smallssl.train', data, '-a', 'resnet18', '--image-size', 32, '--epochs', 1, '-b', 8, '-j', 0,
                       '--moco-k', 16, '--moco-dim', 16, '--mlp', 'simple', '--ckpt-dir', ck, '--lr', 0, '--seed', 0,
                       '--resume', tmp/'converted_seed_r18.pth.tar', '--restart')
    assert code == 0, out[-3000:]
    after = load_checkpoint(ck/'checkpoint_0000.pth.tar')
    assert after['epoch'] == 1  # restarted at epoch 0, not at the SEED run's 200
    fresh = dict(create_encoder('resnet18', num_classes=16, image_size=32).named_parameters())
    for k, v in student.named_parameters():
        if k.startswith('fc.'): continue
        for enc in ('encoder_q', 'encoder_k'):  # encoder_k: the q -> k copy
            w = after['state_dict'][f'module.{enc}.{k}']
            torch.testing.assert_close(w, v.detach(), atol=1e-4, rtol=1e-3, msg=f'{enc}.{k}')
            if v.dim() > 1: assert (fresh[k] - v).abs().max() > 100 * (w - v).abs().max(), k


# ---------------------------------------------------------------------------------------------------------------
# 4. --pretrained takes a plain torchvision-style state_dict.

def test_plain_torchvision_state_dict(tmp, data):
    torch.manual_seed(4)
    tv = torchvision.models.resnet18()
    torch.save(tv.state_dict(), tmp/'tv_full.pth')  # with its 1000-class fc
    torch.save({k: v for k, v in tv.state_dict().items() if not k.startswith('fc.')}, tmp/'tv_encoder.pth')
    for f in ('tv_full.pth', 'tv_encoder.pth'):
        enc = load_pretrained_encoder('resnet18', tmp/f, image_size=72, verbose=False)
        same_backbone(enc, tv.state_dict())
    code, out, err = run_cli(linear.main, [data, '-a', 'resnet18', '--pretrained', tmp/'tv_full.pth', '--image-size', 72,
                                           '--epochs', 1, '-b', 12, '-j', 0, '--out-dir', tmp/'lc_tv', '--no-progress'])
    assert code == 0, err
    assert 'used' in out and 'ignored' in out and 'fc' in out, out
    sd = load_checkpoint(tmp/'lc_tv'/'lincls_checkpoint.pth.tar')['state_dict']
    for k, v in tv.state_dict().items():
        if not k.startswith('fc.'): assert torch.equal(sd[k], v), k  # the frozen encoder is still the torchvision weights


# ---------------------------------------------------------------------------------------------------------------
# 5. A checkpoint that would leave the encoder (partly) random is refused, with the keys named.

def test_mismatch_fails(tmp, data):
    from smallssl.archs import create_encoder
    mnv3 = create_encoder('mobilenetv3_small', num_classes=16, image_size=32)
    torch.save({'state_dict': {f'module.encoder_q.{k}': v for k, v in mnv3.state_dict().items()}}, tmp/'mnv3.pth.tar')
    r18 = create_encoder('resnet18', num_classes=16, image_size=32).state_dict()
    partial = {f'module.encoder_q.{k}': v for k, v in r18.items() if not k.startswith('layer4.')}
    torch.save({'state_dict': partial}, tmp/'no_layer4.pth.tar')
    only_k = {f'module.encoder_k.{k}': v for k, v in r18.items()}
    torch.save({'state_dict': only_k}, tmp/'only_k.pth.tar')
    stem = {f'module.encoder_q.{k}': v for k, v in r18.items()}  # a 32-px (small-stem) checkpoint
    torch.save({'state_dict': stem}, tmp/'small_stem.pth.tar')
    cases = [('mnv3.pth.tar', 32, 'missing'), ('no_layer4.pth.tar', 32, 'layer4'), ('only_k.pth.tar', 32, 'missing')]
    for f, size, needle in cases:
        with pytest.raises(SmallSSLError, match=needle):
            load_pretrained_encoder('resnet18', tmp/f, image_size=size, verbose=False)
    # the stem belongs to the weights: read at 224 px the small-stem checkpoint keeps its 3x3 stem; asking for the other
    # stem explicitly is refused, naming both
    assert load_pretrained_encoder('resnet18', tmp/'small_stem.pth.tar', image_size=224, verbose=False).conv1.kernel_size == (3, 3)
    with pytest.raises(SmallSSLError, match='--stem imagenet.*small stem'):
        load_pretrained_encoder('resnet18', tmp/'small_stem.pth.tar', image_size=224, stem='imagenet', verbose=False)
    code, out, err = run_cli(linear.main, [data, '-a', 'resnet18', '--pretrained', tmp/'no_layer4.pth.tar', '--image-size', 32,
                                           '--epochs', 1, '-j', 0, '--out-dir', tmp/'never'])
    assert code == 2 and 'smallssl-lincls: error:' in err and 'layer4' in err, err
    assert not (tmp/'never'/'lincls_checkpoint.pth.tar').exists()
    cal = image_folder(tmp/'cal_bad', splits=('train', 'test'), n=2)
    code, out, err = run_cli(transfer.main, [cal, '--dataset', 'caltech101', '-a', 'resnet18', '--epochs', 1, '-j', 0,
                                             '--pretrained', tmp/'mnv3.pth.tar', '--image-size', 32, '--out-dir', tmp/'never2'])
    assert code == 2 and 'smallssl-transfer: error:' in err and 'missing' in err, err
    assert not (tmp/'never2'/'transfer_checkpoint.pth.tar').exists()


# ---------------------------------------------------------------------------------------------------------------
# 6. The same weights saved as other self-supervised codebases save them (solo-learn, lightly, MoCo v3, DINO, timm, ...)
#    give the same features and the same k-NN accuracies through the commands, and the same linear probe.

@pytest.fixture(scope='module')
def layouts(tmp):
    "One ResNet-18 (ImageNet stem, as the peers' ResNets) and one 32-px vit_tiny in every layout of tests/support.py."
    from smallssl.archs import create_encoder
    from support import write_resnet_layouts, write_vit_layouts
    torch.manual_seed(6)
    net, student = create_encoder('resnet18', image_size=224), create_encoder('resnet18', image_size=224)
    with torch.no_grad():   # BatchNorm statistics other than the initial ones, so a buffer left behind would show
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d): m.running_mean.uniform_(-.1, .1); m.running_var.uniform_(.5, 1.5)
    vit, vit_student = create_encoder('vit_tiny', image_size=32), create_encoder('vit_tiny', image_size=32)
    return write_resnet_layouts(tmp/'layouts', net, student), write_vit_layouts(tmp/'vit_layouts', vit, vit_student)


def _knn(data, arch, path, out_json, *extra):
    from smallssl import evaluate
    code, out, err = run_cli(evaluate.knn_main, [data, '-a', arch, '--pretrained', path, '--image-size', 32, '-b', 12, '-j', 0, '-k', 7,
                                        '--json', out_json, *extra])
    assert code == 0, err + out
    return json.loads(Path(out_json).read_text())['acc_by_k'], out


def _features(data, arch, path, out, *extra):
    from smallssl import extract
    code, _, err = run_cli(extract.main, [data, '-a', arch, '--pretrained', path, '--image-size', 32, '-b', 12, '-j', 0,
                                           '--knn', '-o', out, *extra])
    assert code == 0, err
    return torch.load(out, weights_only=True)


def test_layouts_same_knn(tmp, layouts):
    "smallssl-knn and smallssl-extract read the same encoder from every layout as from the plain torchvision state_dict."
    # classes i and i + 3 share their colour: the accuracies are not all 100 %, so a neighbour that changes shows
    data = image_folder(tmp/'data_layouts', n=6, classes=('red', 'green', 'blue', 'red2', 'green2', 'blue2'))
    for arch, files, plain in [('resnet18', layouts[0], 'torchvision'), ('vit_tiny', layouts[1], 'deit')]:
        want, _ = _knn(data, arch, files[plain], tmp/f'knn_{arch}_plain.json')
        want_feats = _features(data, arch, files[plain], tmp/f'feats_{arch}_plain.pt')
        for name, path in files.items():
            got, out = _knn(data, arch, path, tmp/f'knn_{arch}_{path.stem}.json')
            assert got == want, (name, got, want)
            assert min(got.values()) < 100, got
            assert 'tensors used, missing none' in out, out
            feats = _features(data, arch, path, tmp/f'feats_{arch}_{path.stem}.pt')
            for k in ('train_features', 'test_features'): assert torch.equal(feats[k], want_feats[k]), (name, k)
    # DINO's student is another network, read only when asked for (`checkpoint_key`, the library side of --checkpoint-key)
    from smallssl.pretrained import load_pretrained_encoder
    a = load_pretrained_encoder('resnet18', layouts[0]['dino'], image_size=32, checkpoint_key='student', verbose=False)
    b = load_pretrained_encoder('resnet18', layouts[0]['dino'], image_size=32, verbose=False)
    assert not torch.equal(a.conv1.weight, b.conv1.weight)


def test_layouts_same_lincls(tmp, data, layouts):
    "smallssl-lincls trains the same probe on a solo-learn Lightning checkpoint as on the plain state_dict."
    res = {}
    for name in ('torchvision', 'solo-learn'):
        out_dir = tmp/f'lc_{name}'
        code, out, err = run_cli(linear.main, [data, '-a', 'resnet18', '--pretrained', layouts[0][name], '--image-size', 32,
                                               '--epochs', 2, '-b', 12, '-j', 0, '--out-dir', out_dir, '--json', tmp/f'lc_{name}.json',
                                               '--no-progress'])
        assert code == 0, err
        r = json.loads((tmp/f'lc_{name}.json').read_text())
        res[name] = ({k: r[k] for k in ('top1', 'top5', 'best_top1', 'epochs')},
                     load_checkpoint(out_dir/'lincls_checkpoint.pth.tar')['state_dict'])
    assert res['torchvision'][0] == res['solo-learn'][0]
    a, b = res['torchvision'][1], res['solo-learn'][1]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)   # the trained fc too
