"""Awkward source clips, as cameras and encoders hand them over: streams that start late,
variable frame rates with a short last frame, sound loud enough to defeat a linear gain.

Each keeps the fixtures' contract: a white flash and a beep at the same instant *as a player
presents the file*, so a cut in sync shows them within a frame of each other.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from kling_pipe.media.ffmpeg import run_ffmpeg
from tests.media.stitching.conftest import MarkedClip

FPS = 30


def _flash_video(out: Path, *, seconds: float, flash_frame: int, size: str = "320x180") -> None:
    box = f"drawbox=c=white:t=fill:enable='between(n,{flash_frame},{flash_frame + 1})'"
    run_ffmpeg(
        ["-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}:d={seconds}",
         "-vf", box, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10",
         "-pix_fmt", "yuv420p", out]
    )  # fmt: skip


def _beep_audio(out: Path, *, seconds: float, beep: float, codec: str, tone: int) -> None:
    mute = f"volume=volume=0:enable='not(between(t,{beep},{beep + 0.15}))'"
    run_ffmpeg(
        ["-y", "-v", "error", "-f", "lavfi", "-i", f"sine=f={tone}:r=48000:d={seconds}",
         "-af", mute, "-c:a", codec, "-ac", "2", out]
    )  # fmt: skip


def render_late_stream_clip(
    out: Path, *, late: str, offset: float = 0.2, mark: float = 0.5, tone: int = 900
) -> MarkedClip:
    """A one-second clip whose `late` stream ("audio" or "video") starts `offset` s after the
    other; flash and beep coincide at `mark` s as a player presents it. MP4 gets AAC, MOV PCM."""
    folder = out.parent
    pcm = out.suffix == ".mov"
    video_shift = offset if late == "video" else 0.0
    audio_shift = offset if late == "audio" else 0.0
    video = folder / f"{out.stem}-v.mp4"
    audio = folder / f"{out.stem}-a.{'wav' if pcm else 'm4a'}"
    _flash_video(video, seconds=1.0, flash_frame=round((mark - video_shift) * FPS))
    _beep_audio(
        audio,
        seconds=1.0,
        beep=mark - audio_shift,
        codec="pcm_s16le" if pcm else "aac",
        tone=tone,
    )
    run_ffmpeg(
        ["-y", "-v", "error", "-itsoffset", str(video_shift), "-i", video,
         "-itsoffset", str(audio_shift), "-i", audio,
         "-map", "0:v", "-map", "1:a", "-c", "copy", out]
    )  # fmt: skip
    return MarkedClip(out, Fraction(FPS), 1.0 + offset, mark, True)


def render_short_last_frame_clip(out: Path, *, mark: float = 0.5, tone: int = 700) -> MarkedClip:
    """A variable-frame-rate clip (frames alternately 4 ms late) of 30 frames whose last frame
    lasts 1/120 s, as a camera stopped mid-frame writes it; flash and beep at `mark`, and the
    last frame is white too (a third flash), so losing it shows."""
    flash = round(mark * FPS)
    boxes = (
        f"drawbox=c=white:t=fill:enable='between(n,{flash},{flash + 1})+eq(n,29)',"
        "settb=1/90000,setpts='(N/30+if(eq(mod(N,2),1),0.004,0))/TB'"
    )
    audio = out.with_name(f"{out.stem}-a.m4a")
    _beep_audio(audio, seconds=0.975, beep=flash / FPS, codec="aac", tone=tone)
    run_ffmpeg(
        ["-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=320x180:r={FPS}:d=1",
         "-i", audio, "-map", "0:v", "-map", "1:a", "-c:a", "copy",
         "-vf", boxes, "-fps_mode", "vfr", "-enc_time_base", "1/90000",
         "-video_track_timescale", "90000",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p", out]
    )  # fmt: skip
    _shorten_last_video_sample(out, to=750)  # 1/120 s at 90 kHz
    return MarkedClip(out, Fraction(FPS), 0.975, flash / FPS, True)


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind.decode("latin1"), pos, size
        pos += size


def _find(data: bytes | bytearray, path: list[str], start: int, end: int) -> Iterator[int]:
    head, *rest = path
    for kind, pos, size in _boxes(data, start, end):
        if kind == head:
            if rest:
                yield from _find(data, rest, pos + 8, pos + size)
            else:
                yield pos


def _shorten_last_video_sample(path: Path, *, to: int) -> None:
    """Rewrite the video track's last `stts` duration to `to` ticks, and the track's and the
    movie's durations with it (the file ffmpeg wrote keeps every last frame a whole frame)."""
    data = bytearray(path.read_bytes())
    (moov,) = _find(data, ["moov"], 0, len(data))
    moov_end = moov + struct.unpack(">I", data[moov : moov + 4])[0]
    (mvhd,) = _find(data, ["mvhd"], moov + 8, moov_end)
    movie_scale = struct.unpack(">I", data[mvhd + 20 : mvhd + 24])[0]
    track_durations = []
    for trak in _find(data, ["trak"], moov + 8, moov_end):
        trak_end = trak + struct.unpack(">I", data[trak : trak + 4])[0]
        (tkhd,) = _find(data, ["tkhd"], trak + 8, trak_end)
        (hdlr,) = _find(data, ["mdia", "hdlr"], trak + 8, trak_end)
        if data[hdlr + 16 : hdlr + 20] == b"vide":
            (stts,) = _find(data, ["mdia", "minf", "stbl", "stts"], trak + 8, trak_end)
            (mdhd,) = _find(data, ["mdia", "mdhd"], trak + 8, trak_end)
            entries = struct.unpack(">I", data[stts + 12 : stts + 16])[0]
            last = stts + 16 + 8 * (entries - 1)
            count, delta = struct.unpack(">II", data[last : last + 8])
            assert count == 1 and data[mdhd + 8] == 0, "fixture expects a lone last entry, v0"
            struct.pack_into(">I", data, last + 4, to)
            scale, duration = struct.unpack(">II", data[mdhd + 20 : mdhd + 28])
            duration -= delta - to
            struct.pack_into(">I", data, mdhd + 24, duration)
            movie = round(duration * movie_scale / scale)
            struct.pack_into(">I", data, tkhd + 28, movie)
            for elst in _find(data, ["edts", "elst"], trak + 8, trak_end):
                struct.pack_into(">I", data, elst + 16, movie)
        track_durations.append(struct.unpack(">I", data[tkhd + 28 : tkhd + 32])[0])
    struct.pack_into(">I", data, mvhd + 24, max(track_durations))
    path.write_bytes(bytes(data))


def render_loud_clip(out: Path, *, seconds: float = 3.0) -> Path:
    """A loud, peaky clip: full-scale clicks over a quiet tone. Raising it to a loud target
    with one gain would break the true-peak ceiling, so loudnorm falls back to dynamic mode."""
    sound = f"aevalsrc='0.2*sin(2*PI*440*t)+if(lt(mod(t,0.25),0.004),0.7,0)':s=48000:d={seconds}"
    run_ffmpeg(
        ["-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=s=320x180:r={FPS}:d={seconds}",
         "-f", "lavfi", "-i", sound, "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-ac", "2", out]
    )  # fmt: skip
    return out
