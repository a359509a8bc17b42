"""One segment of a cut (a clip or a card) normalised to the house format, as a cached intermediate.

The intermediate is H.264 video of exactly `frames` frames and PCM audio of exactly the samples
that last as long, so joining intermediates with the concat demuxer and `-c:v copy` is exact, and
re-cutting after one clip changed re-encodes only that clip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from kling_pipe.canonical import canonical_hash
from kling_pipe.media.captions import Caption, caption_font, caption_rows, caption_style
from kling_pipe.media.cards import Card, card_video
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.house import HouseFormat

FORMAT_VERSION = 2
"""Bump when the normalisation changes, so cached intermediates are not reused across it."""

VIDEO_ENCODING: dict[str, str | int] = {
    "vcodec": "libx264",
    "preset": "veryfast",
    "crf": 18,
    "pix_fmt": "yuv420p",
}
"""How every cut's picture is encoded (once, in the intermediate, for hard cuts)."""


@dataclass(frozen=True)
class Segment:
    """What to normalise: a clip file or a card, its exact length, the captions to burn in."""

    label: str
    frames: int
    clip: Path | None = None
    clip_hash: str = ""
    has_audio: bool = False
    card: Card | None = None
    burned: tuple[Caption, ...] = ()
    """Captions drawn onto the picture, timed from the segment's own start."""
    keyframes: tuple[int, ...] = ()
    """Frames that must start a closed GOP, so a cut can split the picture there and copy it."""

    def cache_key(self, house: HouseFormat) -> str:
        """Identity of the intermediate's content: source, house format, length, captions,
        encoder. Keyframes are not part of it: intermediates differing only in them show the
        same picture (see `intermediate_name`)."""
        return canonical_hash(
            {
                "version": FORMAT_VERSION,
                "encoding": VIDEO_ENCODING,
                "house": house.key(),
                "frames": self.frames,
                "clip": self.clip_hash if self.clip else None,
                "card": self.card.key() if self.card else None,
                "burned": [[c.text, c.start, c.end] for c in self.burned],
            }
        )

    def intermediate_name(self, house: HouseFormat) -> str:
        """The intermediate's file name: its content key, then the keyframes it was split for."""
        key = self.cache_key(house)
        if not self.keyframes:
            return f"{key}.mov"
        return f"{key}.k{'-'.join(str(k) for k in self.keyframes)}.mov"


def normalise_args(
    segment: Segment, house: HouseFormat, out: Path, threads: int | None = None
) -> list[str]:
    """The ffmpeg arguments that write `segment` to `out` in the house format (pure); `threads`
    caps the decoder's and encoder's threads (None: ffmpeg's choice)."""
    samples = house.samples(segment.frames)
    threading: dict[str, int] = {} if threads is None else {"threads": threads}
    if segment.clip is not None:
        source = ffmpeg.input(str(segment.clip), **threading)
        video = _fit(source.video, house)
        audio = source.audio if segment.has_audio else None
    elif segment.card is not None:
        video = card_video(segment.card, house)
        audio = None
    else:
        raise ValueError(f"segment {segment.label} has neither a clip nor a card")
    video = (
        video.filter("setsar", 1)
        # The streams keep their places on the clip's timeline (ffmpeg starts it at 0 where
        # the earliest stream starts): a picture that starts late is held on its first frame
        # from 0, so it stays in sync with sound that starts earlier. `pass` keeps a last
        # frame shorter than half a house frame, which rounding would drop.
        .filter("fps", fps=str(house.fps), start_time=0, eof_action="pass")
        .filter("format", "yuv420p")
        # A clip a frame short of its nominal length is held on its last frame, never shortened.
        .filter("tpad", stop_mode="clone", stop_duration=house.seconds(segment.frames))
        .filter("trim", end_frame=segment.frames)
        .filter("setpts", "PTS-STARTPTS")
    )
    video = _burn_captions(video, segment.burned, house)
    if audio is None:
        audio = ffmpeg.input(f"anullsrc=r={house.sample_rate}:cl=stereo", f="lavfi").audio
    else:
        audio = (
            # Sound that starts late is preceded by silence from 0 rather than moved to 0.
            audio.filter("aresample", house.sample_rate, first_pts=0)
            .filter("aformat", sample_fmts="fltp", channel_layouts="stereo")
            .filter("apad")
        )
    # Trimming to an exact sample count is what keeps every join in sync: audio a few ms short
    # or long per clip accumulates into visible drift over a cut.
    audio = audio.filter("atrim", end_sample=samples).filter("asetpts", "PTS-STARTPTS")
    output = ffmpeg.output(
        video,
        audio,
        str(out),
        acodec="pcm_s16le",
        f="mov",
        **VIDEO_ENCODING,
        **_gops(segment),
        **threading,
    ).global_args("-y")
    return [str(arg) for arg in ffmpeg.compile(output, cmd="ffmpeg")[1:]]


def _gops(segment: Segment) -> dict[str, str | int]:
    """Encoder options that start a closed GOP (an IDR frame) at each of the segment's keyframes.

    x264 closes its GOPs by default; `forced-idr` makes a forced keyframe an IDR rather than an
    I frame with a recovery point, so no frame after it refers to one before it.
    """
    if not segment.keyframes:
        return {}
    frames = "+".join(f"eq(n,{k})" for k in segment.keyframes)
    return {"force_key_frames": f"expr:{frames}", "forced-idr": 1}


def _fit(video: Any, house: HouseFormat) -> Any:
    """Square the pixels (anamorphic input), then letterbox or crop to the house size."""
    video = video.filter("scale", "trunc(iw*sar/2)*2", "ih").filter("setsar", 1)
    if house.fit == "crop":
        return video.filter(
            "scale", house.width, house.height, force_original_aspect_ratio="increase"
        ).filter("crop", house.width, house.height)
    return video.filter(
        "scale",
        house.width,
        house.height,
        force_original_aspect_ratio="decrease",
    ).filter("pad", house.width, house.height, "(ow-iw)/2", "(oh-ih)/2")


def _burn_captions(video: Any, captions: Sequence[Caption], house: HouseFormat) -> Any:
    style = caption_style(house.width, house.height)
    line_height = round(style.font_size * 1.3)
    for caption in captions:
        rows = caption_rows(caption, style)
        for index, row in enumerate(rows):
            from_bottom = len(rows) - index
            video = video.filter(
                "drawtext",
                fontfile=caption_font(row),
                text=row,
                expansion="none",
                fontsize=style.font_size,
                fontcolor="white",
                borderw=max(1, style.font_size // 12),
                bordercolor="black",
                x="(w-text_w)/2",
                y=house.height - style.bottom_margin - from_bottom * line_height,
                enable=f"between(t,{caption.start},{caption.end})",
            )
    return video


def normalise(
    segment: Segment,
    house: HouseFormat,
    out: Path,
    threads: int | None = None,
    niceness: int = 0,
) -> None:
    """Write `segment`'s intermediate to `out`, atomically (a crash leaves no partial file);
    `niceness` lowers ffmpeg's CPU priority (see `run_ffmpeg`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.partial.mov")
    try:
        run_ffmpeg(normalise_args(segment, house, partial, threads), niceness=niceness)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
