#!/usr/bin/env python
"""Ways to emulate shuffle-BN's per-group BatchNorm statistics in one process, timed against no groups at all.

For each encoder: one query pass (forward + backward) and one key pass (forward, no gradient) on a batch, BatchNorm
statistics per group of `--groups` contiguous chunks, by
- `groups=1`: one call, BatchNorm over the whole batch (no shuffle-BN; the floor),
- `per-group`: the encoder called once per chunk (smallssl until 2026-12),
- `chunk-bn`: one call; each BatchNorm layer calls `F.batch_norm` per chunk and concatenates,
- `smallssl`: `smallssl.moco.forward_in_groups`, one call; each BatchNorm layer writes each chunk's output in place with
  PyTorch's kernel (no concatenation) and computes the input gradient from per-chunk sums in one pass,
- `var-mean`: one call; statistics by `torch.var_mean` on a `G x N/G x ...` view, normalisation by autograd'ed arithmetic,
- `sum-stats`: one call; a hand-written autograd function on the `G x M x C` view of a channels_last input: statistics
  by two passes of `sum` (`var_mean` over that view's middle dimension measured 60x slower than `sum`), normalisation
  and its gradient by element-wise operations,
- `view-interleave`: MoCo's CIFAR-10 demo's SplitBatchNorm (the batch seen as `N/G x G*C x H x W`: groups interleaved,
  not contiguous; a copy per layer for channels_last inputs).
Every variant is checked against `per-group` (outputs and gradients, with each method's own grouping) before timing;
the timings alternate the variants in rounds, and the table gives the median and the minimum over rounds and
the ratios to `groups=1`.

    python bench/splitbn_bench.py                                   # mobilenetv3_small and resnet18, 32 px, batch 64
    python bench/splitbn_bench.py --archs resnet18 --rounds 5 --threads 2
"""
import argparse, contextlib, statistics, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from smallssl.archs import create_encoder
from smallssl.moco import forward_in_groups

_BN = nn.modules.batchnorm._BatchNorm


def _factor(bn):
    "BatchNorm's momentum for this call, after counting it (as `_BatchNorm.forward`)."
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        return 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return 0.0 if bn.momentum is None else bn.momentum


def chunk_bn(bn, G, x):
    f = _factor(bn)
    xs = x.chunk(G)
    out = [F.batch_norm(xs[0], bn.running_mean, bn.running_var, bn.weight, bn.bias, True, f, bn.eps)]
    out += [F.batch_norm(c, None, None, bn.weight, bn.bias, True, 0., bn.eps) for c in xs[1:]]
    return torch.cat(out)


def var_mean_bn(bn, G, x):
    f = _factor(bn)
    N, C = x.shape[:2]
    xv = x.view(G, N // G, *x.shape[1:])                                   # G x N/G x C x H x W
    dims = (1,) + tuple(range(3, xv.dim()))
    var, mean = torch.var_mean(xv, dim=dims, correction=0, keepdim=True)   # G x 1 x C x 1 x 1
    shape = (1, 1, C) + (1,) * (xv.dim() - 3)
    scale = bn.weight.view(shape) * (var + bn.eps).rsqrt()
    shift = bn.bias.view(shape) - mean * scale
    with torch.no_grad():
        n = xv[0].numel() // C
        bn.running_mean.mul_(1 - f).add_(mean[0].flatten(), alpha=f)
        bn.running_var.mul_(1 - f).add_(var[0].flatten() * n / max(n - 1, 1), alpha=f)
    return (xv * scale + shift).view(x.shape)


class _SumStatsBN(torch.autograd.Function):
    "Training BatchNorm with statistics per group, on the G x M x C view of a 4-d channels_last (or 2-d) input."
    @staticmethod
    def forward(ctx, x, w, b, rm, rv, G, f, eps):
        x3 = _gmc(x, G)
        M = x3.shape[1]
        mean = x3.sum(1).div_(M)                                            # G x C
        xc = x3 - mean.unsqueeze(1)
        var = xc.square().sum(1).div_(M)
        invstd = var.add(eps).rsqrt_()
        with torch.no_grad(): rm.lerp_(mean[0], f); rv.lerp_(var[0] * (M / max(M - 1, 1)), f)
        ctx.save_for_backward(xc, w, invstd)
        ctx.shape = x.shape
        out = torch.empty_like(x, memory_format=torch.channels_last) if x.dim() == 4 else torch.empty_like(x)
        torch.addcmul(b, xc, (w * invstd).unsqueeze(1), out=_gmc(out, G))   # _gmc of a channels_last tensor is a view
        return out

    @staticmethod
    def backward(ctx, dy):
        xc, w, invstd = ctx.saved_tensors
        G, M = xc.shape[:2]
        dy3 = _gmc(dy, G)
        db, sdx = dy3.sum(1), (dy3 * xc).sum(1)                             # sum(dy), sum(dy * (x - mean))
        a = w * invstd                                                      # dx = a*dy - a*db/M - a*invstd^2*sdx/M * (x - mean)
        dx = torch.addcmul((a * db).div_(-M).unsqueeze(1), dy3, a.unsqueeze(1))
        dx.addcmul_(xc, (a * invstd * invstd * sdx).div_(M).unsqueeze(1), value=-1)
        return _from_gmc(dx, ctx.shape), (sdx * invstd).sum(0), db.sum(0), None, None, None, None, None


def _gmc(x, G): return (x.permute(0, 2, 3, 1) if x.dim() == 4 else x).reshape(G, -1, x.shape[1])   # a view for channels_last


def _from_gmc(y, shape): return y.view(shape[0], *shape[2:], shape[1]).permute(0, 3, 1, 2) if len(shape) == 4 else y.view(shape)


def sum_stats_bn(bn, G, x):
    return _SumStatsBN.apply(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, G, _factor(bn), bn.eps)


def view_interleave_bn(bn, G, x):
    f = _factor(bn)
    N, C = x.shape[:2]
    rm, rv = bn.running_mean.repeat(G), bn.running_var.repeat(G)
    y = F.batch_norm(x.reshape(N // G, G * C, *x.shape[2:]), rm, rv, bn.weight.repeat(G), bn.bias.repeat(G), True, f, bn.eps)
    with torch.no_grad():   # group 0's update only: the interleaved group of samples 0, G, 2G, ...
        bn.running_mean.copy_(rm[:C]); bn.running_var.copy_(rv[:C])
    return y.view(x.shape)


@contextlib.contextmanager
def swapped(encoder, fn, G):
    "Every BatchNorm layer of `encoder` computes `fn(bn, G, x)` inside the block."
    bns = [m for m in encoder.modules() if isinstance(m, _BN)]
    for bn in bns: bn.forward = (lambda bn: lambda x: fn(bn, G, x))(bn)
    try: yield
    finally:
        for bn in bns: del bn.forward


def per_group(encoder, x, G):
    xs = x.chunk(G)
    out = [encoder(xs[0])]
    bufs = list(encoder.buffers())
    saved = [b.clone() for b in bufs]
    out += [encoder(c) for c in xs[1:]]
    torch._foreach_copy_([b.data for b in bufs], saved)
    return torch.cat(out)


def interleave(x, G):   # contiguous chunk g -> positions g, g + G, g + 2G, ... (and back with `deinterleave`)
    N = x.shape[0]
    return x.view(G, N // G, *x.shape[1:]).transpose(0, 1).reshape(x.shape)


def deinterleave(x, G):
    N = x.shape[0]
    return x.view(N // G, G, *x.shape[1:]).transpose(0, 1).reshape(x.shape)


def variants(G, cl):
    mf = torch.channels_last if cl else torch.contiguous_format
    def one(enc, x): return enc(x)
    def swap(fn):
        def run(enc, x):
            with swapped(enc, fn, G): return enc(x)
        return run
    def inter(enc, x):   # the demo's trick, with the batch permuted so that its groups are our contiguous chunks
        with swapped(enc, view_interleave_bn, G): return deinterleave(enc(interleave(x, G).contiguous(memory_format=mf)), G)
    return {'groups=1': one, 'per-group': lambda e, x: per_group(e, x, G), 'smallssl': lambda e, x: forward_in_groups(e, x, G),
            'chunk-bn': swap(chunk_bn), 'var-mean': swap(var_mean_bn), 'sum-stats': swap(sum_stats_bn), 'view-interleave': inter}


def make(arch, size, cl):
    torch.manual_seed(0)
    enc = create_encoder(arch, num_classes=128, image_size=size, stem='small')
    for m in enc.modules():   # dropout draws differ between one and several calls: off, so outputs can be compared
        if isinstance(m, nn.Dropout): m.p = 0.
    return enc.to(memory_format=torch.channels_last if cl else torch.contiguous_format).train()


def step(run, enc_q, enc_k, x_q, x_k):
    enc_q.zero_grad(set_to_none=True)
    out = run(enc_q, x_q)
    out.float().pow(2).mean().backward()
    with torch.no_grad(): k = run(enc_k, x_k)
    return out.detach(), k


def check(arch, size, batch, G, cl):
    "Each variant's outputs, gradients and running statistics against `per-group`'s from the same state."
    vs = variants(G, cl)
    mf = torch.channels_last if cl else torch.contiguous_format
    x = torch.randn(batch, 3, size, size).contiguous(memory_format=mf)
    ref_q, ref_k = make(arch, size, cl), make(arch, size, cl)
    want_q, want_k = step(vs['per-group'], ref_q, ref_k, x, x)
    errs = {}
    for name, run in vs.items():
        if name in ('groups=1', 'per-group'): continue
        q, k = make(arch, size, cl), make(arch, size, cl)
        got_q, got_k = step(run, q, k, x, x)
        rel = lambda a, b: ((a - b).norm() / b.norm()).item()
        cat = lambda ts: torch.cat([t.float().flatten() for t in ts])
        errs[name] = max(rel(got_q, want_q), rel(got_k, want_k),   # outputs; all gradients; all running statistics
                         rel(cat(p.grad for p in q.parameters()), cat(p.grad for p in ref_q.parameters())),
                         rel(cat(q.buffers()), cat(ref_q.buffers())), rel(cat(k.buffers()), cat(ref_k.buffers())))
    return errs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--archs', nargs='+', default=['mobilenetv3_small', 'resnet18'])
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--groups', type=int, default=2)
    p.add_argument('--rounds', type=int, default=5, help='timed rounds (each times every variant once, in turn)')
    p.add_argument('--steps', type=int, default=3, help='steps per variant per round')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--contiguous', action='store_true', help='contiguous tensors instead of channels_last')
    p.add_argument('--clock', choices=['cpu', 'wall'], default='cpu',
                   help="cpu: this process's CPU time (robust on a shared machine with --threads 1); wall: elapsed time")
    p.add_argument('--variants', nargs='+', default=None, help='time only these (groups=1 is always timed)')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cl = not a.contiguous
    clock = time.process_time if a.clock == 'cpu' else time.perf_counter
    print(f"torch {torch.__version__}, {a.threads} threads, {a.size} px, batch {a.batch}, {a.groups} groups, "
          f"{'channels_last' if cl else 'contiguous'}; {a.clock} ms per step (query forward+backward, key forward)")
    for arch in a.archs:
        errs = check(arch, a.size, a.batch, a.groups, cl)
        vs = {n: v for n, v in variants(a.groups, cl).items() if a.variants is None or n in a.variants or n == 'groups=1'}
        mf = torch.channels_last if cl else torch.contiguous_format
        enc_q, enc_k = make(arch, a.size, cl), make(arch, a.size, cl)
        x = torch.randn(a.batch, 3, a.size, a.size).contiguous(memory_format=mf)
        for run in vs.values(): step(run, enc_q, enc_k, x, x)   # warm-up
        times = {n: [] for n in vs}
        for _ in range(a.rounds):
            for name, run in vs.items():
                t = clock()
                for _ in range(a.steps): step(run, enc_q, enc_k, x, x)
                times[name].append((clock() - t) / a.steps * 1e3)
        base, base_min = statistics.median(times['groups=1']), min(times['groups=1'])
        print(f"\n{arch}\n| variant | ms/step median | vs groups=1 | ms/step min | vs groups=1 | max rel. error vs per-group |\n"
              "|---|---|---|---|---|---|")
        for name in vs:
            med, low = statistics.median(times[name]), min(times[name])
            err = f"{errs[name]:.1e}" if name in errs else '—'
            print(f"| {name} | {med:.1f} | {med / base:.3f} | {low:.1f} | {low / base_min:.3f} | {err} |")

if __name__ == '__main__': main()
