"""The documentation website in a real browser (headless Chromium driven over the DevTools protocol).

A small nbdev project (home page + a chapter with an exported function, a plot, hidden, slow and never-run cells) is
rendered with `smallssl.docs.build_docs`, served on 127.0.0.1 and every page is loaded in headless Chromium: title and
sidebar present, no raw `#|` text, every image decoded (naturalWidth > 0), no JavaScript error or console error, no
request leaving 127.0.0.1. A page that throws checks that the checker does catch errors. The home page's screenshot is
kept in test-artifacts/.

Set SMALLSSL_FULL_DOCS=1 to also build and check the whole site of this repository (executes every chapter: minutes).
Chromium is installed with apt-get when missing (as root); the tests are skipped, with the reason, when that fails.
"""
import asyncio, base64, contextlib, functools, http.server, json, os, re, shutil, subprocess, sys, tempfile, threading, time
import urllib.request
from pathlib import Path

import pytest

from smallssl.docs import _demo_project, build_docs

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO/'test-artifacts'


# ---------------------------------------------------------------------------------------------------------------- browser
def _find_chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'):
        if p := shutil.which(name): return p


@functools.lru_cache(None)
def chromium_path():
    "Chromium's path, installing Debian's package when it is missing; pytest.skip with the reason when impossible."
    if p := _find_chromium(): return p
    if not shutil.which('apt-get'): pytest.skip("Chromium is missing and apt-get is not available to install it")
    if os.geteuid() != 0: pytest.skip("Chromium is missing; installing it needs root: apt-get install -y chromium")
    try:
        for cmd in (['apt-get', 'update'], ['apt-get', 'install', '-y', 'chromium']):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                               env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
            if r.returncode: pytest.skip(f"could not install Chromium ({' '.join(cmd)}): {r.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired: pytest.skip("installing Chromium timed out")
    if p := _find_chromium(): return p
    pytest.skip("apt-get installed no chromium binary")


class Browser:
    "Headless Chromium with one page, driven through the DevTools protocol (tornado's websocket client)."
    def __init__(self, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix='chromium-')
        self.proc = subprocess.Popen(
            [chromium_path(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
             '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0', f'--user-data-dir={self.profile}',
             f'--window-size={width},{height}', 'about:blank'],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.width, self.height = width, height
        ws, t0 = None, time.time()
        while time.time() - t0 < 60:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None: break
            if m := re.search(r'DevTools listening on (ws://\S+)', line): ws = m.group(1); break
        if ws is None:
            self.close()
            raise RuntimeError("Chromium did not start its DevTools endpoint")
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()   # keep draining its log
        port = int(re.search(r':(\d+)/', ws).group(1))
        for _ in range(50):
            pages = [t for t in json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list')) if t['type'] == 'page']
            if pages: break
            time.sleep(0.1)
        self.loop = asyncio.new_event_loop()
        self.events, self._id = [], 0
        self.ws = self.loop.run_until_complete(self._connect(pages[0]['webSocketDebuggerUrl']))
        for m in ('Page.enable', 'Runtime.enable', 'Log.enable', 'Network.enable'): self.call(m)
        self.call('Emulation.setDeviceMetricsOverride', width=width, height=height, deviceScaleFactor=1, mobile=False)

    async def _connect(self, url):
        from tornado.websocket import websocket_connect
        return await websocket_connect(url, max_message_size=512 * 1024 * 1024)

    async def _call(self, method, params, timeout):
        self._id += 1
        mid = self._id
        await self.ws.write_message(json.dumps(dict(id=mid, method=method, params=params)))
        while True:
            msg = await asyncio.wait_for(self.ws.read_message(), timeout)
            if msg is None: raise RuntimeError("DevTools connection closed")
            msg = json.loads(msg)
            if msg.get('id') == mid:
                if 'error' in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get('result', {})
            if 'method' in msg: self.events.append(msg)

    def call(self, method, timeout=60, **params): return self.loop.run_until_complete(self._call(method, params, timeout))

    def wait_event(self, name, timeout=60):
        "Read events until `name` arrives."
        async def f():
            t0 = time.time()
            while not any(e['method'] == name for e in self.events):
                msg = await asyncio.wait_for(self.ws.read_message(), max(0.1, timeout - (time.time() - t0)))
                if msg is None: raise RuntimeError("DevTools connection closed")
                msg = json.loads(msg)
                if 'method' in msg: self.events.append(msg)
        self.loop.run_until_complete(f())

    def drain(self, seconds=0.3):
        "Collect the events that arrive in the next `seconds` (late console messages)."
        async def f():
            with contextlib.suppress(asyncio.TimeoutError):
                while True:
                    msg = await asyncio.wait_for(self.ws.read_message(), seconds)
                    if msg is None: return
                    msg = json.loads(msg)
                    if 'method' in msg: self.events.append(msg)
        self.loop.run_until_complete(f())

    def evaluate(self, expr):
        r = self.call('Runtime.evaluate', expression=expr, returnByValue=True, awaitPromise=True)
        if 'exceptionDetails' in r: raise RuntimeError(f"evaluate failed: {r['exceptionDetails']}")
        return r['result'].get('value')

    def load(self, url):
        "Navigate to `url`, wait for the load event and images; return (page facts, errors, requested URLs)."
        self.events = []
        self.call('Page.navigate', url=url)
        self.wait_event('Page.loadEventFired')
        self.evaluate("Promise.all(Array.from(document.images).map(i => i.complete ? 0 : "
                      "new Promise(r => { i.onload = i.onerror = r; })))")
        self.drain()
        facts = self.evaluate("""(() => ({
            title: document.title,
            h1: (document.querySelector('main h1') || {}).textContent || '',
            sidebar: Array.from(document.querySelectorAll('nav#sidebar a')).map(a => a.getAttribute('href')),
            text: document.body ? document.body.innerText : '',
            images: Array.from(document.images).map(i => ({src: i.src.slice(0, 60), w: i.naturalWidth, ok: i.complete})),
        }))()""")
        errors = []
        for e in self.events:
            m, p = e['method'], e.get('params', {})
            if m == 'Runtime.exceptionThrown':
                d = p['exceptionDetails']
                errors.append('exception: ' + (d.get('exception', {}).get('description') or d.get('text', '')))
            elif m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
                errors.append('console.error: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', [])))
            elif m == 'Log.entryAdded' and p['entry'].get('level') == 'error':
                errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        requests = [e['params']['request']['url'] for e in self.events if e['method'] == 'Network.requestWillBeSent']
        return facts, errors, requests

    def screenshot(self, path):
        data = self.call('Page.captureScreenshot', format='png')['data']
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self):
        with contextlib.suppress(Exception): self.loop.run_until_complete(self.ws.close()) if hasattr(self, 'ws') else None
        if self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(10)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


@contextlib.contextmanager
def serve(folder):
    "Serve `folder` over HTTP on 127.0.0.1 (a free port); yields the base URL."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    handler = functools.partial(Quiet, directory=str(folder))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}'
    finally: srv.shutdown(); srv.server_close()


@pytest.fixture(scope='module')
def browser():
    b = Browser()
    yield b
    b.close()


# ------------------------------------------------------------------------------------------------------------- checks
def external_refs(html):
    "URLs a page would fetch from elsewhere: src of script/img/iframe and href of link elements that are not local."
    refs = re.findall(r'<(?:script|img|iframe|source|video|audio)\b[^>]*\ssrc="([^"]+)"', html, flags=re.I)
    refs += re.findall(r'<link\b[^>]*\shref="([^"]+)"', html, flags=re.I)
    refs += re.findall(r'url\(\s*[\'"]?((?:https?:)?//[^)\'"]+)', html, flags=re.I)
    return [r for r in refs if re.match(r'(?:https?:)?//', r, flags=re.I)]


def check_site(browser, site, screenshot=None, expect_pages=None):
    "Load every page of the site in `site` in the browser and check it; returns {page: facts}."
    site = Path(site)
    pages = sorted(p.name for p in site.glob('*.html'))
    assert 'index.html' in pages, pages
    if expect_pages is not None: assert set(expect_pages) <= set(pages), (expect_pages, pages)
    for p in pages: assert external_refs((site/p).read_text()) == [], (p, external_refs((site/p).read_text()))
    res = {}
    with serve(site) as base:
        for i, p in enumerate(['index.html'] + [p for p in pages if p != 'index.html']):
            facts, errors, requests = browser.load(f'{base}/{p}')
            assert facts['title'].strip(), f"{p}: empty <title>"
            assert facts['h1'].strip(), f"{p}: no title heading"
            assert len(facts['sidebar']) == len(pages) and set(facts['sidebar']) == set(pages), (p, facts['sidebar'], pages)
            # no directive line anywhere (prose and strings in code may mention `#| slow` inside a line)
            assert not re.search(r'(^|\n)\s*#\|', facts['text']), f"{p}: a raw '#|' line on the page"
            bad = [im for im in facts['images'] if not (im['ok'] and im['w'] > 0)]
            assert not bad, f"{p}: images that did not load: {bad}"
            assert errors == [], f"{p}: browser errors: {errors}"
            outside = [u for u in requests if not u.startswith((base, 'data:'))]
            assert outside == [], f"{p}: requests leaving 127.0.0.1: {outside}"
            if p == 'index.html' and screenshot: browser.screenshot(screenshot)
            res[p] = facts
    return res


# ------------------------------------------------------------------------------------------------------------- tests
def test_checker_catches_errors(browser, tmp_path):
    "The checks are real: a page that throws, logs an error and has a broken image is caught."
    (tmp_path/'bad.html').write_text(
        '<!DOCTYPE html><html><head><title>bad</title></head><body><h1>bad</h1>'
        '<img src="missing.png"><script>console.error("boom-console"); null.boom();</script></body></html>')
    (tmp_path/'good.html').write_text('<!DOCTYPE html><html><head><title>ok</title></head><body><h1>ok</h1></body></html>')
    with serve(tmp_path) as base:
        facts, errors, _ = browser.load(f'{base}/bad.html')
        assert any('boom-console' in e for e in errors), errors
        assert any(e.startswith('exception:') and 'null' in e for e in errors), errors
        assert any('missing.png' in e or '404' in e for e in errors), errors
        assert facts['images'][0]['w'] == 0
        facts, errors, _ = browser.load(f'{base}/good.html')
        assert errors == [] and facts['title'] == 'ok'
    assert external_refs('<script src="https://cdn.example.org/x.js"></script><link href="//fonts.x/y.css" rel="stylesheet">'
                         '<img src="data:image/png;base64,AA"><a href="https://github.com/x">x</a>') == \
        ['https://cdn.example.org/x.js', '//fonts.x/y.css']


@pytest.fixture(scope='module')
def demo_site(tmp_path_factory):
    proj = _demo_project(tmp_path_factory.mktemp('docs')/'proj')
    rep = build_docs(proj, offline=True, verbose=False, timeout=300)
    assert rep['errors'] == [], rep['errors']
    return proj/'_docs'


def test_demo_site_in_browser(browser, demo_site):
    facts = check_site(browser, demo_site, screenshot=ARTIFACTS/'docs-demo-home.png', expect_pages=['index.html', 'demo.html'])
    demo = facts['demo.html']
    assert demo['h1'] == 'Demo chapter' and 'Exported function, plot' in demo['text']
    assert any(im['src'].startswith('data:image/png') and im['w'] > 100 for im in demo['images']), demo['images']  # the plot
    assert any(im['src'].startswith('data:image/svg') for im in demo['images'])                                  # the formula
    assert 'SECRET_HIDDEN_CELL = 1' not in demo['text'] and 'done 1' in demo['text']                             # hidden cell ran, not shown
    assert 'never run' in demo['text'] and 'not run for the docs (slow)' in demo['text']
    # show_doc: the signature, the docstring and the docments table
    assert 'scale' in demo['text'] and 'Multiply x by a.' in demo['text'] and 'the factor' in demo['text']
    page = (demo_site/'demo.html').read_text()
    assert '<th>Parameter</th>' in page and '<td>2.0</td>' in page
    assert facts['index.html']['title'].startswith('docdemo') and 'hello from the home page' in facts['index.html']['text']
    assert 'href="demo.html"' in (demo_site/'index.html').read_text()   # the markdown link to 01_demo.ipynb
    assert (ARTIFACTS/'docs-demo-home.png').stat().st_size > 5000


def test_repo_home_page_in_browser(browser, tmp_path):
    "This repository's own home page (index.ipynb, executed: the toy-dataset picture) and the augmentation chapter."
    proj = tmp_path/'repo'; (proj/'nbs').mkdir(parents=True)
    shutil.copy(REPO/'settings.ini', proj)
    shutil.copy(REPO/'_quarto.yml', proj/'nbs'/'_quarto.yml')
    for name in ('index.ipynb', '02_augment.ipynb'): shutil.copy(REPO/'nbs'/name, proj/'nbs')
    rep = build_docs(proj, offline=True, verbose=False, timeout=600)
    assert rep['errors'] == [], rep['errors']
    facts = check_site(browser, proj/'_docs', screenshot=ARTIFACTS/'docs-home.png', expect_pages=['index.html', 'augment.html'])
    home = facts['index.html']
    assert home['h1'] == 'smallssl' and 'Two commands' in home['text']
    assert 'import numpy' not in home['text']                                           # the picture's code is hidden
    assert any(im['src'].startswith('data:image/png') and im['w'] > 300 for im in home['images']), home['images']
    assert any(im['w'] > 100 for im in facts['augment.html']['images'])                 # the view-pair picture
    assert (ARTIFACTS/'docs-home.png').stat().st_size > 20000


@pytest.mark.skipif(os.environ.get('SMALLSSL_FULL_DOCS') != '1', reason="set SMALLSSL_FULL_DOCS=1 to build and check the full site (minutes)")
def test_full_site_in_browser(browser):
    "The whole site of this repository, as `make docs` builds it."
    if os.environ.get('SMALLSSL_DOCS_PREBUILT') != '1':
        r = subprocess.run([sys.executable, '-m', 'smallssl.docs', '--path', str(REPO)], cwd=REPO, capture_output=True,
                           text=True, timeout=1800)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    nbs = [p for p in (REPO/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.'))]
    facts = check_site(browser, REPO/'_docs', screenshot=ARTIFACTS/'docs-home.png')
    assert len(facts) == len(nbs), (sorted(facts), sorted(p.name for p in nbs))


FAKE_QUARTO = r'''#!{python}
# Stands in for Quarto: records how nbdev_docs calls it and, for `quarto render --no-cache` (the site), writes one page
# per processed notebook with the text of its outputs, so the test can see what Quarto would have been given.
import json, sys
from pathlib import Path
log = Path({log!r})
with log.open('a') as f: f.write(json.dumps(dict(argv=sys.argv[1:], cwd=str(Path.cwd()))) + '\n')
if sys.argv[1:] == ['render', '--no-cache']:
    out = Path('_docs'); out.mkdir(exist_ok=True)
    for nb in Path('.').glob('*.ipynb'):
        cells = json.loads(nb.read_text())['cells']
        texts = [''.join(o.get('text', '')) for c in cells for o in c.get('outputs', [])]
        (out/(nb.stem + '.html')).write_text('\n'.join(texts))
'''


def test_quarto_path_renders_executed_notebooks(tmp_path, monkeypatch):
    "With Quarto on the PATH, build_docs executes and processes into _proc/ and nbdev_docs renders those notebooks."
    proj = _demo_project(tmp_path/'proj')
    bindir = tmp_path/'bin'; bindir.mkdir()
    log = tmp_path/'quarto-calls.jsonl'
    (bindir/'quarto').write_text(FAKE_QUARTO.format(python=sys.executable, log=str(log)))
    (bindir/'quarto').chmod(0o755)
    monkeypatch.setenv('PATH', f"{bindir}{os.pathsep}{os.environ['PATH']}")
    rep = build_docs(proj, verbose=False, timeout=300)
    assert rep['renderer'] == 'quarto' and rep['errors'] == [], rep
    calls = [json.loads(l) for l in log.read_text().splitlines()]
    assert {'argv': ['render', '--no-cache'], 'cwd': str(proj/'_proc')} in calls, calls
    page = (proj/'_docs'/'01_demo.html').read_text()
    assert 'done 1' in page and 'hello' not in page                    # executed outputs reached Quarto
    assert 'hello from the home page' in (proj/'_docs'/'index.html').read_text()
    assert (proj/'_proc'/'_quarto.yml').exists() and (proj/'nbs'/'sidebar.yml').exists()
