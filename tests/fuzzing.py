"""Hostile manifests for fuzzing: valid seeds, payloads that broke kling-pipe once, mutations.

Shared by `tests/test_fuzz_manifests.py` (hypothesis drives the `random.Random`) and
`benchmarks/fuzz.py` (a seeded `random.Random` per case). A case is the text of a manifest
written into a campaign folder made by `make_campaign`, which holds the templates, links, pipes
and assets the payloads point at.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SEEDS = [
    """\
version: 1
name: spring-launch
model: kwaivgi/kling-v2.6
defaults: &defaults
  duration: 5
  generate_audio: true
  negative_prompt: "blurry, low quality"
vars:
  brand: Acme
  look: "soft morning light, 35mm"
markets:
  us: {locale: en-US, product: "Acme Kettle", line: "Boils in sixty seconds.", tagline: "Acme."}
  jp: {locale: ja-JP, product: "アクメ電気ケトル", line: "60秒で沸騰。", tagline: "アクメ。"}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16", "1:1"]
  exclude:
    - {market: jp, aspect_ratio: "1:1"}
shots:
  - id: hero
    prompt: "{% include 'product_hero.j2' %}"
    inputs:
      start_image: "assets/kettle_{{ aspect_ratio | ratio_slug }}.png"
      generate_audio: false
  - id: pour
    prompt: >-
      Close-up of the {{ product }} pouring, {{ look }}. A barista says {{ line | dialogue }}
    inputs: {duration: 10}
cuts:
  - id: spot
    shots: [hero, pour]
    transition: {kind: fade, seconds: 0.5}
    end_card: {text: "{{ tagline }}", seconds: 2, background: "#1d2a44"}
limits: {concurrency: 8, creates_per_minute: 60, budget_usd: 40}
""",
    """\
version: 1
name: previs
model: kwaivgi/kling-v2.5-turbo-pro
defaults: {duration: 5, aspect_ratio: "16:9"}
vars: {subject: "a red bicycle at dawn"}
matrix:
  variant:
    - {id: v01-push-in, camera: "slow push-in", mood: "golden hour"}
    - {id: v02-pull-out, camera: "slow pull-out", mood: "blue hour"}
    - {id: v03-pan, camera: "pan left", mood: "overcast"}
shots:
  - id: bicycle
    prompt: "{{ subject | capitalize }}, {{ variant.mood }}. Camera: {{ variant.camera }}."
    negative_prompt: "people, text"
limits: {concurrency: 10, budget_usd: 5}
""",
    """\
version: 1
name: omni
model: kwaivgi/kling-v3-video
defaults: {duration: 5, mode: pro}
vars: {who: "a chef"}
matrix:
  take: [1, 2]
  aspect_ratio: ["9:16"]
  include:
    - {take: 3, aspect_ratio: "1:1", mood: calm}
shots:
  - id: kitchen
    prompt: '{{ who }} turns and says "Dinner is ready." Take {{ take }}.'
    inputs:
      start_image: assets/kettle_9x16.png
      end_image: assets/kettle_1x1.png
      generate_audio: true
      duration: 8
  - id: close
    model: kwaivgi/kling-v2.1
    prompt: "{% include 'tagline.j2' %} {{ who }}"
    inputs: {start_image: assets/kettle_9x16.png, mode: standard}
prices:
  kwaivgi/kling-v3-video: {per_second: 0.2}
salt: "take-2"
""",
]

SCALARS = [
    "2024-02-30",
    "2024-03-01",
    "!!int abc",
    "!!float xyz",
    "!!bool maybe",
    "!!timestamp 2024-02-30",
    "!!timestamp abc",
    "!!binary aGVsbG8=",
    "!!python/object/apply:os.system ['id']",
    "!!set {a, b}",
    "9" * 5000,
    "99999999999999999999",
    "-9223372036854775809",
    "1.0e999",
    ".inf",
    ".nan",
    '"\\ud800"',
    '"a\\0b"',
    "[" * 3000 + "]" * 3000,
    "{a: " * 200 + "1" + "}" * 200,
    "~",
    "[]",
    "{}",
    "[5]",
    "{a: 1}",
    "[[5]]",
    "-1",
    "0",
    "true",
    "no",
    '".."',
    '"/"',
    '"\\\\"',
    '""',
    "a" * 300 + ".png",
    "../../etc/passwd",
    "/etc/hostname",
    "/dev/zero",
    "link.png",
    "assets/pipe.png",
    "assets/folder.png",
    "*nowhere",
    "&anchor value",
    "'{{ x }}'",
    "\"{% include 'environ.j2' %}\"",
    "'" + "x" * 3000 + "'",
]

TEMPLATES = [
    "{{ 10**5000 }}",
    "{{ 9**(9**9) }}",
    "{{ 'a'*10**9 }}",
    "{{ [1]*10**9 }}",
    "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}",
    "{% for i in range(9999) %}{% for j in range(99) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
    "{% endfor %}{{ ns.s }}",
    "{% include 'self.j2' %}",
    "{% include 'a.j2' %}",
    "{% include 'environ.j2' %}",
    "{% include 'passwd.j2' %}",
    "{% include 'big.j2' %}",
    "{% include 'pipe.j2' %}",
    "{% include 'latin1.j2' %}",
    "{% include '../secret.txt' %}",
    "{% include '/etc/passwd' %}",
    "{% set t %}{% include 'notes.j2' %}{% endset %}{{ {}[t] }}",
    "{{ undefined_name }}",
    "{{ product.nothing.deeper }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum(10**9) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'a'|center(10**9) }}",
    "{{ range(10**20) }}",
    "{{ 1/0 }}",
    "{{ (1.5)**100000 }}",
    "{{ ",
    "{% for %}",
    "{% endfor %}",
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{{ x|nofilter }}",
    "{% extends 'self.j2' %}",
    "{% import 'a.j2' as a %}{{ a.f() }}",
]

FRAGMENTS = [
    "\n".join(
        [
            "bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]",
            *(f"bomb{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, 9)),
        ]
    ),
    "matrix:\n" + "\n".join(f"  ax{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(8)),
    "matrix:\n  a: ['..', '.', '']\n  b: ['..', '/', '\\\\']\n  c: ['..']",
    "limits: {max_jobs: 1}",
    "limits: {max_jobs: 0}",
    "deep: " + "[" * 3000 + "]" * 3000,
    "\tbad: tab",
    "  wrongly: indented",
    "version: 2",
    "x: &x [1, *x]",
    "<<: *nowhere",
    "- a list item",
    "model: kwaivgi/not-a-model",
    "defaults: {duration: [5], generate_audio: maybe}",
    "defaults: {duration: 99999999999999999999}",
    "defaults: {start_image: " + "a" * 300 + ".png}",
    "vars: {1: one, true: yes}",
    "markets: {no: {line: hi}}",
    "%YAML 1.1\n---",
    "--- second\n...",
]

_TEXT_NOISE = [*"\t :-{}[]'\"&*!|>%@#,?\\\n\x00", chr(0xD800), "\u202e", "é", "—"]


def _replace_scalar(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if ": " in line]
    if not candidates:
        return text
    i = rng.choice(candidates)
    head = lines[i].split(": ", 1)[0]
    lines[i] = f"{head}: {rng.choice(SCALARS)}"
    return "\n".join(lines)


def _replace_template(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    keys = ("prompt:", "negative_prompt:", "text:", "start_image:", "brand:", "line:")
    candidates = [i for i, line in enumerate(lines) if line.strip().startswith(keys)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    head = lines[i].split(":", 1)[0]
    payload = rng.choice(TEMPLATES).replace("'", "''")
    lines[i] = f"{head}: '{payload}'"
    return "\n".join(lines)


def _insert_fragment(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    at = rng.randrange(len(lines) + 1)
    lines[at:at] = rng.choice(FRAGMENTS).split("\n")
    return "\n".join(lines)


def _text_noise(text: str, rng: random.Random) -> str:
    if not text:
        return text
    at = rng.randrange(len(text))
    kind = rng.randrange(4)
    if kind == 0:
        return text[:at] + text[at + rng.randint(1, 40) :]
    if kind == 1:
        return text[:at] + rng.choice(_TEXT_NOISE) + text[at:]
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    if kind == 2:
        lines.insert(i, lines[rng.randrange(len(lines))])
    else:
        lines[i] = " " * rng.choice([1, 2, 3, 4, 8]) + lines[i]
    return "\n".join(lines)


def _mutate_tree(node: Any, rng: random.Random, depth: int = 0) -> Any:
    """Replace one node of parsed data with a value of another type or a payload."""
    if isinstance(node, dict) and node and depth < 6 and rng.random() < 0.7:
        key = rng.choice(list(node))
        node = dict(node)
        if rng.random() < 0.1:
            del node[key]
        else:
            node[key] = _mutate_tree(node[key], rng, depth + 1)
        return node
    if isinstance(node, list) and node and depth < 6 and rng.random() < 0.7:
        node = list(node)
        i = rng.randrange(len(node))
        node[i] = _mutate_tree(node[i], rng, depth + 1)
        return node
    return rng.choice(
        [
            [node],
            {"k": node},
            "..",
            "",
            None,
            -1,
            2**40,
            1.5,
            True,
            "x" * 300,
            rng.choice(TEMPLATES),
            ["..", "/", "\\", "", "\0"],
            {"id": "..", "name": "/"},
        ]
    )


def _mutate_structure(text: str, rng: random.Random) -> str:
    try:
        data = yaml.safe_load(text)
    except Exception:  # PyYAML's own loader raises anything on hostile text: not under test
        return text
    if not isinstance(data, dict | list):
        return text
    try:
        return yaml.safe_dump(_mutate_tree(data, rng), allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, TypeError, ValueError):
        return text


MUTATIONS: list[Callable[[str, random.Random], str]] = [
    _replace_scalar,
    _replace_template,
    _insert_fragment,
    _text_noise,
    _mutate_structure,
]


def mutate(rng: random.Random) -> str:
    """A manifest: one of the seeds with one to three mutations."""
    text = rng.choice(SEEDS)
    for _ in range(rng.randint(1, 3)):
        text = rng.choice(MUTATIONS)(text, rng)
    return text


def make_campaign(folder: Path) -> Path:
    """A campaign folder holding everything the seeds and payloads name; returns the manifest
    path to write cases to."""
    (folder / ".git").mkdir(parents=True, exist_ok=True)
    templates = folder / "templates"
    assets = folder / "assets"
    templates.mkdir(exist_ok=True)
    assets.mkdir(exist_ok=True)
    files = {
        templates / "product_hero.j2": "The {{ product }} on a counter, {{ look }}.",
        templates / "tagline.j2": "They say {{ tagline | default('hello') | dialogue }}",
        templates / "self.j2": "{% include 'self.j2' %}",
        templates / "a.j2": "{% macro f() %}{% include 'b.j2' %}{% endmacro %}{{ f() }}",
        templates / "b.j2": "{% include 'a.j2' %}",
        templates / "notes.j2": "root:x:0:0:root:/root:/bin/bash\nsecret: r8_notes\n",
        templates / "big.j2": "x" * (2 << 20),
        folder.parent / f"{folder.name}-secret.txt": "top secret",
    }
    for path, text in files.items():
        if not path.exists():
            path.write_text(text, "utf-8")
    (templates / "latin1.j2").write_bytes(b"caf\xe9 {{ product }}")
    for name in ("kettle_16x9.png", "kettle_9x16.png", "kettle_1x1.png"):
        (assets / name).write_bytes(b"\x89PNG fake " + name.encode())
    links = {
        templates / "environ.j2": Path("/proc/self/environ"),
        templates / "passwd.j2": Path("/etc/passwd"),
        folder / "link.png": Path("/etc/hostname"),
    }
    for link, target in links.items():
        if not link.is_symlink():
            os.symlink(target, link)
    for fifo in (templates / "pipe.j2", assets / "pipe.png"):
        if not fifo.exists():
            os.mkfifo(fifo)
    (assets / "folder.png").mkdir(exist_ok=True)
    return folder / "campaign.yaml"


def write_case(manifest: Path, text: str) -> None:
    """Write a case's text; a lone surrogate becomes the invalid UTF-8 it would be on disk."""
    manifest.write_bytes(text.encode("utf-8", "surrogatepass"))
