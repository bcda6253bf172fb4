#!/usr/bin/env python
"""MoCo training-step throughput per encoder: channels_last vs contiguous on CPU, bf16 + channels_last vs fp32 on a GPU.

Synthetic tensors (no data loading), so this measures the model step alone: forward of both encoders with shuffle-BN,
InfoNCE loss, backward, SGD step, momentum update and queue update. Both variants of a row are measured in the same run,
alternating, so the ratio holds on a noisy machine.

    python bench/train_throughput.py                                    # CPU, all archs, 64 and 224 px (slow on 2 cores)
    python bench/train_throughput.py --archs mobilenetv3_small resnet18 --sizes 64 --steps 3   # quick
    python bench/train_throughput.py --cuda --batch 128 --steps 20      # GPU: fp32 vs bf16 autocast + channels_last
    python bench/train_throughput.py --archs resnet18 --sizes 32 64 --batch 64 --stem imagenet   # the ImageNet stem at small sizes
"""
import argparse, json, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smallssl.moco import MoCo

ARCHS = ['resnet18', 'mobilenetv3_small', 'mobilenetv3_large', 'efficientnet_b0', 'vit_tiny']


def make_step(arch, size, batch, device, channels_last, amp_dtype, K, stem=None):
    "A closure doing one MoCo training step on fixed synthetic views."
    torch.manual_seed(0)
    model = MoCo(arch, dim=128, K=K, image_size=size, stem=stem).to(device)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.03, momentum=0.9, weight_decay=1e-4)
    im_q = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=mf)
    im_k = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=mf)
    def step():
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits, labels = model(im_q, im_k)
            loss = F.cross_entropy(logits.float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def timed(step, steps, device):
    if device.type == 'cuda': torch.cuda.synchronize(device)
    t = time.perf_counter()
    for _ in range(steps): step()
    if device.type == 'cuda': torch.cuda.synchronize(device)
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archs', nargs='+', default=ARCHS, help='encoders to measure')
    p.add_argument('--sizes', nargs='+', type=int, default=[64, 224], help='image sizes in pixels')
    p.add_argument('--batch', type=int, default=None, help='batch size (default: 128 at <= 64 px, 32 above on CPU; 128 on GPU)')
    p.add_argument('--steps', type=int, default=5, help='timed steps per variant (split in two alternating halves)')
    p.add_argument('--warmup', type=int, default=2, help='warm-up steps per variant')
    p.add_argument('--cuda', action='store_true', help='on the GPU: fp32 contiguous vs bf16 autocast + channels_last')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    p.add_argument('--stem', default=None, choices=['imagenet', 'small'], help='encoder stem (default: small up to 32 px, imagenet above)')
    p.add_argument('--json', default=None, help='also write the rows to this JSON file')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    if a.cuda and not torch.cuda.is_available(): sys.exit("--cuda: no CUDA GPU here")
    device = torch.device('cuda' if a.cuda else 'cpu')
    if a.cuda:
        torch.backends.cudnn.benchmark = True
        variants = [('fp32', False, None), ('bf16+cl', True, torch.bfloat16)]
    else: variants = [('contiguous', False, None), ('channels_last', True, None)]
    print(f"# device {torch.cuda.get_device_name() if a.cuda else 'cpu'}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"{a.steps} timed steps after {a.warmup} warm-up", flush=True)
    hdr = f"{'arch':18} {'px':>4} {'batch':>5} {variants[0][0] + ' img/s':>18} {variants[1][0] + ' img/s':>20} {'ratio':>6}"
    print(hdr); print('-' * len(hdr), flush=True)
    rows = []
    for arch in a.archs:
        for size in a.sizes:
            batch = a.batch or (128 if a.cuda or size <= 64 else 32)
            steps = [make_step(arch, size, batch, device, cl, dt, K=batch * 16, stem=a.stem) for _, cl, dt in variants]
            for s in steps:
                for _ in range(a.warmup): s()
            t = [0., 0.]
            halves = [a.steps // 2, a.steps - a.steps // 2]
            for h in halves:                      # alternate the variants so load changes hit both
                for v, s in enumerate(steps): t[v] += timed(s, h, device)
            ips = [batch * a.steps / x for x in t]
            row = dict(arch=arch, size=size, batch=batch, device=device.type, **{variants[v][0]: ips[v] for v in range(2)},
                       ratio=ips[1] / ips[0])
            rows.append(row)
            print(f"{arch:18} {size:4d} {batch:5d} {ips[0]:18.1f} {ips[1]:20.1f} {row['ratio']:6.2f}", flush=True)
            del steps
            if a.cuda: torch.cuda.empty_cache()
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=2) + '\n')
    return rows


if __name__ == '__main__': main()
