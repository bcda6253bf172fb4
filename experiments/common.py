"""Shared by the experiment scripts: train a configuration (`recipe(**changes)`, the demo's recipe with one lever changed)
with the real `smallssl-train` command, then measure the checkpoint and its random initialisation exactly as the demo does,
with the same function (`smallssl.measure.measure`: precise BN on 2,000 training images, best-NN in norm space over odd
k <= 21 on val, instance discrimination d-sd on static views of val). Each script in this folder varies one lever
against a baseline."""
from __future__ import annotations
import hashlib, json, os, subprocess, sys, time
from pathlib import Path

from smallssl.encoder import EncoderSpec
from smallssl.measure import measure, static_views
from smallssl.train import SMALL_RECIPE, TrainConfig


def recipe(**changes)->TrainConfig:
    "The demo's recipe (the train chapter's `SMALL_RECIPE`) with `changes` (fields of `TrainConfig`)."
    return TrainConfig(**SMALL_RECIPE).changed(**changes)


def train(data:Path, ckpt_dir:Path, config:TrainConfig, threads:int=2, nproc:int=0, module:str='smallssl.train')->dict:
    "Run `smallssl-train` (or `module`'s command, e.g. 'smallssl.distill' with a `DistillConfig`) with `config` on `data` in one process (`nproc` 0), or under torchrun as the demo does; the log and the wall time."
    cfg = config.changed(data=str(data), ckpt_dir=str(ckpt_dir))
    launch = ['-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}', '-m'] if nproc else ['-m']
    cmd = [sys.executable, *launch, module, *cfg.to_argv()]
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads)}
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode: raise RuntimeError(f"training failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    log = [json.loads(l) for l in (ckpt_dir/'log.jsonl').read_text().splitlines() if l.strip()]
    return dict(log=log, seconds=time.time() - t0, checkpoint=str(sorted(ckpt_dir.glob('checkpoint_*.pth.tar'))[-1]))


def measure_run(config:TrainConfig, checkpoint:str, data:Path, static:Path, out:Path)->dict:
    "The trained checkpoint and its random initialisation measured as the demo measures them (the measure chapter's `measure`)."
    spec = EncoderSpec(arch=config.arch, stem=config.stem, image_size=config.image_size, precise_bn=2000, batch_size=256,
                       workers=0, seed=config.seed)
    m = measure({'trained': spec.changed(pretrained=checkpoint), 'random': spec}, data, out, static=static, k=21)
    short = lambda r: dict(best_nn=r['knn']['norm']['best_nn'], instdisc1=r['instdisc']['d-sd']['topk'][0],
                           instdisc5=r['instdisc']['d-sd']['topk'][4])
    return {**short(m['trained']), 'random': short(m['random'])}


def toy(version:str='v3', root:Path|None=None)->Path:
    "An embedded dataset at its default size (2,000 train, 500 val, 64 px): 'v3' the scenes, 'v2' the textures."
    from smallssl.toy import toy_dataset
    return toy_dataset(root, verbose=False, kind='scenes' if version == 'v3' else 'textures')


def run_config(name:str, data:Path, config:TrainConfig, out:Path, threads:int=2, nproc:int=0)->dict:
    "Train one configuration (cached in `out/name/result.json`); measure it and its random initialisation."
    res_file = out/name/'result.json'
    if res_file.exists(): return json.loads(res_file.read_text())
    config = config.changed(print_freq=1000, keep_last=1)
    tag = hashlib.sha1(str(Path(data).resolve()).encode()).hexdigest()[:8]   # two datasets may share a folder name
    static = out/f'static-{data.name}-{tag}-{config.image_size}'
    static_views(Path(data)/'val', static, config.image_size, 50, config.seed)
    res = train(data, out/name/'checkpoints', config, threads, nproc)
    res.update(measure_run(config, res['checkpoint'], data, static, out/name/'measure'))
    res['flags'] = config.to_argv()
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
