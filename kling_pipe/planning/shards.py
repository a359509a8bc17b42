"""Shards: a deterministic share of a campaign's work for one machine of N (`--shard K/N`).

A job belongs to the shard its graph falls in: jobs joined by `{from: SHOT}` inputs form one
graph, placed by the smallest key of its root jobs (those with no upstream), so a downstream job
runs on the machine that makes its upstream output instead of waiting for an output its shard
never makes. A job with no upstream and no downstream is placed by its own key. Jobs sharing a
key land together (they are one generation), and a share does not change when the manifest is
reordered or another unrelated job is added. A cut belongs to the shard its id falls in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from kling_pipe.errors import InputError
from kling_pipe.planning.jobs import Job


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

    def share(self, jobs: Iterable[Job]) -> frozenset[str]:
        """The ids of the jobs of `jobs` in this shard, each placed with its whole graph
        (see `placing_keys`). Pass every job of the campaign, not a selection, so an upstream
        left out of a selection still places its downstream."""
        return frozenset(jid for jid, key in placing_keys(jobs).items() if self.takes(key))

    def takes_cut(self, cut_id: str) -> bool:
        """Whether the cut with this id (`spot/us/16x9`) is in this shard."""
        return self.takes(hashlib.sha256(cut_id.encode("utf-8")).hexdigest())

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def placing_keys(jobs: Iterable[Job]) -> dict[str, str]:
    """Job id → the key that places it in a shard: the smallest job key among the root jobs
    of the graph it belongs to (jobs joined through `{from: SHOT}` inputs, either way).

    The smallest of the roots' keys, not the first met, so the placement is the same whatever
    the order of the jobs; roots only, so a change below the roots (one market's line) moves
    nothing. Takes of one job share its id and so its place.
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def join(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    job_keys: dict[str, str] = {}
    below: set[str] = set()  # jobs with an upstream: not roots
    ids: list[str] = []
    for job in jobs:
        parent.setdefault(job.id, job.id)
        ids.append(job.id)
        job_keys[job.id] = job.job_key
        for source in job.upstream.values():
            below.add(job.id)
            # An upstream not among `jobs` still roots its graph.
            parent.setdefault(source.job_id, source.job_id)
            job_keys.setdefault(source.job_id, source.job_key)
            join(job.id, source.job_id)
    root_keys = {node: key for node, key in job_keys.items() if node not in below}
    smallest: dict[str, str] = {}
    for node, key in root_keys.items():
        group = find(node)
        if group not in smallest or key < smallest[group]:
            smallest[group] = key
    return {jid: smallest[find(jid)] for jid in ids}
