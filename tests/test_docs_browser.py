"""The documentation website in a real browser: headless Chromium driven by Selenium (Debian's chromium-driver).

The small nbdev project in tests/docdemo (home page + a chapter with an exported function, a formula, a plot, hidden,
echo-less, slow and never-run cells) is rendered with `smallssl.docs.build_docs`, served on 127.0.0.1, and every page is
loaded in the browser: title and sidebar present, no raw `#|` line, every image decoded (naturalWidth > 0), no
JavaScript exception or console error, no request leaving 127.0.0.1. A page that throws shows that the checks catch
errors. Screenshots of the home pages are kept in test-artifacts/.

Set SMALLSSL_FULL_DOCS=1 to also build and check the whole site of this repository (executes every chapter: minutes).
Chromium and its driver are installed with apt-get when missing (as root); the tests are skipped, with the reason,
when that fails.
"""
import contextlib, functools, http.server, json, os, re, shutil, subprocess, sys, threading
from pathlib import Path

import pytest

from smallssl.docs import build_docs

REPO = Path(__file__).resolve().parents[1]
DOCDEMO = Path(__file__).resolve().parent/'docdemo'
ARTIFACTS = REPO/'test-artifacts'


# ---------------------------------------------------------------------------------------------------------------- browser
def _installed():
    chromium = next((p for n in ('chromium', 'chromium-browser', 'google-chrome') if (p := shutil.which(n))), None)
    return chromium, shutil.which('chromedriver')


@functools.lru_cache(None)
def chromium_and_driver():
    "Paths of Chromium and chromedriver, installing Debian's packages when missing; pytest.skip with the reason when impossible."
    pytest.importorskip('selenium', reason="selenium is not installed (it is in settings.ini dev_requirements)")
    if all(found := _installed()): return found
    if not shutil.which('apt-get'): pytest.skip("Chromium or chromedriver is missing and apt-get is not available to install them")
    if os.geteuid() != 0: pytest.skip("Chromium or chromedriver is missing; installing needs root: apt-get install -y chromium chromium-driver")
    try:
        for cmd in (['apt-get', 'update'], ['apt-get', 'install', '-y', 'chromium', 'chromium-driver']):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
            if r.returncode: pytest.skip(f"could not install Chromium ({' '.join(cmd)}): {r.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired: pytest.skip("installing Chromium timed out")
    if all(found := _installed()): return found
    pytest.skip("apt-get installed no chromium/chromedriver binary")


@pytest.fixture(scope='module')
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver = chromium_and_driver()
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-quic',
              '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1280,900'):
        opts.add_argument(a)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL', 'performance': 'ALL'})   # console and network events
    b = webdriver.Chrome(options=opts, service=Service(driver))
    yield b
    b.quit()


def load(browser, url):
    "Open `url`, wait for its images; return (page facts, browser errors, URLs requested)."
    browser.get_log('browser'); browser.get_log('performance')             # forget the previous page's events
    browser.get(url)
    browser.execute_async_script("const done = arguments[arguments.length - 1]; Promise.all(Array.from(document.images).map("
                                 "i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; }))).then(done);")
    facts = browser.execute_script("""return {
        title: document.title,
        h1: (document.querySelector('main h1') || {}).textContent || '',
        sidebar: Array.from(document.querySelectorAll('nav#sidebar a')).map(a => a.getAttribute('href')),
        text: document.body ? document.body.innerText : '',
        images: Array.from(document.images).map(i => ({src: i.src.slice(0, 60), w: i.naturalWidth, ok: i.complete})),
    };""")
    errors = [e['message'] for e in browser.get_log('browser') if e['level'] == 'SEVERE']
    events = [json.loads(e['message'])['message'] for e in browser.get_log('performance')]
    requests = [e['params']['request']['url'] for e in events if e['method'] == 'Network.requestWillBeSent']
    return facts, errors, requests


@contextlib.contextmanager
def serve(folder):
    "Serve `folder` over HTTP on 127.0.0.1 (a free port); yields the base URL."
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}'
    finally: srv.shutdown(); srv.server_close()


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
        for p in ['index.html'] + [p for p in pages if p != 'index.html']:
            facts, errors, requests = load(browser, f'{base}/{p}')
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
            if p == 'index.html' and screenshot:
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                browser.save_screenshot(str(screenshot))
            res[p] = facts
    return res


def docdemo(tmp):
    "A fresh copy of the docs test project (tests/docdemo)."
    return Path(shutil.copytree(DOCDEMO, Path(tmp)/'docdemo'))


# ------------------------------------------------------------------------------------------------------------- tests
def test_checker_catches_errors(browser, tmp_path):
    "The checks are real: a page that throws, logs an error, has a broken image and fetches from elsewhere is caught."
    (tmp_path/'bad.html').write_text(
        '<!DOCTYPE html><html><head><title>bad</title></head><body><h1>bad</h1><img src="missing.png">'
        '<script>console.error("boom-console"); fetch("http://192.0.2.1/x").catch(() => 0); null.boom();</script></body></html>')
    (tmp_path/'good.html').write_text('<!DOCTYPE html><html><head><title>ok</title></head><body><h1>ok</h1></body></html>')
    with serve(tmp_path) as base:
        facts, errors, requests = load(browser, f'{base}/bad.html')
        assert any('boom-console' in e for e in errors), errors
        assert any('Uncaught TypeError' in e and 'null' in e for e in errors), errors
        assert any('missing.png' in e and '404' in e for e in errors), errors
        assert 'http://192.0.2.1/x' in requests, requests
        assert facts['images'][0]['w'] == 0
        facts, errors, requests = load(browser, f'{base}/good.html')
        assert errors == [] and facts['title'] == 'ok' and requests == [f'{base}/good.html'], (errors, requests)
    assert external_refs('<script src="https://cdn.example.org/x.js"></script><link href="//fonts.x/y.css" rel="stylesheet">'
                         '<img src="data:image/png;base64,AA"><a href="https://github.com/x">x</a>') == \
        ['https://cdn.example.org/x.js', '//fonts.x/y.css']


@pytest.fixture(scope='module')
def demo_site(tmp_path_factory):
    proj = docdemo(tmp_path_factory.mktemp('docs'))
    rep = build_docs(proj, offline=True, verbose=False, timeout=300)
    assert rep['errors'] == [], rep['errors']
    return proj/'_docs'


def test_demo_site_in_browser(browser, demo_site):
    facts = check_site(browser, demo_site, screenshot=ARTIFACTS/'docs-demo-home.png', expect_pages=['index.html', 'demo.html'])
    demo = facts['demo.html']
    assert demo['h1'] == 'Demo chapter' and 'Exported function, plot' in demo['text']
    assert any(im['src'].startswith('data:image/png') and im['w'] > 100 for im in demo['images']), demo['images']  # the plot
    assert any(im['src'].startswith('data:image/svg') and im['w'] > 20 for im in demo['images']), demo['images']  # the formula
    assert 'SECRET_HIDDEN_CELL = 1' not in demo['text'] and 'done 1' in demo['text']                             # hidden cell ran, not shown
    assert 'output without its code' in demo['text'] and 'print("output without' not in demo['text']            # echo: false
    assert 'never run' in demo['text'] and 'not run for the docs (slow)' in demo['text'] and 'SLOW_CELL_RAN\n' not in demo['text']
    # show_doc: the signature, the docstring and the docments table
    assert 'scale' in demo['text'] and 'Multiply x by a.' in demo['text'] and 'the factor' in demo['text']
    assert '<td>the factor</td>' in (demo_site/'demo.html').read_text()
    assert facts['index.html']['title'].startswith('docdemo') and 'hello from the home page' in facts['index.html']['text']
    assert 'href="demo.html"' in (demo_site/'index.html').read_text()   # the markdown link to 01_demo.ipynb
    assert (ARTIFACTS/'docs-demo-home.png').stat().st_size > 5000


def test_repo_home_page_in_browser(browser, tmp_path):
    "This repository's own home page (index.ipynb, executed: the toy-dataset picture) and the augmentation chapter."
    proj = tmp_path/'repo'; (proj/'nbs').mkdir(parents=True)
    shutil.copy(REPO/'settings.ini', proj)
    for name in ('index.ipynb', '02_augment.ipynb'): shutil.copy(REPO/'nbs'/name, proj/'nbs')
    rep = build_docs(proj, offline=True, verbose=False, timeout=600)
    assert rep['errors'] == [], rep['errors']
    facts = check_site(browser, proj/'_docs', screenshot=ARTIFACTS/'docs-home.png', expect_pages=['index.html', 'augment.html'])
    home = facts['index.html']
    assert home['h1'] == 'smallssl' and 'Two commands' in home['text']
    assert 'import numpy' not in home['text']                                           # the picture's code is hidden
    assert any(im['src'].startswith('data:image/png') and im['w'] > 300 for im in home['images']), home['images']
    assert any(im['w'] > 100 for im in facts['augment.html']['images'])                 # the view-pair picture
    assert 'target="_blank"' not in facts['augment.html']['text']                      # Quarto's link attributes dropped
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
# per processed notebook with the sources of its cells, so the test can see what Quarto would have been given.
import json, sys
from pathlib import Path
with Path({log!r}).open('a') as f: f.write(json.dumps(dict(argv=sys.argv[1:], cwd=str(Path.cwd()))) + '\n')
if sys.argv[1:] == ['render', '--no-cache']:
    out = Path('_docs'); out.mkdir(exist_ok=True)
    for nb in Path('.').glob('*.ipynb'):
        cells = json.loads(nb.read_text())['cells']
        (out/(nb.stem + '.html')).write_text('\n'.join(''.join(c['source']) for c in cells))
'''


def test_quarto_path_is_nbdev_docs(tmp_path, monkeypatch):
    "With Quarto on the PATH, build_docs is nbdev's nbdev_docs: it processes into _proc/ and has Quarto render there."
    proj = docdemo(tmp_path)
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
    assert 'show_doc(scale)' in page and 'SECRET_HIDDEN_CELL = 1' not in page   # nbdev's processing reached Quarto
    assert (proj/'nbs'/'sidebar.yml').exists()
