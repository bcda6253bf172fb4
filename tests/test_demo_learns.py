"""The main job end to end: `smallssl-demo` with its defaults (torchrun, 2 processes, the embedded dataset) must give a
trained encoder that beats its random initialisation on k-NN by a clear margin. About five minutes on 2 CPU cores."""
import json, os, subprocess, sys
from pathlib import Path

BIN = Path(sys.executable).parent

def test_demo_trained_beats_random(tmp_path):
    p = subprocess.run([str(BIN/'smallssl-demo'), '--out', str(tmp_path/'demo')], capture_output=True, text=True,
                       timeout=1500, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads((tmp_path/'demo'/'results.json').read_text())['results']
    random, trained = res['random']['knn']['best_nn'], res['trained']['knn']['best_nn']
    print(f"best-NN: random {random:.2f}% -> trained {trained:.2f}%")
    # 10 classes: chance is 10 %. Measured on 2 cores: 32.8 % -> 56.4 % (seed 0); the bar leaves room for other CPUs' arithmetic.
    assert trained >= random + 10, (random, trained)
    for f in ('report.md', 'training.png', 'comparison.png'): assert (tmp_path/'demo'/f).exists(), f
