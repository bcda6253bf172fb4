"""Every command's flags come from its configuration: each flag's `--help` text is the docment of its field, the parser's
defaults are the configuration's defaults, and a configuration's command line (`to_argv`) rebuilds it.

The configurations are found from the console scripts that settings.ini declares, so a new command is covered by adding
it there (the docs and lab commands, which start other programs, keep their own small parsers)."""
import configparser, dataclasses, importlib, re
from pathlib import Path

import pytest

from smallssl.config import Config, config_docs

ROOT = Path(__file__).resolve().parents[1]
OWN_PARSERS = {'smallssl-docs', 'smallssl-lab'}


def _configs():
    "(script, configuration class) for every console script whose module builds its parser from a configuration."
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    out = []
    for line in cfg['DEFAULT']['console_scripts'].splitlines():
        if not line.strip(): continue
        script, target = (s.strip() for s in line.split('='))
        if script in OWN_PARSERS: continue
        mod = importlib.import_module(target.split(':')[0])
        classes = [v for v in vars(mod).values() if isinstance(v, type) and issubclass(v, Config) and v.__module__ == mod.__name__
                   and dataclasses.is_dataclass(v) and v.__doc__]
        out += [(script, c) for c in classes]
    return out

CONFIGS = _configs()


def test_every_command_has_a_configuration():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    scripts = {l.split('=')[0].strip() for l in cfg['DEFAULT']['console_scripts'].splitlines() if l.strip()}
    assert scripts - OWN_PARSERS <= {s for s, _ in CONFIGS}, scripts - OWN_PARSERS - {s for s, _ in CONFIGS}


@pytest.mark.parametrize('script,cls', CONFIGS, ids=[f"{s}:{c.__name__}" for s, c in CONFIGS])
def test_help_is_the_docment(script, cls):
    "Each flag's help is its field's docment (plus the choices a metavar hides, or without a default the nested value replaces)."
    docs = config_docs(cls)
    parser = cls.parser(script)
    helps = {}
    for a in parser._actions: helps.setdefault(a.dest, a.help)   # a field's own flag comes before its switches
    for s in cls.specs():
        d = (config_docs(type(getattr(cls(), s.owner))) if s.owner else docs).get(s.name, '')
        assert d, f"{cls.__name__}.{s.name} has no docment: its flag would have no help"
        h = helps[s.name]
        if not s.own_default: d = re.sub(r'\s*\(default(?:[^()]|\([^()]*\))*\)', '', d)
        assert h == d or h.startswith(d + ' ('), (cls.__name__, s.name, h, d)


@pytest.mark.parametrize('script,cls', CONFIGS, ids=[f"{s}:{c.__name__}" for s, c in CONFIGS])
def test_defaults_and_round_trip(script, cls):
    "The parser's defaults are the configuration's; `to_argv` of a changed configuration parses back to it."
    required = [s for s in cls.specs() if s.flag.required]
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    base = cls(**{s.name: ['X'] if types[s.name].startswith('list') else 'X' for s in required if not s.owner})   # NAME [NAME ...]: a list
    argv = base.to_argv()
    assert cls.from_argv(argv) == base
    changed = {}
    for f in dataclasses.fields(cls):   # change every plain int/float/str field that has no choices, and flip the booleans
        s = next((s for s in cls.specs() if s.name == f.name and not s.owner), None)
        if s is None or s.flag.choices or s.flag.positional: continue
        v = getattr(base, f.name)
        if isinstance(v, bool): changed[f.name] = not v
        elif isinstance(v, int): changed[f.name] = v + 3
        elif isinstance(v, float): changed[f.name] = v * 2 + 1
    c = dataclasses.replace(base, **changed)
    assert cls.from_argv(c.to_argv()) == c, (c.to_argv(), cls.from_argv(c.to_argv()))
