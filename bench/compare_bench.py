#!/usr/bin/env python
"""Benchmark `smallssl-compare` against the single-metric commands run one by one, in the same run: the random encoder and N
checkpoints measured on the same data and static views. Counts what each way does (static-view samplings, feature
extractions = passes of an encoder over a dataset, precise-BN passes, metric computations), times both, and checks that both
give the same numbers.

    python bench/compare_bench.py [-n 3] [--repeats 1] [--probe] [--n-train 40] [--n-val 10] [--per-class 10]

The single-metric way is what a user without `smallssl-compare` runs: `smallssl-sample-augs` once, then for every encoder
`smallssl-knn DATA ... --rep-space S` for the three spaces, `smallssl-instdisc STATIC ... --mode M` for both modes,
`smallssl-stats STATIC ...` (and `smallssl-lincls DATA --probe ...` with --probe), each on the model, so each extracts its
own features. Both ways call the commands' own functions in this process (no start-up cost counted). The data is the
embedded scenes dataset generated small into a temporary folder; the checkpoints are random ResNet-18 draws saved as
smallssl-train saves them (the cost does not depend on what the weights learnt).
"""
import argparse, contextlib, io, shutil, sys, tempfile, time
from pathlib import Path

import torch

import smallssl.encoder as encoder
import smallssl.measure as measure_mod
import smallssl.compare as compare_mod
from smallssl.pretrained import load_pretrained_encoder
from smallssl.compare import CompareConfig, compare
from smallssl.evaluate import InstdiscConfig, KnnConfig, StatsConfig, instdisc, knn, stats
from smallssl.knn import REP_SPACES
from smallssl.linear import LinclsConfig, lincls
from smallssl.metrics import INSTDISC_MODES
from smallssl.toy import toy_dataset

COUNTS = {}

def counted(mod, name, key):
    "Wrap `mod.name` (a function of a module, or a method of a class) so that each call adds 1 to COUNTS[key]."
    fn = getattr(mod, name)
    def wrapper(*a, **kw):
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return fn(*a, **kw)
    setattr(mod, name, wrapper)

def timed(mod, name, key):
    "Wrap `mod.name` so that its wall time adds to COUNTS[key]."
    fn = getattr(mod, name)
    def wrapper(*a, **kw):
        t = time.perf_counter()
        try: return fn(*a, **kw)
        finally: COUNTS[key] = COUNTS.get(key, 0) + time.perf_counter() - t
    setattr(mod, name, wrapper)

counted(encoder.EncoderSpec, 'prepare', 'jobs')          # an extraction job: the encoder built (and its BatchNorm re-estimated)
counted(encoder, 'extract_features', 'extractions')      # EncoderSpec.extract: one pass of an encoder over a dataset
counted(encoder, 'precise_bn', 'precise_bn')             # EncoderSpec.prepare: one BatchNorm re-estimation pass
counted(measure_mod, 'sample_augs', 'samplings')         # static views (`static_views`, both ways)
timed(compare_mod, 'write_figures', 'figures_s')         # compare's pictures (not made by the single commands)

def checkpoints(root:Path, n:int, size:int)->list:
    "N random ResNet-18 encoders saved as smallssl-train saves them."
    out = []
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        torch.manual_seed(100 + i)
        enc = load_pretrained_encoder('resnet18', None, image_size=size, stem='imagenet', verbose=False)
        p = root/f"ckpt{i}.pth.tar"
        torch.save({'epoch': 1, 'arch': 'resnet18', 'args': {'arch': 'resnet18', 'stem': 'imagenet', 'image_size': size},
                    'state_dict': {f'module.encoder_q.{k}': v for k, v in enc.state_dict().items()}}, p)
        out.append(p)
    return out

def by_compare(data, ckpts, out, a):
    "smallssl-compare: every number of every encoder; name -> numbers."
    cfg = CompareConfig(data=str(data), checkpoints=[str(p) for p in ckpts], out=str(out), arch='resnet18', image_size=a.image_size,
                        precise_bn=a.precise_bn, batch_size=a.batch_size, workers=0, per_class=a.per_class, k=a.k, probe=a.probe,
                        tsne_classes=4, tsne_per_class=10)
    res = compare(cfg)
    return {e['name']: dict(knn={s: e['knn'][s]['acc_by_k'] for s in REP_SPACES}, instdisc={m: e['instdisc'][m]['topk'] for m in INSTDISC_MODES},
                            stats={k: v for k, v in e['stats'].items() if k != 'n'}, probe=(e['probe'] or {}).get('top1')) for e in res['encoders']}

def by_commands(data, ckpts, out, a):
    "The single-metric commands one by one, each on the model: name -> numbers."
    static = out/'static'
    measure_mod.static_views(Path(data)/'val', static, a.image_size, a.per_class, seed=0)   # smallssl-sample-augs, once
    enc = dict(arch='resnet18', stem='imagenet', image_size=a.image_size, precise_bn=a.precise_bn, batch_size=a.batch_size, workers=0, seed=0)
    rows = {'random': ''} | {Path(p).name[:-len('.pth.tar')]: str(p) for p in ckpts}
    res = {}
    for name, ck in rows.items():
        e = dict(enc, pretrained=ck)
        res[name] = dict(knn={s: knn(KnnConfig(data=str(data), rep_space=s, k=a.k, **e))['acc_by_k'] for s in REP_SPACES},
                         instdisc={m: instdisc(InstdiscConfig(data=str(static), mode=m, **e))['topk'] for m in INSTDISC_MODES},
                         stats={k: v for k, v in stats(StatsConfig(data=str(static), **e)).items() if k not in ('n', 'meta', 'args')},
                         probe=lincls(LinclsConfig(data=str(data), probe=True, **e))['top1'] if a.probe else None)
    return res

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('-n', type=int, default=3, help='checkpoints (the random encoder is measured too)')
    p.add_argument('--repeats', type=int, default=1, help='alternate the two ways this many times (fresh folders each time)')
    p.add_argument('--probe', action='store_true', help='also the fast linear probe (compare --probe; smallssl-lincls --probe)')
    p.add_argument('--n-train', type=int, default=40, help='training images per class of the generated dataset (10 classes)')
    p.add_argument('--n-val', type=int, default=10, help='validation images per class')
    p.add_argument('--per-class', type=int, default=10, help='static views: images per class')
    p.add_argument('--image-size', type=int, default=32)
    p.add_argument('--precise-bn', type=int, default=400)
    p.add_argument('-b', '--batch-size', type=int, default=100)
    p.add_argument('-k', type=int, default=21)
    a = p.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix='compare-bench-'))
    try:
        data = toy_dataset(root, n_train=a.n_train, n_val=a.n_val, size=64, verbose=False)
        ckpts = checkpoints(root/'ckpts', a.n, a.image_size)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {10 * a.n_train} training, {10 * a.n_val} validation "
              f"images (embedded scenes) at {a.image_size} px, static views of {10 * a.per_class}; resnet18, precise BN on "
              f"{a.precise_bn} images; random + {a.n} checkpoints", flush=True)
        rows, numbers = [], {}
        for r in range(a.repeats):
            for way, fn in [('smallssl-compare', by_compare), ('single-metric commands', by_commands)]:
                COUNTS.clear()
                t = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    numbers[way] = fn(data, ckpts, root/f"{way.split()[0]}-{r}", a)
                rows.append((way, time.perf_counter() - t, dict(COUNTS)))
            assert numbers['smallssl-compare'] == numbers['single-metric commands'], "the two ways disagree"
        n_metrics = len(REP_SPACES) + len(INSTDISC_MODES) + 1 + bool(a.probe)
        print(f"\nencoders: {a.n + 1}; metric computations per encoder: {n_metrics} ({len(REP_SPACES)} k-NN spaces, "
              f"{len(INSTDISC_MODES)} instance-discrimination modes, the statistics{', the probe' if a.probe else ''}); "
              "numbers identical both ways: yes\n")
        print("| way | static-view samplings | extraction jobs (encoder built, BatchNorm re-estimated, features) | encoder passes over a dataset | precise-BN passes | seconds | of which figures |")
        print("|---|---|---|---|---|---|---|")
        for way, secs, c in rows:
            fig = f"{c['figures_s']:.1f}" if 'figures_s' in c else '–'
            print(f"| {way} | {c.get('samplings', 0)} | {c.get('jobs', 0)} | {c.get('extractions', 0)} | {c.get('precise_bn', 0)} | {secs:.1f} | {fig} |")
        comp = [s - c.get('figures_s', 0) for w, s, c in rows if w == 'smallssl-compare']
        single = [s for w, s, c in rows if w != 'smallssl-compare']
        print(f"\nmeasurement time, single-metric commands / smallssl-compare without its figures: "
              f"{sum(single) / sum(comp):.2f}x (mean of {a.repeats} alternated run(s))")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0

if __name__ == '__main__': sys.exit(main())
