"""Command-line tests of training: the console script, `python -m smallssl.train`, and `torchrun` with 2 CPU processes.

    .venv/bin/python -m pytest tests/test_train_cli.py
"""
import json, os, subprocess, sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '', 'PYTHONUNBUFFERED': '1'}
TINY = '-a mobilenetv3_small --image-size 32 -b 8 --moco-k 32 -j 0 --epochs 1 --seed 0'.split()


def run(cmd, timeout=300, cwd=ROOT):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout)


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "A tiny ImageFolder dataset: 4 classes x 8 training images of 32 px (32 images)."
    from smallssl.toy import toy_dataset, TOY_CLASSES
    return toy_dataset(root=tmp_path_factory.mktemp('toy'), n_train=8, n_val=2, size=32, classes=TOY_CLASSES[:4], verbose=False)


def test_console_script_bad_inputs(toy, tmp_path):
    "Bad input through the `smallssl-train` console script: exit status 2 and a one-line message, no traceback."
    exe = BIN/'smallssl-train'
    if not exe.exists(): pytest.skip('smallssl-train console script not installed (pip install -e .)')
    cut = tmp_path/'cut.pth.tar'
    torch.save({'epoch': 1, 'state_dict': {'w': torch.randn(1000)}}, cut)
    cut.write_bytes(cut.read_bytes()[:800])
    for args, msg in [([tmp_path/'nowhere'] + TINY, 'does not exist'),
                      ([toy] + TINY + ['-a', 'resnet9000'], "argument -a/--arch: invalid choice: 'resnet9000'"),
                      ([toy] + TINY + ['--moco-k', '36'], '--moco-k 36 must be a multiple'),
                      ([toy] + TINY + ['--ckpt-dir', tmp_path/'ck', '--resume', cut], 'is truncated or corrupt')]:
        r = run([exe] + args)
        assert r.returncode == 2, (args, r.stdout[-2000:], r.stderr[-2000:])
        assert msg in r.stderr and 'smallssl-train: error:' in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_python_m_train_and_resume_other_arch(toy, tmp_path):
    "`python -m smallssl.train` trains one epoch; resuming its checkpoint with another -a names the keys (exit 2)."
    ck = tmp_path/'ck'
    r = run([sys.executable, '-m', 'smallssl.train', toy] + TINY + ['--ckpt-dir', ck])
    assert r.returncode == 0, r.stderr[-3000:]
    assert (ck/'checkpoint_0000.pth.tar').is_file() and (ck/'config.json').is_file()
    assert 'acc@1' in r.stdout and 'img/s' in r.stdout and 'data' in r.stdout
    r = run([sys.executable, '-m', 'smallssl.train', toy] + TINY + ['-a', 'resnet18', '--ckpt-dir', tmp_path/'ck2',
                                                                    '--resume', ck/'checkpoint_0000.pth.tar'])
    assert r.returncode == 2 and 'does not fit this model' in r.stderr and 'module.encoder_q.' in r.stderr, r.stderr[-2000:]


def test_torchrun_readme_command_then_resume_auto(toy, tmp_path):
    "The reference README command at tiny sizes under torchrun (2 CPU processes), then `--resume auto` continues it."
    ck = tmp_path/'ck'
    cmd = [BIN/'torchrun', '--standalone', '--nproc_per_node=2', 'smallssl/train.py', toy, '-a', 'mobilenetv3_small',
           '--lr', '0.06', '--batch-size', '16', '-j', '0', '--epochs', '1', '--dist-url', 'env://',
           '--multiprocessing-distributed', '--world-size', '1', '--rank', '0', '--mlp', 'wide', '--moco-t', '0.1',
           '--moco-k', '64', '--aug-plus', '--cj', '1.', '--grey-scale', '0.5', '--gaussian-blur', '0.5', '--cos',
           '--ckpt-dir', ck, '--image-size', '32']
    r = run(cmd, timeout=400)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert sorted(p.name for p in ck.iterdir()) == ['checkpoint_0000.pth.tar', 'config.json', 'curves.png', 'log.jsonl']
    cfg = json.loads((ck/'config.json').read_text())
    assert cfg['world_size'] == 2 and cfg['batch_per_process'] == 8
    c = torch.load(ck/'checkpoint_0000.pth.tar', weights_only=True)
    assert c['epoch'] == 1 and c['arch'] == 'mobilenetv3_small' and c['state_dict']['module.queue'].shape == (128, 64)
    assert r.stdout.count('=> epoch 0:') == 1                 # the summary line comes from rank 0 only
    i = cmd.index('--epochs'); cmd[i + 1] = '2'
    r = run(cmd + ['--resume', 'auto'], timeout=400)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert 'resuming from' in r.stdout and 'starting at epoch 1' in r.stdout
    c = torch.load(ck/'checkpoint_0001.pth.tar', weights_only=True)
    assert c['epoch'] == 2
    assert [json.loads(l)['epoch'] for l in (ck/'log.jsonl').read_text().splitlines()] == [0, 1]
