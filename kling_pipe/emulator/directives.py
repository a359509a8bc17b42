"""The request headers that change how a create behaves: `Prefer: wait` and `Cancel-After`."""

from __future__ import annotations

import re

MAX_WAIT_S = 60
MIN_CANCEL_AFTER_S = 5.0

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_prefer_wait(header: str | None) -> int | None:
    """Seconds to hold a create open: `wait` → 60, `wait=N` → N (1-60); None when absent.

    Raises ValueError for any other value.
    """
    if header is None or not header.strip():
        return None
    match = re.fullmatch(r"\s*wait(?:=(\d+))?\s*", header)
    if not match:
        raise ValueError(f"Prefer: {header!r} is not 'wait' or 'wait=N' with N from 1 to 60")
    if match.group(1) is None:
        return MAX_WAIT_S
    seconds = int(match.group(1))
    if not 1 <= seconds <= MAX_WAIT_S:
        raise ValueError(f"Prefer: wait={seconds} must be between 1 and {MAX_WAIT_S} seconds")
    return seconds


def parse_cancel_after(header: str | None) -> float | None:
    """Seconds until a prediction's deadline: `30`, `90s`, `5m`, `1h30m45s`; None when absent.

    Raises ValueError for a malformed value or one under the 5 s minimum.
    """
    if header is None or not header.strip():
        return None
    text = header.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        seconds = float(text)
    elif re.fullmatch(r"(?:\d+(?:\.\d+)?[hms])+", text):
        seconds = sum(
            float(number) * _UNITS[unit]
            for number, unit in re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
        )
    else:
        raise ValueError(f"Cancel-After: {header!r} is not a duration such as 30s, 5m or 1h30m")
    if seconds < MIN_CANCEL_AFTER_S:
        raise ValueError(f"Cancel-After: {header!r} is under the {MIN_CANCEL_AFTER_S:g}s minimum")
    return seconds
