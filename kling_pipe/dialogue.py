"""Quoted dialogue in prompts: Kling speaks text in quotes, lip-synced, when audio is on."""

from __future__ import annotations

import re

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」|『([^』]+)』|«([^»]+)»')
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff66-\uff9f]")

WORDS_PER_SECOND = 2.5
"""A natural speaking pace for space-separated scripts, with room for breaths and action."""
CJK_CHARACTERS_PER_SECOND = 5.0
"""The same for Chinese, Japanese and Korean, counted in characters."""


def extract_dialogue(prompt: str) -> list[str]:
    """The spoken lines in a prompt: text in "…", “…”, 「…」, 『…』 or «…», in order."""
    return [next(g for g in m.groups() if g).strip() for m in _QUOTED.finditer(prompt)]


def speaking_seconds(line: str) -> float:
    """Roughly how long `line` takes to say."""
    cjk = len(_CJK.findall(line))
    words = len(_CJK.sub(" ", line).split())
    return cjk / CJK_CHARACTERS_PER_SECOND + words / WORDS_PER_SECOND
