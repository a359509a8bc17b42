"""The house format every clip of a rough cut is normalised to, and its frame/sample arithmetic.

Everything here is pure: a cut's timeline (where each segment starts, where each transition
sits, how many frames and samples the whole holds) is decided before ffmpeg runs, so the graph
can trim video to exact frame counts and audio to exact sample counts and never drift.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from kling_pipe.errors import InputError

Fit = Literal["letterbox", "crop"]

SIZES_BY_RATIO: dict[str, tuple[int, int]] = {
    "16:9": (1920, 1080),
    "9:16": (1080, 1920),
    "1:1": (1080, 1080),
}
"""Default output size per Kling aspect ratio."""

XFADE_KINDS = frozenset(
    {
        "fade",
        "dissolve",
        "fadeblack",
        "fadewhite",
        "wipeleft",
        "wiperight",
        "wipeup",
        "wipedown",
        "slideleft",
        "slideright",
        "slideup",
        "slidedown",
        "circleopen",
        "circleclose",
        "smoothleft",
        "smoothright",
    }
)
"""Transition kinds besides a plain `cut`: names of ffmpeg's `xfade` transitions."""


@dataclass(frozen=True)
class HouseFormat:
    """What every segment of a cut is normalised to: size, square pixels, CFR, 48 kHz stereo."""

    width: int
    height: int
    fps: Fraction = Fraction(30)
    sample_rate: int = 48000
    fit: Fit = "letterbox"
    """`letterbox` pads a clip of another shape with black; `crop` fills the frame and crops."""

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise InputError(
                f"output size {self.width}x{self.height}: width and height must be positive "
                "and even (yuv420p halves the chroma planes)"
            )
        if Fraction(self.fps) <= 0:
            raise InputError(f"frame rate {self.fps}: must be positive")
        if self.sample_rate <= 0:
            raise InputError(f"sample rate {self.sample_rate}: must be positive")
        if self.fit not in ("letterbox", "crop"):
            raise InputError(f"fit {self.fit!r}: expected 'letterbox' or 'crop'")
        object.__setattr__(self, "fps", Fraction(self.fps))

    def frames(self, seconds: float) -> int:
        """The whole number of frames nearest to `seconds` at the house frame rate."""
        return frame_count(seconds, self.fps)

    def samples(self, frames: int) -> int:
        """Audio samples that last exactly as long as `frames` video frames."""
        return sample_count(frames, self.fps, self.sample_rate)

    def seconds(self, frames: int) -> float:
        """Duration of `frames` video frames."""
        return float(frames / self.fps)

    def key(self) -> dict[str, object]:
        """Plain data identifying the format, for cache keys."""
        return {
            "width": self.width,
            "height": self.height,
            "fps": str(self.fps),
            "sample_rate": self.sample_rate,
            "fit": self.fit,
        }


def house_format_for_ratio(
    ratio: str, *, fps: Fraction | int = 30, fit: Fit = "letterbox"
) -> HouseFormat:
    """The default house format for a Kling aspect ratio ("16:9", "9:16" or "1:1")."""
    try:
        width, height = SIZES_BY_RATIO[ratio]
    except KeyError:
        known = ", ".join(SIZES_BY_RATIO)
        raise InputError(
            f"aspect ratio {ratio!r}: no default output size; use one of {known}"
        ) from None
    return HouseFormat(width=width, height=height, fps=Fraction(fps), fit=fit)


def frame_count(seconds: float, fps: Fraction) -> int:
    """Frames nearest to `seconds` at `fps` (ties round to even, like ffmpeg's fps filter)."""
    return round(Fraction(seconds).limit_denominator(1_000_000) * fps)


def shown_frame_count(last: float, end: float, fps: Fraction) -> int:
    """Frames at `fps` that show a clip whose last frame starts at `last` and ends at `end`
    seconds, on the clip's own timeline (from 0, where its earliest stream starts).

    The length a player shows, rounded to whole frames, but never so short that the last
    frame loses its slot: a variable-frame-rate clip whose last frame is shorter than half a
    house frame would otherwise lose it (a frame starting exactly half-way keeps its slot only
    if the rounding of its length gives it one, as with a 60 fps source's last frame).
    """
    whole = frame_count(end, fps)
    slot = Fraction(last).limit_denominator(1_000_000) * fps
    last_slot = math.ceil(slot - Fraction(1, 2))  # rounded half down
    return max(whole, last_slot + 1)


def sample_count(frames: int, fps: Fraction, sample_rate: int) -> int:
    """Samples lasting as long as `frames` frames (rounded when fps does not divide the rate)."""
    return round(frames * sample_rate / Fraction(fps))


@dataclass(frozen=True)
class Timeline:
    """Where each segment of a cut sits, in output frames.

    Segment i starts at `starts[i]` and lasts `lengths[i]` frames; consecutive segments overlap
    by `transition_frames` (0 for hard cuts), which is exactly where xfade's offsets go.
    """

    lengths: tuple[int, ...]
    transition_frames: int
    starts: tuple[int, ...]
    total_frames: int

    @property
    def offsets(self) -> tuple[int, ...]:
        """The xfade offset (in frames) of each transition: the start of segment i+1."""
        return self.starts[1:]


def plan_timeline(lengths: Sequence[int], transition_frames: int = 0) -> Timeline:
    """Lay segments of `lengths` frames end to end, overlapping by `transition_frames`.

    Each later xfade offset is the accumulated output length minus the transition, so the
    offsets follow from the frame counts alone. Every segment must outlast the transition.
    """
    if not lengths:
        raise InputError("a cut needs at least one clip")
    if transition_frames < 0:
        raise InputError(f"transition of {transition_frames} frames: must not be negative")
    for index, length in enumerate(lengths):
        if length <= 0:
            raise InputError(f"segment {index + 1} lasts {length} frames: too short to use")
        if len(lengths) > 1 and length <= transition_frames:
            raise InputError(
                f"segment {index + 1} lasts {length} frames, no longer than the "
                f"{transition_frames}-frame transition: shorten the transition"
            )
    starts = [0]
    for length in lengths[:-1]:
        starts.append(starts[-1] + length - transition_frames)
    total = starts[-1] + lengths[-1]
    return Timeline(
        lengths=tuple(lengths),
        transition_frames=transition_frames if len(lengths) > 1 else 0,
        starts=tuple(starts),
        total_frames=total,
    )
