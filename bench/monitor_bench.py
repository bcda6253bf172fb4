#!/usr/bin/env python
"""What the k-NN monitor costs against a training epoch: measured at the demo's scale, estimated for ImageNet-100.

1. The demo's scale, measured: `smallssl-train` with the demo's recipe (`SMALL_RECIPE`: ResNet-18 at 32 px, symmetric
   loss, batch 64) on the embedded textures (2,000 training and 500 validation images) under `torchrun` with two
   processes of one thread each, as `smallssl-demo` runs it, with `--eval-freq 1`. Every line of the run's `log.jsonl`
   holds the epoch's training time (`time`) and the monitor's (`knn_time`), measured in the same run one after the other,
   so their ratio holds on a busy machine. With `--precise-bn N` the same run is repeated with the monitor's BatchNorm
   statistics re-estimated on N training images first: the monitor runs on a copy of the encoder, so both runs train the
   same weights, and the difference in `knn_top1` is what precise BN changes.
2. ImageNet-100 (126,689 training and 5,000 validation images at 224 px), estimated: the monitor reads
   min(--monitor-train, 126,689) + min(--monitor-train, 5,000) = 15,000 images once per evaluation, an epoch reads
   126,689 images twice. Measured per image in this process, A and B alternating: (compute) a MoCo training step with the
   paper's recipe (asymmetric loss, ResNet-18 by default) against a forward pass of the encoder in eval mode, on
   synthetic 224 px tensors; (input pipeline) two views of the improved augmentation against the evaluation transform,
   each decoding the same 500 x 375 JPEG. The share of an epoch is (15,000 x per-image monitor cost) / (126,689 x
   per-image training cost), for each of the two; on GPUs the input pipeline is usually the bound (BENCHMARKS.md).

    python bench/monitor_bench.py                          # both parts (minutes on 2 CPU cores)
    python bench/monitor_bench.py --epochs 3 --precise-bn 2000 --skip-imagenet
    python bench/monitor_bench.py --epochs 1 --precise-bn 500 --skip-imagenet --demo-arch mobilenetv3_small
    python bench/monitor_bench.py --skip-demo --arch resnet50
"""
import argparse, io, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import smallssl.train
from smallssl.train import SMALL_RECIPE, TrainConfig
from smallssl.moco import MoCo
from smallssl.archs import create_encoder
from smallssl.augment import build_train_transform, eval_transform

IN100_TRAIN, IN100_VAL = 126_689, 5_000


def demo_run(out:Path, epochs:int, nproc:int, precise_bn:int, arch:str='resnet18')->list:
    "Train the demo's recipe (with `arch`) with the monitor every epoch under torchrun; the log's records."
    enc = {} if arch == SMALL_RECIPE['arch'] else dict(arch=arch, stem=None)   # another encoder: its default stem at 32 px
    cfg = TrainConfig(**SMALL_RECIPE).changed(data='toy-textures', epochs=epochs, eval_freq=1, precise_bn=precise_bn,
                                              ckpt_dir=str(out), print_freq=1000, keep_last=1, **enc)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={nproc}',
           str(Path(smallssl.train.__file__)), *cfg.to_argv()]
    p = subprocess.run(cmd, env={**os.environ, 'OMP_NUM_THREADS': '1'}, capture_output=True, text=True)
    if p.returncode: sys.exit(f"training failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-3000:]}")
    return [json.loads(l) for l in (out/'log.jsonl').read_text().splitlines() if l.strip()]


def demo_part(a)->dict:
    tmp = Path(tempfile.mkdtemp(prefix='monitor-bench-'))
    runs = {'eval-mode BN': demo_run(tmp/'eval', a.epochs, a.nproc, 0, a.demo_arch)}
    if a.precise_bn: runs[f'precise BN {a.precise_bn}'] = demo_run(tmp/'pbn', a.epochs, a.nproc, a.precise_bn, a.demo_arch)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n## demo scale: the demo's recipe with {a.demo_arch}, {a.nproc} torchrun processes of one thread, "
          f"embedded textures (2,000 train / 500 val, 32 px)\n")
    print("| run | epoch | epoch s | monitor s | monitor / epoch | knn_top1 (%) | loss |\n|---|---|---|---|---|---|---|")
    for name, log in runs.items():
        for r in log:
            print(f"| {name} | {r['epoch']} | {r['time']:.1f} | {r['knn_time']:.1f} | {100 * r['knn_time'] / r['time']:.1f} % | "
                  f"{r['knn_top1']:.2f} | {r['loss']:.4f} |")
    res = {name: dict(ratio_median=statistics.median(r['knn_time'] / r['time'] for r in log),
                      knn_top1=[r['knn_top1'] for r in log], loss=[r['loss'] for r in log]) for name, log in runs.items()}
    for name, r in res.items(): print(f"\n{name}: monitor / epoch, median over {a.epochs} epochs: {100 * r['ratio_median']:.1f} %")
    if len(runs) == 2:
        (n0, l0), (n1, l1) = runs.items()
        same = all(x['loss'] == y['loss'] for x, y in zip(l0, l1))
        print(f"same training in both runs (losses equal): {same}; knn_top1 {n1} - {n0} per epoch: "
              + ", ".join(f"{y['knn_top1'] - x['knn_top1']:+.2f}" for x, y in zip(l0, l1)))
    return res


def _alternate(fa, fb, reps:int)->tuple:
    "Seconds per call of fa and fb, timed alternately `reps` times each after one warm-up call each; medians."
    fa(); fb()
    ta, tb = [], []
    for _ in range(reps):
        t = time.perf_counter(); fa(); ta.append(time.perf_counter() - t)
        t = time.perf_counter(); fb(); tb.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def imagenet_part(a)->dict:
    torch.manual_seed(0)
    b, size = a.batch, 224
    model = MoCo(a.arch, dim=128, K=b * 16, image_size=size, stem='imagenet').to(memory_format=torch.channels_last)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.06, momentum=0.9, weight_decay=1e-4)
    enc = create_encoder(a.arch, num_classes=10, image_size=size, stem='imagenet').eval().to(memory_format=torch.channels_last)
    enc.fc = torch.nn.Identity()
    x = torch.randn(b, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randn(b, 3, size, size).contiguous(memory_format=torch.channels_last)
    def step():
        logits, labels = model(x, y)
        opt.zero_grad(set_to_none=True); F.cross_entropy(logits, labels).backward(); opt.step()
    def forward():
        with torch.inference_mode(): enc(x)
    t_step, t_fwd = (t / b for t in _alternate(step, forward, a.reps))
    from PIL import Image
    buf = io.BytesIO(); Image.effect_noise((500, 375), 60).convert('RGB').save(buf, 'JPEG', quality=90); jpeg = buf.getvalue()
    two_views, one_view = build_train_transform(size, 'improved'), eval_transform(size)
    load = lambda: Image.open(io.BytesIO(jpeg)).convert('RGB')
    n = a.images
    t_aug, t_ev = (t / n for t in _alternate(lambda: [two_views(load()) for _ in range(n)], lambda: [one_view(load()) for _ in range(n)], a.reps))
    m_imgs = min(a.monitor_train, IN100_TRAIN) + min(a.monitor_train, IN100_VAL)
    share_compute = m_imgs * t_fwd / (IN100_TRAIN * t_step)
    share_pipeline = m_imgs * t_ev / (IN100_TRAIN * t_aug)
    print(f"\n## ImageNet-100 estimate: {IN100_TRAIN:,} train / {IN100_VAL:,} val images at {size} px, --monitor-train "
          f"{a.monitor_train:,} ({m_imgs:,} images per evaluation), {a.arch}, {torch.get_num_threads()} threads\n")
    print("| per image | training | monitor | monitor share of an epoch |\n|---|---|---|---|")
    print(f"| compute: MoCo step (batch {b}) vs eval forward | {1e3 * t_step:.1f} ms | {1e3 * t_fwd:.1f} ms | {100 * share_compute:.1f} % |")
    print(f"| input pipeline: two improved views vs eval transform (500x375 JPEG) | {1e3 * t_aug:.2f} ms | {1e3 * t_ev:.2f} ms | "
          f"{100 * share_pipeline:.1f} % |")
    return dict(t_step=t_step, t_fwd=t_fwd, t_aug=t_aug, t_eval=t_ev, share_compute=share_compute, share_pipeline=share_pipeline)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=3, help='epochs of the demo-scale run (each one is timed)')
    p.add_argument('--nproc', type=int, default=2, help='torchrun processes of the demo-scale run (the demo: 2)')
    p.add_argument('--precise-bn', type=int, default=0, help='also run with the monitor re-estimating BatchNorm on N images')
    p.add_argument('--demo-arch', default=SMALL_RECIPE['arch'], help="encoder of the demo-scale run (another than the demo's: its default stem)")
    p.add_argument('--skip-demo', action='store_true', help='only the ImageNet-100 estimate')
    p.add_argument('--skip-imagenet', action='store_true', help='only the demo-scale measurement')
    p.add_argument('--arch', default='resnet18', help='encoder of the ImageNet-100 estimate')
    p.add_argument('--batch', type=int, default=16, help='batch of the 224 px compute measurement')
    p.add_argument('--images', type=int, default=20, help='images per timing of the input pipeline')
    p.add_argument('--reps', type=int, default=3, help='alternating repetitions of each 224 px timing')
    p.add_argument('--monitor-train', type=int, default=10_000, help="the monitor's --monitor-train")
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    a = p.parse_args(argv)
    print(f"# torch {torch.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
    res = {}
    if not a.skip_demo: res['demo'] = demo_part(a)
    if not a.skip_imagenet:
        torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', torch.get_num_threads())))
        res['imagenet100'] = imagenet_part(a)
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == '__main__': main()
