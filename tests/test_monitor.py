"""Watching training (issue 30): the k-NN monitor, the representation statistics and TensorBoard, through the commands.

- `smallssl-train ... --eval-freq 1 --tensorboard` writes knn_top1, align, uniform and feat_std into every line of log.jsonl;
  the last knn_top1 equals a weighted k-NN computed here, independently, in NumPy (MoCo's `knn_predict`), from the
  `smallssl-extract --knn` features of the last checkpoint; TensorBoard's own reader finds the same scalars, and a
  resumed run continues the curves without duplicate steps;
- without the tensorboard package, `--tensorboard` ends in one line naming the extra, exit status 2;
- a two-process `torchrun` run and one process log the same monitor value for the same weights (slow).

    .venv/bin/python -m pytest tests/test_monitor.py            # add -m 'not slow' to skip the torchrun test
"""
import json, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '', 'PYTHONUNBUFFERED': '1'}
ENC = '-a resnet18 --stem small --image-size 32'.split()
TINY = ENC + '-b 8 --moco-k 32 -j 0 --seed 0 --lr 0.06 --moco-m 0.99'.split()
KEYS = ('knn_top1', 'align', 'uniform', 'feat_std')


def run(*args, timeout=600):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=timeout)


def log(ck): return [json.loads(l) for l in (ck/'log.jsonl').read_text().splitlines() if l.strip()]


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    "A tiny ImageFolder dataset: 4 classes x 8 training and 5 validation images of 32 px."
    from smallssl.toy import toy_dataset, TOY_CLASSES
    return toy_dataset(root=tmp_path_factory.mktemp('toy'), n_train=8, n_val=5, size=32, classes=TOY_CLASSES[:4], verbose=False)


def moco_knn_top1(train_f, train_y, test_f, test_y, k=200, t=0.1)->float:
    "MoCo's CIFAR-10 demo monitor (`knn_predict`) in NumPy, float64: cosine similarity, top k, weights exp(sim / t)."
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = unit(test_f.astype(np.float64)) @ unit(train_f.astype(np.float64)).T        # M x N
    k = min(k, sim.shape[1])
    idx = np.argsort(-sim, axis=1, kind='stable')[:, :k]
    w = np.exp(np.take_along_axis(sim, idx, 1) / t)
    classes = int(max(train_y.max(), test_y.max())) + 1
    scores = np.zeros((len(sim), classes))
    for c in range(classes): scores[:, c] = (w * (train_y[idx] == c)).sum(1)
    return 100 * float((scores.argmax(1) == test_y).mean())


def tb_scalars(folder)->dict:
    "tag -> [(step, value)] as TensorBoard's own reader sees the event files of `folder`."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(folder)); ea.Reload()
    return {t: [(e.step, e.value) for e in ea.Scalars(t)] for t in ea.Tags()['scalars']}


def test_monitor_log_extract_tensorboard_resume(toy, tmp_path):
    ck = tmp_path/'ck'
    r = run(sys.executable, '-m', 'smallssl.train', toy, *TINY, '--epochs', '2', '--eval-freq', '1', '--tensorboard', '--ckpt-dir', ck)
    assert r.returncode == 0, r.stderr[-3000:]
    assert '=> k-NN monitor every 1 epoch(s)' in r.stdout and 'k-NN top-1' in r.stdout, r.stdout[-2000:]
    lines = log(ck)
    assert [l['epoch'] for l in lines] == [0, 1]
    for l in lines: assert all(isinstance(l.get(k), float) and np.isfinite(l[k]) for k in KEYS), l
    # the last knn_top1 against MoCo's weighted k-NN on the features smallssl-extract writes for the last checkpoint
    feats = tmp_path/'knn.pt'
    r = run(sys.executable, '-m', 'smallssl.extract', toy, '--knn', *ENC, '-b', '8', '-j', '0', '--pretrained',
            ck/'checkpoint_0001.pth.tar', '-o', feats)
    assert r.returncode == 0, r.stderr[-3000:]
    f = torch.load(feats, weights_only=True)
    want = moco_knn_top1(f['train_features'].numpy(), f['train_labels'].numpy(), f['test_features'].numpy(), f['test_labels'].numpy())
    assert abs(lines[-1]['knn_top1'] - want) <= 0.5, (lines[-1]['knn_top1'], want)
    # TensorBoard holds every number of every line, under the same names, step = epoch
    tb = tb_scalars(ck/'tensorboard')
    numbers = {k for l in lines for k, v in l.items() if k != 'epoch' and isinstance(v, (int, float))}
    assert numbers >= set(KEYS) | {'loss', 'acc1', 'lr', 'img_per_s', 'data_wait'} and set(tb) == numbers, (sorted(tb), sorted(numbers))
    for k in numbers:
        assert [s for s, _ in tb[k]] == [0, 1], (k, tb[k])
        np.testing.assert_allclose([v for _, v in tb[k]], [l[k] for l in lines], rtol=1e-6, err_msg=k)
    # resuming from the first checkpoint (as after a crash in epoch 1) replaces epoch 1 and adds epoch 2: no duplicate step
    (ck/'checkpoint_0001.pth.tar').unlink()
    r = run(sys.executable, '-m', 'smallssl.train', toy, *TINY, '--epochs', '3', '--eval-freq', '1', '--tensorboard',
            '--ckpt-dir', ck, '--resume', 'auto', '--lr', '0.03')
    assert r.returncode == 0, r.stderr[-3000:]
    lines2, tb = log(ck), tb_scalars(ck/'tensorboard')
    assert [l['epoch'] for l in lines2] == [0, 1, 2] and lines2[0] == lines[0]
    assert lines2[1]['lr'] != lines[1]['lr']                        # epoch 1 was run again, at another learning rate
    for k in ('loss', 'lr', 'knn_top1', 'uniform'):
        assert [s for s, _ in tb[k]] == [0, 1, 2], (k, tb[k])
        np.testing.assert_allclose([v for _, v in tb[k]], [l[k] for l in lines2], rtol=1e-6, err_msg=k)


def test_monitor_off_lines(toy, tmp_path):
    "No val/ split: the automatic monitor is off with one line; asking for it is an error naming the folder; --eval-freq 0 is silent."
    import shutil
    data = tmp_path/'noval'; shutil.copytree(toy/'train', data/'train')
    r = run(sys.executable, '-m', 'smallssl.train', data, *TINY, '--epochs', '1', '--ckpt-dir', tmp_path/'a')
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('=> k-NN monitor off: DATA has no val/ folder') == 1, r.stdout[-2000:]
    assert all('knn_top1' not in l and 'align' in l for l in log(tmp_path/'a'))
    r = run(sys.executable, '-m', 'smallssl.train', data, *TINY, '--epochs', '1', '--eval-freq', '2', '--ckpt-dir', tmp_path/'b')
    assert r.returncode == 2 and '--eval-freq 2: the k-NN monitor classifies DATA/val' in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/'b').exists()
    r = run(sys.executable, '-m', 'smallssl.train', data, *TINY, '--epochs', '1', '--eval-freq', '0', '--ckpt-dir', tmp_path/'c')
    assert r.returncode == 0 and 'k-NN monitor' not in r.stdout, r.stdout[-2000:]


def test_tensorboard_missing_names_the_extra(toy, tmp_path):
    code = ("import sys; sys.modules['tensorboard'] = None; from smallssl.train import main; "   # as if it were not installed
            f"main({[str(toy), *TINY, '--epochs', '1', '--tensorboard', '--ckpt-dir', str(tmp_path/'ck')]!r})")
    r = run(sys.executable, '-c', code)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    assert lines[0] == 'smallssl-train: error: --tensorboard needs the tensorboard package: pip install "smallssl[tensorboard]"', lines
    assert not (tmp_path/'ck').exists()


# the monitor evaluated on a fixed checkpoint, in as many processes as it is launched with (a test harness, not library code)
_MONITOR_SCRIPT = '''
import json, sys, torch
import smallssl.core as core
from smallssl.train import TrainConfig, knn_monitor, monitor_sets
from smallssl.pretrained import load_pretrained_encoder
data, ckpt, out = sys.argv[1:4]
cfg = TrainConfig(arch='resnet18', stem='small', image_size=32, batch_size=8, moco_k=32, workers=0, seed=0)
device = cfg.device()
bank, val, train = monitor_sets(data, cfg.image_size, cfg.monitor_train, cfg.seed)
enc = load_pretrained_encoder('resnet18', ckpt, image_size=32, stem='small', verbose=False)
top1 = knn_monitor(enc, bank, val, cfg, device, bn_data=train)
if core.is_main(): open(out, 'w').write(json.dumps(dict(knn_top1=top1, world=core.get_world_size())))
if core.is_dist(): torch.distributed.destroy_process_group()
'''


@pytest.mark.slow
def test_torchrun_and_one_process_log_the_same_monitor(toy, tmp_path):
    "A two-process training logs the monitor value that one process, and two, compute on its checkpoint (the same weights)."
    ck = tmp_path/'ck'
    r = run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'smallssl/train.py', toy, *TINY,
            '-b', '16', '--epochs', '2', '--eval-freq', '1', '--ckpt-dir', ck)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    logged = log(ck)[-1]['knn_top1']
    script = tmp_path/'monitor.py'; script.write_text(_MONITOR_SCRIPT)
    got = {}
    for n in (1, 2):
        launch = ['-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={n}'] if n > 1 else []
        r = run(sys.executable, *launch, script, toy, ck/'checkpoint_0001.pth.tar', tmp_path/f'm{n}.json')
        assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
        got[n] = json.loads((tmp_path/f'm{n}.json').read_text())
    assert (got[1]['world'], got[2]['world']) == (1, 2)
    assert abs(got[1]['knn_top1'] - logged) < 1e-9 and abs(got[2]['knn_top1'] - logged) < 1e-9, (logged, got)
