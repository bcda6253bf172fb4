"""JupyterLab for this project: `smallssl-lab` starts a server on loopback that answers, runs a notebook through a
kernel of this environment, and stops when its pid is signalled.

The server is started exactly as `smallssl-lab` / `make lab` start it (smallssl.lab.main, which replaces its own
process with JupyterLab, so the pid we hold is the server's), on a free port with a token. A small notebook is created
through the REST API, its cells run on the kernel the server started for it (jupyter_client's `BlockingKernelClient`
on the kernel's connection file in the server's runtime folder), the outputs are saved back into the notebook through
the API, and the server is stopped with SIGTERM to its pid.
"""
import importlib.util, json, os, signal, socket, subprocess, sys, time, urllib.error, urllib.request, uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec('jupyterlab') is None,
                                reason="JupyterLab is not installed (pip install jupyterlab; it is in settings.ini dev_requirements)")

REPO = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(('127.0.0.1', port)) == 0


def api(base, token, path, method='GET', body=None):
    req = urllib.request.Request(f'{base}{path}', method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={'Authorization': f'token {token}', 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=30) as r: return r.status, json.loads(r.read() or b'null')


def children(pid):
    "Pids of the direct children of `pid` (from /proc)."
    res = []
    for p in Path('/proc').iterdir():
        if p.name.isdigit():
            try: fields = (p/'stat').read_text().rsplit(')', 1)[1].split()
            except OSError: continue
            if int(fields[1]) == pid: res.append(int(p.name))
    return res


def alive(pid):
    try: stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError: return False
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


def run_cells(connection_file, cells, timeout=120):
    "Execute `cells` in order on the kernel of `connection_file` with jupyter_client; returns (execution count, nbformat outputs) per cell."
    from jupyter_client import BlockingKernelClient
    from nbformat.v4 import output_from_msg
    kc = BlockingKernelClient(connection_file=str(connection_file))
    kc.load_connection_file(); kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        results = []
        for code in cells:
            outputs = []
            hook = lambda m: outputs.append(output_from_msg(m)) if m['msg_type'] in ('stream', 'display_data', 'execute_result', 'error') else None
            reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook, stop_on_error=True)['content']
            assert reply['status'] == 'ok', (code, reply, outputs)
            results.append((reply['execution_count'], outputs))
    finally: kc.stop_channels()
    return results


def test_lab_command_allow_root():
    from smallssl.lab import lab_command
    cmd = lab_command(8899)
    assert cmd[:3] == [sys.executable, '-m', 'jupyterlab'] and '--ip=127.0.0.1' in cmd and '--no-browser' in cmd
    assert ('--allow-root' in cmd) == (os.geteuid() == 0)
    r = subprocess.run([sys.executable, '-c', 'from smallssl.lab import main; main()', '--print-cmd'],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--port=8899' in r.stdout and f'--ServerApp.root_dir={REPO/"nbs"}' in r.stdout, r.stdout + r.stderr
    r = subprocess.run([sys.executable, '-c', 'from smallssl.lab import main; main()', '--notebook-dir', 'nowhere'],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "smallssl-lab: error: --notebook-dir: folder 'nowhere' does not exist" in r.stderr


def test_lab_serves_and_runs_a_notebook(tmp_path):
    port, token = free_port(), uuid.uuid4().hex
    nbdir = tmp_path/'nbs'; nbdir.mkdir()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path/'cfg'), JUPYTER_RUNTIME_DIR=str(tmp_path/'rt'),
               IPYTHONDIR=str(tmp_path/'ipy'))
    log = open(tmp_path/'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-c', 'from smallssl.lab import main; main()',
                             '--port', str(port), '--notebook-dir', str(nbdir), '--',
                             f'--ServerApp.token={token}', '--ServerApp.password='],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f'http://127.0.0.1:{port}'
    try:
        # it answers on loopback
        t0, status = time.time(), None
        while time.time() - t0 < 240:
            assert proc.poll() is None, (tmp_path/'lab.log').read_text()[-3000:]
            try: status = api(base, token, '/api/status'); break
            except (urllib.error.URLError, ConnectionError, socket.timeout): time.sleep(1)
        assert status and status[0] == 200, (tmp_path/'lab.log').read_text()[-3000:]
        assert urllib.request.urlopen(f'{base}/lab?token={token}', timeout=30).status == 200
        with pytest.raises(urllib.error.HTTPError):                      # the token is required
            urllib.request.urlopen(f'{base}/api/contents', timeout=30)
        # a notebook, created through the contents API
        cells = ["import sys, smallssl\nx = 6 * 7", "print(x, smallssl.__version__)", "x + 1"]
        nb = dict(nbformat=4, nbformat_minor=5, metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')),
                  cells=[dict(cell_type='code', id=f'c{i}', source=c, metadata={}, outputs=[], execution_count=None) for i, c in enumerate(cells)])
        assert api(base, token, '/api/contents/probe.ipynb', 'PUT', dict(type='notebook', format='json', content=nb))[0] in (200, 201)
        # ... run through a kernel of this environment
        st, sess = api(base, token, '/api/sessions', 'POST', dict(path='probe.ipynb', type='notebook', name='probe', kernel=dict(name='python3')))
        assert st == 201, sess
        kid = sess['kernel']['id']
        results = run_cells(tmp_path/'rt'/f'kernel-{kid}.json', cells)
        import smallssl
        assert results[1][1] == [dict(output_type='stream', name='stdout', text=f'42 {smallssl.__version__}\n')], results
        assert results[2][1][0]['data']['text/plain'] == '43'
        # ... and saved with its outputs
        for c, (n, outs) in zip(nb['cells'], results): c['execution_count'], c['outputs'] = n, outs
        api(base, token, '/api/contents/probe.ipynb', 'PUT', dict(type='notebook', format='json', content=nb))
        saved = json.loads((nbdir/'probe.ipynb').read_text())
        text = saved['cells'][1]['outputs'][0]['text']
        assert ''.join(text) == f'42 {smallssl.__version__}\n', saved['cells'][1]
        kernels = children(proc.pid)
        assert kernels, "no kernel process under the server"
    finally:
        # stop it by its pid
        if proc.poll() is None: os.kill(proc.pid, signal.SIGTERM)
        try: proc.wait(60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL); proc.wait()
            pytest.fail("JupyterLab did not stop within 60 s of SIGTERM")
        log.close()
    assert not port_open(port), f"port {port} still open after the server stopped"
    t0 = time.time()
    while any(alive(k) for k in kernels) and time.time() - t0 < 30: time.sleep(0.5)
    assert not any(alive(k) for k in kernels), "the kernel outlived the server"
