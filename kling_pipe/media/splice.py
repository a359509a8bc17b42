"""A crossfade cut as pieces: stretches of each segment copied as they are, blends encoded anew.

Pure arithmetic on a cut's `Timeline`. Outside its transitions a segment's picture in the cut is
its intermediate's picture, frame for frame, so it can be copied (`-c:v copy`) rather than
encoded again; only the frames where two segments overlap must be encoded. For that each
intermediate needs a keyframe wherever the cut splits it: where its head blend ends (frame
`d`) and where its tail blend starts (`length - d`). The cut's picture is then the pieces in
order:

    body 0 | blend 0-1 | body 1 | blend 1-2 | ... | body n-1

where body i is segment i without the frames it shares with its neighbours and blend i-(i+1)
is xfade of segment i's last `d` frames with segment i+1's first `d` frames.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from kling_pipe.media.house import Timeline


@dataclass(frozen=True)
class Body:
    """Frames [start, end) of segment `segment`'s intermediate, copied into the cut."""

    segment: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        """How many frames the piece holds."""
        return self.end - self.start


@dataclass(frozen=True)
class Blend:
    """The transition from segment `segment` to the next: xfade of the outgoing segment's
    frames [tail_start, tail_start + frames) with the incoming segment's first `frames`."""

    segment: int
    tail_start: int
    frames: int


Piece = Body | Blend


@dataclass(frozen=True)
class Splice:
    """How a crossfade cut is put together from pieces, and where each intermediate is split."""

    pieces: tuple[Piece, ...]
    keyframes: tuple[tuple[int, ...], ...]
    """For each segment, the frames of its intermediate that must start a closed GOP."""

    @property
    def frames(self) -> int:
        """Frames in the whole cut: the sum of the pieces'."""
        return sum(p.frames for p in self.pieces)


def plan_splice(timeline: Timeline) -> Splice | None:
    """The pieces of a cut with transitions; None when it has none (a hard cut, one segment) or
    when a segment is shorter than its two transitions together, so they overlap each other
    (then the cut is encoded whole, as one xfade chain)."""
    lengths = timeline.lengths
    d = timeline.transition_frames
    last = len(lengths) - 1
    if d == 0 or last == 0:
        return None
    if any(length < 2 * d for length in lengths[1:-1]):
        return None
    pieces: list[Piece] = []
    keyframes: list[tuple[int, ...]] = []
    for index, length in enumerate(lengths):
        start = d if index > 0 else 0
        end = length - d if index < last else length
        if end > start:  # a middle segment exactly two transitions long has no body
            pieces.append(Body(index, start, end))
        if index < last:
            pieces.append(Blend(index, end, d))
        keyframes.append(tuple(sorted({k for k in (start, end) if 0 < k < length})))
    return Splice(tuple(pieces), tuple(keyframes))


def material_ahead(
    splice: Splice | None, focus: Collection[int], available: Collection[int]
) -> tuple[tuple[int, ...], tuple[Blend, ...]]:
    """What of a cut can be made before the cut for segments `focus` (clips that arrived, cards):
    their intermediates, and each blend between a focus segment and a neighbour in `available`
    (whose intermediate exists or is being made), in the cut's order. Without a splice (a hard
    cut, or fades encoded whole) there is no blend to make ahead."""
    segments = tuple(sorted(set(focus)))
    if splice is None:
        return segments, ()
    ready = set(focus) | set(available)
    blends = tuple(
        piece
        for piece in splice.pieces
        if isinstance(piece, Blend)
        and (piece.segment in focus or piece.segment + 1 in focus)
        and piece.segment in ready
        and piece.segment + 1 in ready
    )
    return segments, blends
