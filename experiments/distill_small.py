"""Does SEED distillation give a small student a better representation than MoCo from scratch, at small scale, on real photos?

The data: `real_photos.py`'s folder (patches of the photographs that ship with scikit-learn and matplotlib, one class per
quadrant of a photograph: 12 classes, 64 px files, trained and measured at 32 px; `--n-train` / `--n-val` images per class).
The teacher: ResNet-18 trained with the demo's recipe (the train chapter's `SMALL_RECIPE`, `--teacher-epochs`). The student,
MobileNetV3-Small, with the recipe's stem, image size, batch (64), lr (0.0075, cosine) and head (`--mlp wide`), for N epochs
(`--epochs`):

- `moco`: MoCo from scratch (the demo's recipe with `-a mobilenetv3_small`);
- `seed`: SEED from the teacher (`smallssl-distill`: SEED's temperatures 0.2 / 1e-4, MoCo v2's augmentation, queue 1,024);
- `seed + moco`: MoCo warm-started from the distilled checkpoint (`smallssl-train --resume DISTILLED --restart`, the
  reference README's path), N more epochs;
- `random`: the student's random initialisation, and the teacher itself.

Each encoder is measured as the demo measures them (`smallssl.measure.measure`: BatchNorm statistics re-estimated on 2,000
training images, best-NN in norm space over odd k <= 21 on the held-out val split, instance discrimination d-sd acc@1 on
static views of val), plus the linear chapter's `logreg_probe` on the same k-NN features (train -> val). Every training run
uses the demo's launch (torchrun, two processes of one thread; `--nproc`, `--threads`). Seeded (seed 0); finished runs are
cached in OUT and interrupted ones continue from their last checkpoint (`--resume auto`, bit for bit the same result), so an
interrupted script continues where it stopped.

    nice -n 19 python experiments/distill_small.py [--out runs/experiments/distill_small] [--epochs N] [--teacher-epochs 30]
"""
import argparse, json, shlex, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch

from common import recipe, train
from real_photos import photo_patches
from smallssl.distill import DistillConfig
from smallssl.encoder import EncoderSpec
from smallssl.linear import logreg_probe
from smallssl.measure import measure, static_views


def cached(out:Path, name:str, run)->dict:
    "`run()` once: its result is kept in `out/name/run.json`."
    f = out/name/'run.json'
    if f.exists(): return json.loads(f.read_text())
    t0 = time.time()
    res = run()
    res['seconds'] = time.time() - t0
    f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(res, indent=1))
    print(f"=> {name}: {res['seconds']:.0f} s, loss {res['log'][0]['loss']:.3f} -> {res['log'][-1]['loss']:.3f}", flush=True)
    return res


def probe(knn_file:str)->float:
    "Linear probe top-1 (%) on a k-NN feature file: fitted on train, tested on val."
    f = torch.load(knn_file, weights_only=True)
    return logreg_probe(f['train_features'], f['train_labels'], f['test_features'], f['test_labels'], verbose=False)['top1']


def main(out:Path, epochs:int, teacher_epochs:int, n_train:int, n_val:int, moco_k:int=1024, threads:int=1, nproc:int=2):
    torch.set_num_threads(threads)   # the measurements run here: more threads than the cores a busy machine gives stall each other
    data = photo_patches(out/'data', n_train=n_train, n_val=n_val)
    teacher_cfg = recipe(epochs=teacher_epochs, moco_k=moco_k, print_freq=1000, keep_last=1, resume='auto')   # auto: an interrupted run continues
    student = dict(arch='mobilenetv3_small', epochs=epochs, print_freq=1000, keep_last=1, resume='auto')
    runs = {}
    runs['teacher'] = cached(out, 'teacher', lambda: train(data, out/'teacher'/'checkpoints', teacher_cfg, threads, nproc))
    moco_cfg = recipe(moco_k=moco_k, **student)
    runs['moco'] = cached(out, 'moco', lambda: train(data, out/'moco'/'checkpoints', moco_cfg, threads, nproc))
    r = teacher_cfg   # the student's shared settings: the recipe's
    seed_cfg = DistillConfig(teacher=runs['teacher']['checkpoint'], stem=r.stem, image_size=r.image_size, batch_size=r.batch_size,
                             lr=r.lr, cos=r.cos, moco_k=r.moco_k, moco_dim=r.moco_dim, mlp=r.mlp, aug=r.aug, workers=r.workers,
                             seed=r.seed, **student)
    runs['seed'] = cached(out, 'seed', lambda: train(data, out/'seed'/'checkpoints', seed_cfg, threads, nproc, 'smallssl.distill'))
    warm_cfg = moco_cfg.changed(resume=runs['seed']['checkpoint'], restart=True)   # the reference README's path
    runs['seed + moco'] = cached(out, 'seed+moco', lambda: train(data, out/'seed+moco'/'checkpoints', warm_cfg, threads, nproc))
    # -- one measurement of every encoder on the same data and static views --------------------------------------------------
    spec = lambda c: EncoderSpec(arch=c.arch, stem=c.stem, image_size=c.image_size, precise_bn=2000, batch_size=256, workers=0, seed=c.seed)
    encoders = {'teacher': spec(teacher_cfg).changed(pretrained=runs['teacher']['checkpoint']), 'random': spec(moco_cfg),
                **{k: spec(moco_cfg).changed(pretrained=runs[k]['checkpoint']) for k in ('moco', 'seed', 'seed + moco')}}
    static = static_views(data/'val', out/'static', r.image_size, n_val, r.seed).dst
    m = measure({k.replace(' ', ''): v for k, v in encoders.items()}, data, out/'measure', static=static, k=21, resume=True)
    rows = []
    for name in encoders:
        res, run = m[name.replace(' ', '')], runs.get(name)
        n_ep = {'teacher': teacher_epochs, 'random': 0, 'seed + moco': 2 * epochs}.get(name, epochs)
        rows.append(dict(encoder=name, arch=encoders[name].arch, epochs=n_ep, seconds=sum(r['time'] for r in run['log']) if run else None,
                         loss=(run['log'][0]['loss'], run['log'][-1]['loss']) if run else None,
                         best_nn=res['knn']['norm']['best_nn'], best_k=res['knn']['norm']['best_k'],
                         instdisc1=res['instdisc']['d-sd']['topk'][0], probe=probe(res['files']['knn'])))
    commands = {'teacher': teacher_cfg, 'moco': moco_cfg, 'seed': seed_cfg, 'seed + moco': warm_cfg}
    (out/'results.json').write_text(json.dumps(dict(rows=rows, commands={k: c.to_argv() for k, c in commands.items()}), indent=1))
    print(f"\nreal photos, {12 * n_train} training and {12 * n_val} held-out images (12 classes) at {r.image_size} px; seed {r.seed}; "
          f"{'torchrun, %d processes' % nproc if nproc else 'one process'} of {threads} thread(s)\n")
    print("| encoder | epochs | training s (sum of the epochs) | loss first → last | best-NN norm (%) | instdisc d-sd acc@1 (%) | linear probe top-1 (%) |")
    print("|---|---|---|---|---|---|---|")
    for x in rows:
        loss = f"{x['loss'][0]:.3f} → {x['loss'][1]:.3f}" if x['loss'] else ''
        secs = f"{x['seconds']:.0f}" if x['seconds'] else ''
        name = x['encoder'] + ('' if x['arch'] == 'mobilenetv3_small' else f" ({x['arch']})")
        print(f"| {name} | {x['epochs']} | {secs} | {loss} | {x['best_nn']:.2f} (k {x['best_k']}) | {x['instdisc1']:.2f} | {x['probe']:.2f} |")
    print()
    for k, c in commands.items():
        prog = 'smallssl-distill' if isinstance(c, DistillConfig) else 'smallssl-train'
        shown = c.changed(data='DATA', ckpt_dir=f"OUT/{k.replace(' ', '')}", resume='' if c.resume == 'auto' else 'OUT/seed/checkpoint_NNNN.pth.tar')
        if isinstance(c, DistillConfig): shown.teacher = 'OUT/teacher/checkpoint_NNNN.pth.tar'
        print(f"{k}: {prog} {shlex.join(shown.to_argv())}")
    return rows


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='runs/experiments/distill_small')
    p.add_argument('--epochs', type=int, default=20, help='epochs of each student run (MoCo, SEED, and MoCo after SEED)')
    p.add_argument('--teacher-epochs', type=int, default=30, help="the teacher's epochs (the demo recipe's 30)")
    p.add_argument('--n-train', type=int, default=200, help='training images per class')
    p.add_argument('--n-val', type=int, default=50, help='held-out images per class')
    p.add_argument('--moco-k', type=int, default=1024, help="queue length of every run (the demo recipe's 1,024)")
    p.add_argument('--nproc', type=int, default=2, help="training processes under torchrun, as the demo (0: one process without torchrun)")
    p.add_argument('--threads', type=int, default=1, help='threads per training process')
    a = p.parse_args()
    main(Path(a.out), a.epochs, a.teacher_epochs, a.n_train, a.n_val, a.moco_k, a.threads, a.nproc)
