"""Shards: `--shard K/N` takes a deterministic share of the keys, the same whatever the order of
the manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kling_pipe.campaign import Campaign
from kling_pipe.errors import InputError
from kling_pipe.lock import LockEntry, LockFile, lock_bytes, merge_locks
from kling_pipe.planning.jobs import Job, Upstream
from kling_pipe.planning.shards import Shard, placing_keys

REPO = Path(__file__).resolve().parents[2]
KEYS = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(300)]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "3", "a/b", "1/3/2", "-1/3", ""])
def test_a_shard_that_is_not_k_of_n_is_a_usage_error_saying_the_form(text: str) -> None:
    with pytest.raises(InputError, match="expected K/N"):
        Shard.parse(text)


@given(st.integers(min_value=1, max_value=7))
def test_every_key_is_in_exactly_one_shard(count: int) -> None:
    shards = [Shard(k, count) for k in range(1, count + 1)]
    assert all(sum(s.takes(key) for s in shards) == 1 for key in KEYS)


def test_shares_are_even_enough_to_split_a_campaign() -> None:
    sizes = [sum(Shard(k, 3).takes(key) for key in KEYS) for k in (1, 2, 3)]
    assert min(sizes) > 70  # of 300: no shard idles while another does all the work


@given(st.permutations(KEYS[:40]))
def test_a_share_does_not_depend_on_the_order_of_the_jobs(order: list[str]) -> None:
    shard = Shard.parse("2/3")
    assert {k for k in order if shard.takes(k)} == {k for k in KEYS[:40] if shard.takes(k)}


def test_cuts_split_by_their_id_the_same_on_every_machine() -> None:
    ids = [f"spot/{m}/{r}" for m in ("us", "jp", "de") for r in ("16x9", "9x16", "1x1")]
    shares = [[i for i in ids if Shard(k, 2).takes_cut(i)] for k in (1, 2)]
    assert sorted(shares[0] + shares[1]) == sorted(ids)
    assert shares == [[i for i in ids if Shard(k, 2).takes_cut(i)] for k in (1, 2)]


def test_a_lip_sync_runs_in_the_shard_of_its_master_and_every_job_in_exactly_one() -> None:
    jobs = Campaign.open(REPO / "pipelines/dubbed-launch.yaml").job_plan.jobs
    shares = [Shard(k, 3).share(jobs) for k in (1, 2, 3)]
    assert sorted(jid for share in shares for jid in share) == sorted(j.id for j in jobs)
    dubs = [j for j in jobs if j.shot == "dub"]
    assert len(dubs) == 6
    for dub in dubs:
        master = dub.upstream["video_url"].job_id
        assert master.startswith("master/")
        assert [dub.id in share for share in shares] == [master in share for share in shares]
    # Placed by the master's own key, as a master alone would be: the share is its root's.
    for dub in dubs:
        master_key = dub.upstream["video_url"].job_key
        assert [dub.id in s for s in shares] == [Shard(k, 3).takes(master_key) for k in (1, 2, 3)]


def chain_job(jid: str, key: str, *sources: tuple[str, str]) -> Job:
    upstream = {f"in{n}": Upstream(job_id=u, job_key=k) for n, (u, k) in enumerate(sources)}
    return Job(
        id=jid, shot=jid.split("/")[0], values={}, model="m", inputs={}, files={},
        key=key, cost_usd=0.0, upstream=upstream,
    )  # fmt: skip


# A three-stage chain (key frame → animation → lip-sync), a job taking two roots, a loner.
GRAPH = [
    chain_job("frame/a", KEYS[0]),
    chain_job("animate/a", KEYS[1], ("frame/a", KEYS[0])),
    chain_job("dub/a", KEYS[2], ("animate/a", KEYS[1])),
    chain_job("frame/b", KEYS[3]),
    chain_job("end/b", KEYS[4]),
    chain_job("animate/b", KEYS[5], ("frame/b", KEYS[3]), ("end/b", KEYS[4])),
    chain_job("pack/x", KEYS[6]),
]


@given(st.permutations(GRAPH))
def test_a_chain_is_placed_by_its_root_whatever_the_order_of_the_jobs(order: list[Job]) -> None:
    placed = placing_keys(order)
    assert placed == placing_keys(GRAPH)
    assert placed["frame/a"] == placed["animate/a"] == placed["dub/a"] == KEYS[0]
    assert placed["frame/b"] == placed["end/b"] == placed["animate/b"] == min(KEYS[3], KEYS[4])
    assert placed["pack/x"] == KEYS[6]


@given(st.integers(min_value=1, max_value=5))
def test_every_job_of_a_graph_is_in_exactly_one_shard_with_its_upstream(count: int) -> None:
    shares = [Shard(k, count).share(GRAPH) for k in range(1, count + 1)]
    for job in GRAPH:
        homes = [share for share in shares if job.id in share]
        assert len(homes) == 1
        assert all(u.job_id in homes[0] for u in job.upstream.values())


def entry(key: str, sha: str = "b" * 64) -> LockEntry:
    return LockEntry(key=key, material={"prompt": key[:4]}, output_sha256=sha)


def test_merged_fragments_are_byte_stable_whatever_their_order() -> None:
    one = LockFile(manifest="demo", jobs={"a": entry(KEYS[0]), "c": entry(KEYS[2])})
    two = LockFile(manifest="demo", jobs={"b": entry(KEYS[1])})
    forward = lock_bytes(merge_locks([("1", one), ("2", two)]))
    backward = lock_bytes(merge_locks([("2", two), ("1", one)]))
    whole = LockFile(manifest="demo", jobs={**one.jobs, **two.jobs})
    assert forward == backward == lock_bytes(whole)


def test_merging_fragments_of_two_manifests_is_refused() -> None:
    with pytest.raises(InputError, match="merge the fragments of one manifest"):
        merge_locks([("1", LockFile(manifest="demo")), ("2", LockFile(manifest="other"))])


def test_the_same_entry_in_two_fragments_is_no_conflict() -> None:
    same = LockFile(manifest="demo", jobs={"a": entry(KEYS[0])})
    assert merge_locks([("1", same), ("2", same)]).jobs == same.jobs


def test_a_sharded_run_counts_only_its_share_of_the_jobs(tmp_path: Path) -> None:
    from kling_pipe.running.run_plan import RunOptions, prepare_run

    (tmp_path / ".git").mkdir()
    manifest = tmp_path / "shards.yaml"
    manifest.write_text(
        "version: 1\nname: shards\nmodel: kwaivgi/kling-v2.6\ndefaults: {duration: 5}\n"
        "matrix:\n  variant: [1, 2, 3, 4, 5, 6, 7]\n  aspect_ratio: ['16:9', '9:16']\n"
        "shots:\n  - id: hero\n    prompt: 'A kettle {{ variant }}.'\n",
        "utf-8",
    )
    campaign = Campaign.open(manifest)
    whole = prepare_run(campaign, RunOptions(backend="preview"))
    assert whole.job_count == len(campaign.job_plan.jobs) == 14
    counts = []
    for k in (1, 2, 3):
        share = prepare_run(campaign, RunOptions(backend="preview", shard=Shard(k, 3)))
        assert share.job_count == len(share.units)  # one job per unit here
        counts.append(share.job_count)
    assert sum(counts) == 14 and max(counts) < 14
