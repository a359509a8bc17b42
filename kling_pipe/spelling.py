"""Did-you-mean suggestions for misspelt names, shared by every layer that reports one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def did_you_mean(
    name: str,
    known: Iterable[str],
    *,
    aliases: Mapping[str, str] | None = None,
    cutoff: float = 0.6,
) -> str | None:
    """The known name `name` most likely meant, or None.

    `aliases` maps names people reach for to what they mean (`audio` → `generate_audio`); then
    the closest spelling wins; then the one known name containing `name` (or contained in it).
    """
    known = list(known)
    alias = (aliases or {}).get(name.lower())
    if alias in known:
        return alias
    close = difflib.get_close_matches(name, known, n=1, cutoff=cutoff)
    if close:
        return close[0]
    contains = [k for k in known if name.lower() in k or k in name.lower()]
    return contains[0] if len(contains) == 1 else None
