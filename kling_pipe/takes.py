"""Takes: the several generations of one job, and how each is named and keyed.

No Kling model takes a seed, so every generation of the same inputs is a new take. Take 1 of a
job has the job's own key (so locks and stores made before takes existed stay valid); take k > 1
has its own key, the canonical hash of the job's key and k. A take is named by its *take id*:
the job id for take 1 (`hero/jp/9x16`), the job id and `#k` for the others (`hero/jp/9x16#2`).
Pure: no files, clock or network.
"""

from __future__ import annotations

from kling_pipe.canonical import canonical_hash

TAKE_MARK = "#"
"""Separates a job id from its take number in a take id. Job ids never contain it."""

MAX_TAKES = 20
"""The most takes a manifest may ask of one job (rerolls may add more, one at a time)."""


def take_key(job_key: str, take: int) -> str:
    """The key of take `take` of the job whose key is `job_key`: the job's key for take 1."""
    if take < 1:
        raise ValueError(f"takes are numbered from 1, not {take}")
    if take == 1:
        return job_key
    return canonical_hash({"job": job_key, "take": take})


def take_id(job_id: str, take: int) -> str:
    """A take's id: the job id for take 1, `job#k` for take k."""
    return job_id if take == 1 else f"{job_id}{TAKE_MARK}{take}"


def split_take_id(value: str) -> tuple[str, int]:
    """(job id, take number) of a take id; a plain job id is take 1."""
    job, mark, number = value.rpartition(TAKE_MARK)
    if mark and number.isdigit() and int(number) >= 1:
        return job, int(number)
    return value, 1
