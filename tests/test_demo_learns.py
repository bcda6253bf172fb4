"""The main job end to end: `smallssl-demo` with its defaults (torchrun, the embedded textures) must show a run that
learns by the issue's three measures, and its report must say so (`learning_checks`): the last epoch's loss below the
first's; instance discrimination d-sd acc@1 of the trained encoder at least 3x the random encoder's and 3 points above
it; best-NN at least 10 points above random.

Measured with `make demo` on a fresh clone, 2 idle cores, 2026-12-03, two torchrun processes of one thread each (the
default): 438 s for the demo; loss 6.354 -> 3.820, instance discrimination 3.20 % -> 11.20 % (3.50x), best-NN
75.20 % -> 99.80 %. On the slower cores of 2026-12-02 the same demo took 2162 s, with the same instance discrimination and
best-NN (loss 6.354 -> 3.847). The raw numbers are held to the issue's three checks as asked. Seven to forty minutes on
2 CPU cores, by the cores."""
import json, subprocess, sys
from pathlib import Path

from smallssl.demo import learning_checks, read_log

BIN = Path(sys.executable).parent

def test_demo_learns(tmp_path):
    out = tmp_path/'demo'
    p = subprocess.run([str(BIN/'smallssl-demo'), '--out', str(out)], capture_output=True, text=True, timeout=3600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads((out/'results.json').read_text())['results']
    log = read_log(out/'checkpoints'/'log.jsonl')
    checks = learning_checks(res, log)
    for name, (ok, what) in checks.items(): print(f"{name}: {what}")
    # the three checks, recomputed here from the raw numbers rather than trusted from `learning_checks`
    r_id, t_id = res['random']['instdisc']['topk'][0], res['trained']['instdisc']['topk'][0]
    r_nn, t_nn = res['random']['knn']['best_nn'], res['trained']['knn']['best_nn']
    assert log[-1]['loss'] < log[0]['loss'], [r['loss'] for r in log]
    assert t_id >= 3 * r_id and t_id >= r_id + 3, (r_id, t_id)
    assert t_nn >= r_nn + 10, (r_nn, t_nn)
    # the report states each check as measured, with the same verdict as the raw numbers
    report = (out/'report.md').read_text()
    want = {'loss falls': log[-1]['loss'] < log[0]['loss'], 'instance discrimination': t_id >= 3 * r_id and t_id >= r_id + 3,
            'best-NN': t_nn >= r_nn + 10}
    for name, ok in want.items():
        assert checks[name][0] == ok, (name, checks[name], ok)
        assert f"- {'yes' if ok else 'NO'}: {name}:" in report, (name, report[:2000])
    for f in ('report.md', 'training.png', 'comparison.png'): assert (out/f).exists(), f
