from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kling_pipe.canonical import canonical_hash
from kling_pipe.takes import split_take_id, take_id, take_key

KEY = "a" * 64


def test_take_one_keeps_the_jobs_key_so_existing_locks_and_stores_stay_valid() -> None:
    assert take_key(KEY, 1) == KEY


def test_a_later_take_has_its_own_key_derived_from_the_job_key_and_its_number() -> None:
    assert take_key(KEY, 2) == canonical_hash({"job": KEY, "take": 2})
    assert take_key(KEY, 2) != take_key(KEY, 3)
    assert take_key(KEY, 2) != take_key("b" * 64, 2)


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_take_keys_are_distinct_per_take(one: int, two: int) -> None:
    assert (take_key(KEY, one) == take_key(KEY, two)) == (one == two)


def test_take_ids_name_take_one_by_the_job_id_and_round_trip() -> None:
    assert take_id("hero/jp/9x16", 1) == "hero/jp/9x16"
    assert take_id("hero/jp/9x16", 3) == "hero/jp/9x16#3"
    assert split_take_id("hero/jp/9x16#3") == ("hero/jp/9x16", 3)
    assert split_take_id("hero/jp/9x16") == ("hero/jp/9x16", 1)
    assert split_take_id("hero/jp/9x16#x") == ("hero/jp/9x16#x", 1)
