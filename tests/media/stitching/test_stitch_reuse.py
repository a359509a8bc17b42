"""A cut whose inputs are unchanged and whose file is intact is not made again."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kling_pipe.media.cards import Card
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.probe import scan_packets
from kling_pipe.media.stitch import CutClip, CutRequest, Transition, stitch_cut, stitch_cuts
from tests.media.stitching.conftest import render_marked_clip
from tests.media.stitching.measure import decode_errors

HOUSE = HouseFormat(320, 180)


@pytest.fixture
def request_and_cache(tmp_path: Path) -> tuple[CutRequest, Path]:
    clips = [
        render_marked_clip(tmp_path / f"shot{i}.mp4", mark=0.3, tone=600 + 100 * i).path
        for i in range(2)
    ]
    request = CutRequest(
        clips=(CutClip(clips[0], label="hero"), CutClip(clips[1], dialogue=("Hi!",))),
        house=HOUSE,
        out_path=tmp_path / "out" / "cut.mp4",
        transition=Transition("fade", 0.2),
        end=Card("Acme", 0.3),
    )
    return request, tmp_path / "cache"


def _intermediates(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.mov"))


def test_an_unchanged_cut_is_kept_without_running_ffmpeg(
    request_and_cache: tuple[CutRequest, Path],
) -> None:
    request, cache = request_and_cache
    first = stitch_cut(request, cache)
    assert not first.reused
    made_at = first.path.stat().st_mtime_ns
    # Without its intermediates a cut could only be kept, never made: nothing may be encoded.
    for intermediate in _intermediates(cache):
        intermediate.unlink()
    again = stitch_cut(request, cache)
    assert again.reused and again.reused_intermediates == len(again.segments) == 3
    assert dataclasses.replace(again, reused=False, reused_intermediates=0) == (
        dataclasses.replace(first, reused_intermediates=0)
    )
    assert again.path.stat().st_mtime_ns == made_at
    assert _intermediates(cache) == []


@pytest.mark.parametrize(
    "change",
    [
        {"transition": Transition("dissolve", 0.2)},
        {"transition": Transition("fade", 0.1)},
        {"loudness_lufs": -16.0},
        {"burn_captions": True},
        {"end": Card("Acme!", 0.3)},
        {"house": HouseFormat(320, 180, fit="crop")},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_changed_option_makes_the_cut_again(
    request_and_cache: tuple[CutRequest, Path], change: dict[str, object]
) -> None:
    request, cache = request_and_cache
    first = stitch_cut(request, cache)
    second = stitch_cut(dataclasses.replace(request, **change), cache)  # type: ignore[arg-type]
    assert not second.reused
    assert scan_packets(second.path)["video"].packets == second.frames
    # And back: the record now describes the second cut, so the first is made again too.
    assert not stitch_cut(request, cache).reused
    assert first.frames == stitch_cut(request, cache).frames


def test_a_changed_clip_take_or_dialogue_makes_the_cut_again(
    request_and_cache: tuple[CutRequest, Path],
) -> None:
    request, cache = request_and_cache
    stitch_cut(request, cache)
    hero, pour = request.clips
    shorter = dataclasses.replace(request, clips=(dataclasses.replace(hero, seconds=0.8), pour))
    assert stitch_cut(shorter, cache).frames == 24 + 30 + 9 - 12
    spoken = dataclasses.replace(
        shorter, clips=(shorter.clips[0], dataclasses.replace(pour, dialogue=("Hello!",)))
    )
    result = stitch_cut(spoken, cache)
    assert not result.reused and "Hello!" in result.srt_path.read_text("utf-8")
    assert hero.path is not None
    render_marked_clip(hero.path, mark=0.6, pattern="rgbtestsrc")
    assert not stitch_cut(spoken, cache).reused
    assert stitch_cut(spoken, cache).reused


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "delete", "delete_srt"])
def test_a_damaged_or_missing_cut_file_is_made_again(
    request_and_cache: tuple[CutRequest, Path], damage: str
) -> None:
    request, cache = request_and_cache
    first = stitch_cut(request, cache)
    data = first.path.read_bytes()
    if damage == "truncate":
        first.path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        middle = len(data) // 2
        first.path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    elif damage == "delete":
        first.path.unlink()
    else:
        first.srt_path.unlink()
    again = stitch_cut(request, cache)
    assert not again.reused
    assert scan_packets(again.path)["video"].packets == first.frames
    assert decode_errors(again.path) == ""
    assert again.srt_path.read_text("utf-8") == first.srt_path.read_text("utf-8")


def test_kept_and_made_cuts_come_back_in_request_order(
    request_and_cache: tuple[CutRequest, Path],
) -> None:
    request, cache = request_and_cache
    other = dataclasses.replace(request, out_path=request.out_path.with_name("other.mp4"))
    stitch_cut(request, cache)
    heard: list[Path] = []
    results = stitch_cuts([other, request], cache, on_cut=lambda r: heard.append(r.path))
    assert [r.path for r in results] == heard == [other.out_path, request.out_path]
    assert [r.reused for r in results] == [False, True]
