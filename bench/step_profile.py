#!/usr/bin/env python
"""Where the time of one MoCo training step goes: timed sections, on the embedded data and on a JPEG folder, at 32 and 224 px.

The step is assembled here from the library's public functions in the order `MoCo.forward` and the training loop use them,
with a clock read between sections (and the GPU synchronised there, on a GPU):

- data wait: time the loop blocks on a real `DataLoader` (`--workers` processes, `SafeImageFolder` + the training
  transform, each sample seeded as the training loop seeds it);
- memory format: the two views to channels_last (`.contiguous(memory_format=...)`, as the loop; a no-op when the loader
  collates with `smallssl.train.collate_views`, as training's does);
- forward q, momentum update, forward k (with shuffle-BN: `MoCo.keys`), loss (InfoNCE logits + cross-entropy), backward,
  optimiser, queue (`dequeue_and_enqueue`);
- diagnostics: acc@1/acc@5 against the queue (`contrastive_accuracy`) and batch acc@1 (`MoCo.batch_acc1`), as the loop
  computes them every step; sync: `.item()` of the loss (a device sync on a GPU).

A second table splits the data work a loader worker does per batch: seeding (`derive_seed` + `seed_cpu` per sample,
as `SeededSamples` does in a worker), decode (`smallssl.data.load_rgb`), augmentation (`build_train_transform`, two views),
collation; and the seeding's cost with `core.seed_everything` (`torch.manual_seed`: CPU and CUDA generators). Workers run in parallel with
the step, so these are CPU costs, not necessarily waits.

    python bench/step_profile.py                               # toy and photos, 32 and 224 px, mobilenetv3_small
    python bench/step_profile.py --data toy --sizes 32 --steps 10 -a resnet18 --threads 2
"""
import argparse, contextlib, random, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, default_collate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from experiments.real_photos import photo_patches  # noqa: E402
import smallssl.data as sdata  # noqa: E402
import smallssl.train as strain  # noqa: E402
from smallssl import core  # noqa: E402
from smallssl.augment import build_train_transform  # noqa: E402
from smallssl.data import SafeImageFolder, load_rgb  # noqa: E402
from smallssl.moco import MoCo, contrastive_accuracy, dequeue_and_enqueue, forward_in_groups, infonce_logits  # noqa: E402
from smallssl.train import SeededSamples  # noqa: E402

derive_seed = getattr(core, 'derive_seed', None) or strain.derive_seed   # in core from the configuration rework on, train before
try: from smallssl.toy import resolve_data   # the embedded datasets' own chapter from the configuration rework on
except ImportError: resolve_data = sdata.resolve_data

SECTIONS = ['data wait', 'memory format', 'forward q', 'momentum update', 'forward k', 'loss', 'backward', 'optimiser', 'queue',
            'diagnostics', 'sync (.item)']


class Clock:
    "Accumulate the time between `lap` calls under section names (synchronising a GPU first)."
    def __init__(self, device): self.device, self.t, self.total = device, time.perf_counter(), {}
    def lap(self, name):
        if self.device.type == 'cuda': torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.total[name] = self.total.get(name, 0.) + now - self.t
        self.t = now


def step(model, opt, images, clock, mf):
    "One training step in sections (as `MoCo.forward` + the training loop)."
    im_q = images[0].to(clock.device, non_blocking=True).contiguous(memory_format=mf)
    im_k = images[1].to(clock.device, non_blocking=True).contiguous(memory_format=mf)
    clock.lap('memory format')
    q = F.normalize(forward_in_groups(model.encoder_q, im_q, model.shuffle_groups).float(), dim=1)
    clock.lap('forward q')
    model.update_key_encoder()
    clock.lap('momentum update')
    k = model.keys(im_k)
    clock.lap('forward k')
    logits, labels = infonce_logits(q, k, model.queue.clone(), model.T)
    loss = F.cross_entropy(logits, labels)
    clock.lap('loss')
    opt.zero_grad(set_to_none=True)
    loss.backward()
    clock.lap('backward')
    opt.step()
    clock.lap('optimiser')
    dequeue_and_enqueue(model.queue, model.queue_ptr, k)
    clock.lap('queue')
    model._last_qk = (q.detach(), k)
    acc = contrastive_accuracy(logits.detach(), labels) + [model.batch_acc1]
    clock.lap('diagnostics')
    loss.item(), [float(a) for a in acc]
    clock.lap('sync (.item)')


def profile_steps(data, size, arch, batch, steps, warmup, workers, groups, device):
    "Section times per step (ms) and images per second over `steps` steps after `warmup`."
    transform = build_train_transform(size, 'v2')
    ds = SafeImageFolder(Path(data)/'train', transform, on_error='substitute', check='none', verbose=False)
    sampler = [(0, i) for i in torch.randperm(len(ds), generator=torch.Generator().manual_seed(0)).tolist()]
    cl = not arch.startswith('vit')
    collate = getattr(strain, 'collate_views', None) if cl else None   # views stacked in channels_last, as the loop's loader
    loader = DataLoader(SeededSamples(ds, 0), batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True,
                        persistent_workers=False, pin_memory=device.type == 'cuda', collate_fn=collate)
    torch.manual_seed(0)
    model = MoCo(arch, dim=128, K=batch * 16, m=0.99, T=0.1, mlp='simple', image_size=size, shuffle_groups=groups).to(device)
    mf = torch.channels_last if cl else torch.contiguous_format
    model = model.to(memory_format=mf).train()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.03, momentum=0.9, weight_decay=1e-4)
    it = iter(loader)
    clock = Clock(device)
    for n in range(warmup + steps):
        if n == warmup: clock.total, t0 = {}, time.perf_counter()
        clock.lap('other')
        images, _ = next(it)
        clock.lap('data wait')
        step(model, opt, images, clock, mf)
    elapsed = time.perf_counter() - t0
    clock.total.pop('other', None)
    return {k: v / steps * 1e3 for k, v in clock.total.items()}, steps * batch / elapsed


def data_work(data, size, batch, reps):
    "Per-batch milliseconds of a worker's work: seeding, decode, augmentation, collation (one process, in turn)."
    transform = build_train_transform(size, 'v2')
    ds = SafeImageFolder(Path(data)/'train', None, check='none', verbose=False)
    paths = [p for p, _ in ds.samples]
    t, cheap = dict(seeding=0., decode=0., augmentation=0., collation=0.), 0.
    for r in range(reps):
        idx = torch.randperm(len(paths), generator=torch.Generator().manual_seed(r))[:batch].tolist()
        t0 = time.perf_counter()
        for i in idx: seed_sample(derive_seed(0, 0, i))
        t1 = time.perf_counter()
        ims = [load_rgb(paths[i]) for i in idx]
        t2 = time.perf_counter()
        views = [(transform(im), 0) for im in ims]
        t3 = time.perf_counter()
        default_collate(views)
        t4 = time.perf_counter()
        for k, d in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)): t[k] += d
        t0 = time.perf_counter()
        for i in idx: core.seed_everything(derive_seed(0, 0, i))
        cheap += time.perf_counter() - t0
    return {k: v / reps * 1e3 for k, v in t.items()}, cheap / reps * 1e3


def cheap_seed(s):
    "`seed_everything` with torch's CPU generator alone: the same CPU random numbers, without `torch.manual_seed`'s CUDA part."
    random.seed(s); np.random.seed(s % 2**32); torch.default_generator.manual_seed(s)


seed_sample = getattr(strain, 'seed_cpu', None) or core.seed_everything   # what `SeededSamples` calls per sample


def table(rows:dict, title:str):
    total = sum(rows.values())
    print(f"\n{title}\n| section | ms/step | share |\n|---|---|---|")
    for k, v in rows.items(): print(f"| {k} | {v:.1f} | {100 * v / total:.1f} % |")
    print(f"| total | {total:.1f} | 100 % |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data', nargs='+', default=['toy', 'photos'], choices=['toy', 'photos'],
                   help="toy: the embedded dataset (64 px PNG); photos: JPEG patches of the photographs shipped with scikit-learn/matplotlib")
    p.add_argument('--sizes', nargs='+', type=int, default=[32, 224])
    p.add_argument('-a', '--arch', default='mobilenetv3_small')
    p.add_argument('-b', '--batch', type=int, default=64)
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--workers', type=int, default=2, help='loader workers for the step profile')
    p.add_argument('--groups', type=int, default=2, help='shuffle-BN groups')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--cuda', action='store_true')
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device('cuda' if a.cuda else 'cpu')
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.data:
            for size in a.sizes:
                if name == 'toy': data = resolve_data(None)
                else:   # photo patches about 1.15 times the crop (28 px at 32: the peer benchmark's), 120 per class
                    side = 28 if size <= 32 else round(size * 8 / 7)
                    data = photo_patches(Path(tmp)/f'photos{side}', n_train=120, n_val=1, size=side)
                with contextlib.redirect_stdout(sys.stderr): sec, ips = profile_steps(data, size, a.arch, a.batch, a.steps, a.warmup,
                                                                                     a.workers, a.groups, device)
                table({k: sec.get(k, 0.) for k in SECTIONS}, f"{name} at {size} px: {a.arch}, batch {a.batch}, {a.groups} shuffle-BN "
                      f"groups, {a.workers} workers, {a.threads} threads, {device.type}: {ips:.0f} img/s")
                work, cheap = data_work(data, size, a.batch, max(2, a.steps // 2))
                table(work, f"{name} at {size} px: one worker's data work per batch of {a.batch}")
                print(f"seeding with `core.seed_everything` (`torch.manual_seed`, which also seeds CUDA): {cheap:.1f} ms per batch")


if __name__ == '__main__': main()
