"""Command-line tests of distillation: `python -m smallssl.distill`, then the reference README's improved-baseline command
(`--resume <SEED-distilled checkpoint> --restart`) with `python -m smallssl.train`, and `--help` with SEED's defaults.

    .venv/bin/python -m pytest tests/test_distill_cli.py
"""
import json, os, subprocess, sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '', 'PYTHONUNBUFFERED': '1'}


def run(cmd, timeout=300):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    "A tiny ImageFolder (4 classes x 8 training images of 32 px) and a MoCo ResNet-18 teacher with a 16-d `wide` head."
    from smallssl.toy import toy_dataset, TOY_CLASSES
    from smallssl.moco import MoCo
    from smallssl.checkpoint import make_checkpoint
    d = tmp_path_factory.mktemp('distill')
    torch.manual_seed(0)
    m = MoCo('resnet18', dim=16, K=32, mlp='wide', image_size=32, stem='imagenet')
    torch.save(make_checkpoint(m, torch.optim.SGD(m.parameters(), lr=0.1), 1, 'resnet18'), d/'teacher.pth.tar')
    return toy_dataset(root=d, n_train=8, n_val=2, size=32, classes=TOY_CLASSES[:4], verbose=False), d/'teacher.pth.tar'


def test_python_m_distill_then_moco_restart(inputs, tmp_path):
    toy, teacher = inputs
    ck = tmp_path/'seed'
    r = run([sys.executable, '-m', 'smallssl.distill', toy, '--teacher', teacher, '-a', 'mobilenetv3_small', '--image-size', 32,
             '-b', 8, '--moco-k', 32, '--moco-dim', 16, '--mlp', 'wide', '-j', 0, '--epochs', 1, '-p', 1, '--ckpt-dir', ck])
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in ck.iterdir()) == ['checkpoint_0000.pth.tar', 'config.json', 'curves.png', 'log.jsonl']
    assert 'Distill: [0][0/4]' in r.stdout and '=> epoch 0: SEED loss' in r.stdout, r.stdout[-2000:]
    c = torch.load(ck/'checkpoint_0000.pth.tar', weights_only=True)
    assert c['epoch'] == 1 and c['arch'] == 'mobilenetv3_small' and c['state_dict']['module.queue'].shape == (16, 32)
    # the reference README's improved-baseline command, scaled down: MoCo from the distilled checkpoint as it is
    r = run([sys.executable, '-m', 'smallssl.train', toy, '-a', 'mobilenetv3_small', '--image-size', 32, '-b', 8, '--moco-k', 32,
             '--moco-dim', 16, '--mlp', 'wide', '-j', 0, '--epochs', 1, '--lr', 0.06, '--cos', '--aug-plus', '--cj', 1.,
             '--ckpt-dir', tmp_path/'moco', '--resume', ck/'checkpoint_0000.pth.tar', '--restart'])
    assert r.returncode == 0, r.stderr[-3000:]
    line = [l for l in r.stdout.splitlines() if 'a SEED checkpoint' in l]
    assert len(line) == 1 and 'module.student.* -> module.encoder_q.*' in line[0], r.stdout[-2000:]
    assert 'starting at epoch 0' in r.stdout
    log = [json.loads(l) for l in (tmp_path/'moco'/'log.jsonl').read_text().splitlines()]
    assert [l['epoch'] for l in log] == [0]


def test_help_lists_seed_flags(inputs):
    r = run([sys.executable, '-m', 'smallssl.distill', '--help'])
    assert r.returncode == 0, r.stderr
    text = ' '.join(r.stdout.split())
    for words in ['--teacher CKPT, --distill CKPT', '--teacher-t T, --distill-t T', '(default: 0.0001)', '--student-t T, --temp T',
                  '(default: 0.2)', '--moco-k K, --queue K', '(default: 65536)', '--cos, --no-cos']:
        assert words in text, words
