"""The pieces of a spliced cut, made with ffmpeg: intermediates split by copying, blends encoded.

See `splice` for what the pieces are. Blends are cached by what they show (`blend_name`); the
split bodies cost a copy and live only as long as the cut's join. Every piece is video only
(the cut's sound is encoded whole from the intermediates' PCM) and is H.264 with the
intermediates' encoder settings at the house frame rate, so that all of them share one codec
configuration and the concat demuxer can join them with `-c:v copy`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import ffmpeg

from kling_pipe.canonical import canonical_hash
from kling_pipe.errors import MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.house import HouseFormat
from kling_pipe.media.normalise import FORMAT_VERSION, VIDEO_ENCODING

BLEND_VERSION = 1
"""Bump when the way a blend is drawn or encoded changes, so cached blends are not reused."""


def split_videos(
    splits: Sequence[tuple[Path, Sequence[int]]], folder: Path, stems: Sequence[str]
) -> list[list[Path]]:
    """Each intermediate's picture cut at its keyframes into `len(keyframes) + 1` files named
    `<stem>-NNN.mov` in `folder`, copied, all in one ffmpeg run (a process per intermediate
    cost more than the copying).

    The segment muxer starts a new file at the first keyframe at or after each frame number
    (counted in decode order); the intermediate has closed GOPs starting exactly there, where
    decode and display order agree, so each file holds exactly the frames between two splits.
    """
    args: list[str | Path] = ["-y", "-v", "error"]
    for intermediate, _ in splits:
        args += ["-i", intermediate]
    for index, ((_, keyframes), stem) in enumerate(zip(splits, stems, strict=True)):
        args += ["-map", f"{index}:v", "-c", "copy"]
        if keyframes:
            args += ["-f", "segment", "-segment_format", "mov", "-reset_timestamps", "1"]
            args += ["-segment_frames", ",".join(str(k) for k in keyframes)]
            args.append(folder / f"{stem}-%03d.mov")
        else:
            args += ["-f", "mov", folder / f"{stem}-000.mov"]
    run_ffmpeg(args)
    pieces = []
    for (intermediate, keyframes), stem in zip(splits, stems, strict=True):
        files = [folder / f"{stem}-{index:03d}.mov" for index in range(len(keyframes) + 1)]
        if (
            not all(path.is_file() for path in files)
            or (folder / f"{stem}-{len(files):03d}.mov").exists()
        ):
            raise MediaError(
                f"splitting {intermediate.name} at frames {list(keyframes)} did not give "
                f"{len(files)} pieces; this is a bug in kling-pipe's stitching"
            )
        pieces.append(files)
    return pieces


def blend_args(
    outgoing: Path,
    incoming: Path,
    tail_start: int,
    frames: int,
    kind: str,
    house: HouseFormat,
    out: Path,
    threads: int | None = None,
) -> list[str]:
    """ffmpeg arguments encoding xfade of `outgoing`'s frames from `tail_start` with `incoming`'s
    first ones, `frames` long, exactly as the whole-cut xfade chain draws that transition;
    `threads` caps the decoders' and the encoder's threads (None: ffmpeg's choice)."""
    threading: dict[str, int] = {} if threads is None else {"threads": threads}
    # The tail starts on a keyframe. Seeking half a frame past it lands the demuxer on that
    # keyframe whatever the rounding of the timestamps, and without accurate seeking every
    # frame from there is kept: decoding starts at `tail_start`, not at an earlier keyframe.
    seek = house.seconds(tail_start) + 0.5 / float(house.fps)
    # Read no further than the blend needs (one frame spare; trim makes the count exact):
    # decoding the rest of a 1080p intermediate would cost more than the blend itself.
    read = f"{house.seconds(frames + 1):.6f}"
    tail = (
        ffmpeg.input(str(outgoing), ss=f"{seek:.6f}", t=read, noaccurate_seek=None, **threading)
        .video.filter("trim", end_frame=frames)
        .filter("setpts", "PTS-STARTPTS")
    )
    head = (
        ffmpeg.input(str(incoming), t=read, **threading)
        .video.filter("trim", end_frame=frames)
        .filter("setpts", "PTS-STARTPTS")
    )
    video = (
        ffmpeg.filter(
            [tail, head],
            "xfade",
            transition=kind,
            duration=f"{house.seconds(frames):.6f}",
            offset=0,
        )
        # The encoder must see the house rate and time base, as the intermediates' did: they
        # are written into the stream's parameter sets, which the copied pieces share.
        .filter("fps", fps=str(house.fps))
        .filter("format", "yuv420p")
    )
    output = ffmpeg.output(
        video, str(out), an=None, f="mp4", **VIDEO_ENCODING, **threading
    ).global_args("-y")
    return [str(arg) for arg in ffmpeg.compile(output, cmd="ffmpeg")[1:]]


def blend_name(
    outgoing: str, incoming: str, tail_start: int, frames: int, kind: str, house: HouseFormat
) -> str:
    """The cached blend's file name (`xx/<key>.mp4`), from the two intermediates' content keys
    (see `Segment.cache_key`), where and how long the transition is, its kind, the format."""
    key = canonical_hash(
        {
            "version": BLEND_VERSION,
            "intermediates": FORMAT_VERSION,
            "encoding": VIDEO_ENCODING,
            "house": house.key(),
            "outgoing": outgoing,
            "incoming": incoming,
            "tail_start": tail_start,
            "frames": frames,
            "kind": kind,
        }
    )
    return f"{key[:2]}/{key}.mp4"


def encode_blend(
    outgoing: Path,
    incoming: Path,
    tail_start: int,
    frames: int,
    kind: str,
    house: HouseFormat,
    out: Path,
    threads: int | None = None,
    niceness: int = 0,
) -> Path:
    """Encode one blend piece to `out` (see `blend_args`), atomically; `niceness` lowers
    ffmpeg's CPU priority (see `run_ffmpeg`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.partial{out.suffix}")
    try:
        run_ffmpeg(
            blend_args(outgoing, incoming, tail_start, frames, kind, house, partial, threads),
            niceness=niceness,
        )
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
