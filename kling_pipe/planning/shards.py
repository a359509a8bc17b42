"""Shards: a deterministic share of a campaign's work for one machine of N (`--shard K/N`).

A job belongs to the shard its key falls in, so jobs sharing a key land together (they are
one generation), and a share does not change when the manifest is reordered or another job is
added. A cut belongs to the shard its id falls in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from kling_pipe.errors import InputError


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`K/N` with 1 <= K <= N; InputError saying what is wrong otherwise."""
        left, slash, right = text.partition("/")
        try:
            index, count = int(left), int(right)
        except ValueError:
            index = count = 0
        if not slash or count < 1 or not 1 <= index <= count:
            raise InputError(
                f"--shard {text!r}: expected K/N with 1 <= K <= N, such as 2/3 "
                "(the second of three shards)"
            )
        return cls(index, count)

    def takes(self, key: str) -> bool:
        """Whether a job key (a sha256 in hex) is in this shard."""
        return int(key[:16], 16) % self.count == self.index - 1

    def takes_cut(self, cut_id: str) -> bool:
        """Whether the cut with this id (`spot/us/16x9`) is in this shard."""
        return self.takes(hashlib.sha256(cut_id.encode("utf-8")).hexdigest())

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"
