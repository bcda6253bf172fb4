"""The main job end to end: `smallssl-demo` with its defaults (torchrun, the embedded dataset) must show a run that
learns: the training loss of the last epoch below the first epoch's, instance discrimination of the trained encoder at
least 3x and 3 points above its random initialisation's, and best-NN at least 10 points above. The report must say so.
About ten minutes on 2 CPU cores."""
import json, os, subprocess, sys
from pathlib import Path

from smallssl.demo import learning_checks, read_log

BIN = Path(sys.executable).parent

def test_demo_learns(tmp_path):
    out = tmp_path/'demo'
    p = subprocess.run([str(BIN/'smallssl-demo'), '--out', str(out)], capture_output=True, text=True, timeout=1800)
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
    assert all(ok for ok, _ in checks.values()), checks
    report = (out/'report.md').read_text()
    assert report.count('- yes:') == 3 and '- NO:' not in report, report[:2000]
    for f in ('report.md', 'training.png', 'comparison.png'): assert (out/f).exists(), f
