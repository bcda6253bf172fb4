"""Can one of the paper's small encoders replace ResNet-18 in the demo, within its ten minutes, meeting its three checks?

Baseline: the demo itself — its recipe (`smallssl.train.SMALL_RECIPE`: ResNet-18 with torchvision's ImageNet stem at
32 px, MoCo v2 augmentation, batch 64, lr 0.0075, key momentum 0.99, symmetric loss, queue 1,024, 30 epochs) on the
embedded textures, under torchrun with two processes of one thread each, as `smallssl-demo` runs it. Each other row
changes one lever, the encoder (`-a`), to one of the paper's small encoders with the stem the encoder takes by default at
32 px (the archs chapter), everything else as the baseline. Every row trains with the k-NN monitor after every epoch
(`--eval-freq 1`), so the table shows whether the encoder learned while it trained (first, best and last `knn_top1`).
The monitor re-estimates BatchNorm statistics on 500 training images before each evaluation (`--precise-bn 500`, in every
row; `--monitor-bn N` changes it): MobileNetV3 and EfficientNet keep their running statistics with momentum 0.01, and
after one epoch of the demo's recipe MobileNetV3-Small's monitor read 10.2 % (chance) in eval mode against 33.0 % with
500 images (`bench/monitor_bench.py --demo-arch mobilenetv3_small`). The monitor runs on a copy of the encoder, so this
setting does not change what is trained. Each run is measured as the demo measures it (`smallssl.measure.measure`:
precise BN on 2,000 training images, best-NN in norm space over odd k <= 21 on val, instance discrimination d-sd on MoCo v2
static views of val), against the same network at random initialisation.

The demo's three checks: the loss falls (last epoch below the first), instance discrimination at least 3x the random
encoder's and 3 points above it, best-NN at least 10 points above it. The ten-minute budget is the whole demo on 2 idle
cores; training times are only comparable between rows run in one session on an otherwise idle machine, so the table
gives each row's training time as a multiple of the baseline's (the baseline's training took 425 s of the demo's 438 s
on the idle cores of 2026-12-03: a row fits when its multiple stays below about 1.3).

    python experiments/demo_small_encoder.py [--only NAME ...] [--epochs 30] [--out runs/experiments]

Results are cached per row in OUT (delete a row's folder to rerun it). On 2 idle cores expect the demo's time per row
(7 to 15 minutes by the encoder) plus about a minute of measurement.

On a busy machine the rows' training times are not comparable (on 2026-12-06 they ran beside other jobs: 756, 421, 1155
and 1653 s). The speed of each encoder was then measured apart, on idle cores, one epoch of the demo's recipe each,
alternated twice (`torchrun --standalone --nproc_per_node=2 smallssl/train.py DATA -a ARCH [--stem imagenet] --image-size 32
--epochs 1 -b 64 --lr 0.0075 --moco-k 1024 --moco-m 0.99 --mlp wide --aug v2 --cos --symmetric -j 1 --eval-freq 0`, the
log's `time`): ResNet-18 16.1 / 17.6 s, MobileNetV3-Small 10.4 / 10.4 s, MobileNetV3-Large 20.5 / 21.7 s, EfficientNet-B0
30.0 / 30.5 s.
"""
import argparse, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import recipe, run_config, toy

LEVERS = {  # row -> the `TrainConfig` fields it changes from the demo's recipe
    'demo-resnet18': {},
    'mobilenetv3-small': dict(arch='mobilenetv3_small', stem=None),
    'mobilenetv3-large': dict(arch='mobilenetv3_large', stem=None),
    'efficientnet-b0': dict(arch='efficientnet_b0', stem=None),
}


def checks(r:dict)->dict:
    "The demo's three checks (the demo chapter's `learning_checks`) on one row's numbers."
    log, rnd = r['log'], r['random']
    return {'loss falls': log[-1]['loss'] < log[0]['loss'],
            'instdisc 3x, +3': r['instdisc1'] >= 3 * rnd['instdisc1'] and r['instdisc1'] >= rnd['instdisc1'] + 3,
            'best-NN +10': r['best_nn'] >= rnd['best_nn'] + 10}


def table(rows:list)->str:
    "Markdown table of `(name, result)` pairs; times as multiples of the first row's."
    base = rows[0][1]['seconds'] if rows else 1
    lines = ["| run | train s (x baseline) | loss first → last | k-NN monitor first → best → last (%) | best-NN random → trained (%) | "
             "instdisc d-sd acc@1 random → trained (%) | checks |", "|---|---|---|---|---|---|---|"]
    for name, r in rows:
        log = r['log']; knn = [l['knn_top1'] for l in log if 'knn_top1' in l]
        ok = checks(r)
        mon = f"{knn[0]:.1f} → {max(knn):.1f} → {knn[-1]:.1f}" if knn else "—"
        lines.append(f"| {name} | {r['seconds']:.0f} ({r['seconds'] / base:.2f}) | {log[0]['loss']:.2f} → {log[-1]['loss']:.2f} | {mon} | "
                     f"{r['random']['best_nn']:.1f} → {r['best_nn']:.1f} | {r['random']['instdisc1']:.1f} → {r['instdisc1']:.1f} | "
                     f"{sum(ok.values())}/3{'' if all(ok.values()) else ' (no: ' + ', '.join(k for k, v in ok.items() if not v) + ')'} |")
    return "\n".join(lines)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--only', nargs='*', default=None, help='rows to run (substrings of their names)')
    p.add_argument('--epochs', type=int, default=30, help="epochs of every row (the demo's: 30; fewer only to check that it runs)")
    p.add_argument('--monitor-bn', type=int, default=500, help="the monitor's --precise-bn in every row (0: eval-mode BatchNorm)")
    p.add_argument('--out', default='runs/experiments')
    a = p.parse_args()
    data, out, rows = toy('v2'), Path(a.out), []
    for name, change in LEVERS.items():
        if a.only and not any(s in name for s in a.only): continue
        cfg = recipe(epochs=a.epochs, eval_freq=1, precise_bn=a.monitor_bn, **change)
        res = run_config(f"small-encoder-{name}-e{a.epochs}-bn{a.monitor_bn}", data, cfg, out, threads=1, nproc=2)
        rows.append((name, res))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(f"\nembedded textures (2,000 train / 500 val, 32 px), {a.epochs} epochs, torchrun with two processes of one thread, "
          f"seed 0, monitor with --precise-bn {a.monitor_bn}\n")
    print(table(rows))
