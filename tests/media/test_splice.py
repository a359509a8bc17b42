"""Splitting a crossfade cut into copied bodies and encoded blends: pure arithmetic."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kling_pipe.media.house import plan_timeline
from kling_pipe.media.splice import Blend, Body, material_ahead, plan_splice


def test_three_segments_give_bodies_between_blends_and_keyframes_at_every_split() -> None:
    splice = plan_splice(plan_timeline([30, 40, 30], 6))
    assert splice is not None
    assert splice.pieces == (
        Body(0, 0, 24),
        Blend(0, 24, 6),
        Body(1, 6, 34),
        Blend(1, 34, 6),
        Body(2, 6, 30),
    )
    assert splice.keyframes == ((24,), (6, 34), (6,))
    assert splice.frames == 30 + 40 + 30 - 2 * 6


def test_a_hard_cut_or_a_single_segment_is_not_spliced() -> None:
    assert plan_splice(plan_timeline([30, 30], 0)) is None
    assert plan_splice(plan_timeline([30], 6)) is None


def test_a_middle_segment_two_transitions_long_has_no_body() -> None:
    splice = plan_splice(plan_timeline([30, 12, 30], 6))
    assert splice is not None
    assert [type(p).__name__ for p in splice.pieces] == ["Body", "Blend", "Blend", "Body"]
    assert splice.keyframes[1] == (6,)


def test_transitions_that_overlap_inside_a_short_segment_leave_the_cut_whole() -> None:
    # Segment 1 (10 frames) is in both fades at frames 4 and 5: no piece boundary exists.
    assert plan_splice(plan_timeline([30, 10, 30], 6)) is None
    # The first and last segments are in one transition only: they need only outlast it.
    assert plan_splice(plan_timeline([7, 12, 7], 6)) is not None


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=400), min_size=2, max_size=8),
    fade=st.integers(min_value=1, max_value=60),
)
def test_pieces_tile_the_timeline_exactly(lengths: list[int], fade: int) -> None:
    if any(length <= fade for length in lengths):
        return
    timeline = plan_timeline(lengths, fade)
    splice = plan_splice(timeline)
    if splice is None:
        assert any(length < 2 * fade for length in lengths[1:-1])
        return
    assert splice.frames == timeline.total_frames
    position = 0
    for piece in splice.pieces:
        if isinstance(piece, Body):
            # A body shows segment frame `start` at the output frame the timeline puts it at.
            assert position == timeline.starts[piece.segment] + piece.start
            assert piece.start in (0, *splice.keyframes[piece.segment])
            assert piece.end in (*splice.keyframes[piece.segment], lengths[piece.segment])
        else:
            assert position == timeline.offsets[piece.segment]
            assert piece.tail_start in splice.keyframes[piece.segment]
            assert fade in splice.keyframes[piece.segment + 1]
        position += piece.frames


def test_a_clip_arriving_alone_needs_only_its_own_intermediate() -> None:
    splice = plan_splice(plan_timeline([30, 40, 30, 30], 6))
    assert material_ahead(splice, [2], []) == ((2,), ())


def test_a_clip_arriving_beside_ready_neighbours_needs_the_fades_with_them() -> None:
    splice = plan_splice(plan_timeline([30, 40, 30, 30], 6))
    assert material_ahead(splice, [1], [0, 2]) == ((1,), (Blend(0, 24, 6), Blend(1, 34, 6)))
    # Segment 3 is ready too, but no fade of segment 1 touches it.
    assert material_ahead(splice, [1], [2, 3]) == ((1,), (Blend(1, 34, 6),))


def test_focus_segments_side_by_side_get_the_fade_between_them() -> None:
    splice = plan_splice(plan_timeline([30, 30, 30], 6))
    assert material_ahead(splice, [1, 0], []) == ((0, 1), (Blend(0, 24, 6),))


def test_without_a_splice_there_is_no_fade_to_make_ahead() -> None:
    assert material_ahead(None, [1], [0, 2]) == ((1,), ())
