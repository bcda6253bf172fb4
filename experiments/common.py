"""Shared by the experiment scripts: train with the real `smallssl-train` command, then measure a checkpoint exactly as
the demo does (precise BN on 2,000 training images, best-NN in norm space over odd k <= 21 on val, instance
discrimination d-sd on static views of val). Each script in this folder varies one lever against a baseline."""
from __future__ import annotations
import hashlib, json, os, subprocess, sys, time
from pathlib import Path

import torch

from smallssl.augment import eval_transform
from smallssl.checkpoint import load_pretrained_encoder
from smallssl.data import SafeImageFolder
from smallssl.features import extract_features, precise_bn
from smallssl.static import StaticViews
from smallssl.knn import best_nn
from smallssl.metrics import instdisc_topk
from smallssl.static import sample_augs


def static_views(data:Path, out:Path, image_size:int, seed:int=0)->Path:
    "Static (original, view 1, view 2) triples of `data/val`, MoCo v2 augmentation, as the demo writes them."
    if not (out/'sample-augs.json').exists():
        sample_augs(data/'val', out, 'moco', 50, image_size, workers=2, seed=seed, preview=None, verbose=False)
    return out


def train(data:Path, ckpt_dir:Path, flags:list, threads:int=2, nproc:int=0)->dict:
    "Run `smallssl-train DATA flags` in one process (`nproc` 0), or under torchrun as the demo does; returns the log and the wall time."
    launch = ['-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}', '-m'] if nproc else ['-m']
    cmd = [sys.executable, *launch, 'smallssl.train', str(data), *map(str, flags), '--ckpt-dir', str(ckpt_dir)]
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"training failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    log = [json.loads(l) for l in (ckpt_dir/'log.jsonl').read_text().splitlines() if l.strip()]
    return dict(log=log, seconds=time.time() - t0, checkpoint=str(sorted(ckpt_dir.glob('checkpoint_*.pth.tar'))[-1]))


@torch.no_grad()
def measure(arch:str, ckpt, data:Path, static:Path, image_size:int, precise:int=2000, seed:int=0, stem:str|None=None)->dict:
    "best-NN (norm, odd k <= 21) and instdisc d-sd Acc@1/@5 of a checkpoint (None: random init), as the demo measures."
    torch.manual_seed(seed)
    enc = load_pretrained_encoder(arch, ckpt, image_size=image_size, verbose=False, stem=None if ckpt else stem)
    tf = eval_transform(image_size)
    tr, va = SafeImageFolder(data/'train', tf, verbose=False), SafeImageFolder(data/'val', tf, verbose=False)
    sv = StaticViews(static, 'normal', None, image_size, verbose=False)
    kw = dict(batch_size=256, workers=0, device='cpu', verbose=False)
    if precise: precise_bn(enc, tr, precise, seed=seed, **kw)
    ftr, ytr, _ = extract_features(enc, tr, **kw)
    fva, yva, _ = extract_features(enc, va, **kw)
    fsv, _, _ = extract_features(enc, sv, **kw)
    knn = best_nn(ftr, ytr, fva, yva, k=21, rep_space='norm')
    top = instdisc_topk(fsv.permute(1, 0, 2), 'd-sd', 5)
    return dict(best_nn=knn['best_nn'], instdisc1=top[0], instdisc5=top[4])


def toy(version:str='v3', root:Path|None=None)->Path:
    "An embedded dataset at its default size (2,000 train, 500 val, 64 px): 'v3' the scenes, 'v2' the textures."
    from smallssl.data import toy_dataset
    return toy_dataset(root, verbose=False, kind='scenes' if version == 'v3' else 'textures')


def run_config(name:str, data:Path, flags:list, out:Path, threads:int=2, nproc:int=0)->dict:
    "Train one configuration of `smallssl-train` flags (cached in `out/name/result.json`); measure it and its random init."
    res_file = out/name/'result.json'
    if res_file.exists(): return json.loads(res_file.read_text())
    flags = [*map(str, flags), '-p', '1000', '--keep-last', '1']
    get = lambda f, default: flags[flags.index(f) + 1] if f in flags else default
    arch, image_size, seed = get('-a', 'resnet50'), int(get('--image-size', 224)), int(get('--seed', 0))
    stem = get('--stem', None)
    tag = hashlib.sha1(str(Path(data).resolve()).encode()).hexdigest()[:8]   # two datasets may share a folder name
    static = static_views(data, out/f'static-{data.name}-{tag}-{image_size}', image_size, seed)
    res = train(data, out/name/'checkpoints', flags, threads, nproc)
    res.update(measure(arch, res['checkpoint'], data, static, image_size, seed=seed))
    res['random'] = measure(arch, None, data, static, image_size, seed=seed, stem=stem)
    res['flags'] = flags
    res_file.write_text(json.dumps(res, indent=1))
    return res


def table(rows:list)->str:
    "Markdown table of `(name, result)` pairs: time, loss first -> last epoch, batch acc@1, best-NN and instdisc random -> trained."
    head = ("| run | train s | loss first → last | batch acc@1 last (%) | best-NN random → trained (%) | "
            "instdisc d-sd acc@1 random → trained (%) |\n|---|---|---|---|---|---|")
    lines = [head]
    for name, r in rows:
        l0, l1 = r['log'][0]['loss'], r['log'][-1]['loss']
        lines.append(f"| {name} | {r['seconds']:.0f} | {l0:.2f} → {l1:.2f} | {r['log'][-1]['batch_acc1']:.1f} | "
                     f"{r['random']['best_nn']:.1f} → {r['best_nn']:.1f} | {r['random']['instdisc1']:.1f} → {r['instdisc1']:.1f} |")
    return "\n".join(lines)
