"""What a media file holds, read with ffmpeg alone (the static ffmpeg we ship has no ffprobe).

Two sources, both through `run_ffmpeg`:

- the header, as `ffmpeg -i FILE` prints it (~15 ms): size, SAR, rotation, frame rate, audio;
- the packet list, as `ffmpeg -c copy -f framecrc` prints it (~20 ms, no decoding): the only
  ffmpeg-only way to see a truncated download or audio that ends early, since the header still
  states the full duration.

The parsers are pure functions of ffmpeg's text so they can be tested without running it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from kling_pipe.errors import MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg

_CHANNELS_BY_LAYOUT = {
    "mono": 1,
    "stereo": 2,
    "2.1": 3,
    "3.0": 3,
    "3.0(back)": 3,
    "4.0": 4,
    "quad": 4,
    "quad(side)": 4,
    "3.1": 4,
    "5.0": 5,
    "5.0(side)": 5,
    "4.1": 5,
    "5.1": 6,
    "5.1(side)": 6,
    "6.0": 6,
    "6.0(front)": 6,
    "hexagonal": 6,
    "6.1": 7,
    "6.1(back)": 7,
    "6.1(front)": 7,
    "7.0": 7,
    "7.0(front)": 7,
    "7.1": 8,
    "7.1(wide)": 8,
    "7.1(wide-side)": 8,
    "octagonal": 8,
    "downmix": 2,
}

_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (?P<kind>\w+): (?P<rest>.*)$")
_DURATION = re.compile(r"^\s*Duration: (?:(?P<h>\d+):(?P<m>\d+):(?P<s>[\d.]+)|N/A)")
_SIZE = re.compile(r"^(?P<w>\d+)x(?P<h>\d+)(?:\s|$)")
_SAR = re.compile(r"\[SAR (?P<n>\d+):(?P<d>\d+) DAR")
_RATE = re.compile(r"^(?P<value>[\d.]+)(?P<k>k?) (?P<unit>fps|tbr)$")
_HZ = re.compile(r"^(?P<rate>\d+) Hz$")
_CHANNELS = re.compile(r"^(?P<n>\d+) channels")
_DISPLAY_MATRIX = re.compile(
    r"(?:Display Matrix|displaymatrix): rotation of (?P<deg>-?[\d.]+) degrees", re.IGNORECASE
)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*: (?P<deg>-?\d+)\s*$")
_LOG_PREFIX = re.compile(r"^\[[^\]]*\] ")
_INPUT_ERROR = re.compile(r"^(?:\[[^\]]*\] )?(?P<reason>.*(?:Invalid data|No such file|denied).*)$")


@dataclass(frozen=True)
class VideoStream:
    """The first video stream of a file, as its header describes it."""

    width: int
    height: int
    sar: Fraction
    """Sample (pixel) aspect ratio; 1 when the file states none."""
    fps: Fraction
    codec: str
    pix_fmt: str
    rotation: int
    """Degrees counter-clockwise from the display matrix (0, 90, 180 or 270); 0 if none."""

    @property
    def display_width(self) -> int:
        """Width a player shows, after the pixel aspect ratio and rotation are applied."""
        return self._display_size()[0]

    @property
    def display_height(self) -> int:
        """Height a player shows, after the pixel aspect ratio and rotation are applied."""
        return self._display_size()[1]

    def _display_size(self) -> tuple[int, int]:
        width = round(self.width * self.sar)
        if self.rotation % 180 == 90:
            return self.height, width
        return width, self.height


@dataclass(frozen=True)
class AudioStream:
    """The first audio stream of a file."""

    sample_rate: int
    channels: int
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    """A media file's header: container duration and its first video and audio streams."""

    path: Path
    duration: float
    """Container duration in seconds; 0.0 when the container states none (a still image)."""
    video: VideoStream | None
    audio: AudioStream | None
    streams: tuple[str, ...] = field(default=())
    """The kind of every stream in file order ("video", "audio", "subtitle", "data"...)."""


@dataclass(frozen=True)
class StreamTiming:
    """Where a stream's packets really are: count, first pts and end (last pts + duration)."""

    packets: int
    start: float
    end: float
    last: float = field(default=0.0, compare=False)
    """The latest packet's pts: where the last frame a player shows starts."""

    @property
    def duration(self) -> float:
        """Seconds from the first packet's start to the last packet's end."""
        return self.end - self.start


def probe(path: Path) -> MediaInfo:
    """Read a media file's header; MediaError if ffmpeg cannot open it as media."""
    completed = run_ffmpeg(["-i", path], check=False)
    return parse_probe_output(completed.stderr.decode("utf-8", "replace"), path)


def parse_probe_output(text: str, path: Path) -> MediaInfo:
    """Parse the stderr of `ffmpeg -hide_banner -i FILE` for input #0 into a MediaInfo."""
    lines = text.splitlines()
    if not any(line.startswith("Input #0") for line in lines):
        raise MediaError(f"{path}: not a media file ffmpeg can read ({_input_error(lines)})")
    duration = 0.0
    kinds: list[str] = []
    video: VideoStream | None = None
    audio: AudioStream | None = None
    for start, line in enumerate(lines):
        if line.startswith("Input #") and not line.startswith("Input #0"):
            break
        match = _DURATION.match(line)
        if match and match["h"] is not None:
            duration = int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
            continue
        stream = _STREAM.match(line)
        if stream is None:
            continue
        kind = stream["kind"].lower()
        kinds.append(kind)
        if kind == "video" and video is None and "(attached pic)" not in line:
            video = _parse_video(stream["rest"], _stream_details(lines, start + 1), path)
        elif kind == "audio" and audio is None:
            audio = _parse_audio(stream["rest"], path)
    return MediaInfo(path=path, duration=duration, video=video, audio=audio, streams=tuple(kinds))


def _input_error(lines: list[str]) -> str:
    for line in lines:
        match = _INPUT_ERROR.match(line.strip())
        if match:
            return match["reason"].strip()
    return lines[-1].strip() if lines else "ffmpeg printed nothing"


def _stream_details(lines: list[str], first: int) -> list[str]:
    """The indented lines (metadata, side data) under a stream line."""
    details = []
    for line in lines[first:]:
        if _STREAM.match(line) or len(line) - len(line.lstrip(" ")) <= 2:
            break
        details.append(line)
    return details


def _split_fields(rest: str) -> list[str]:
    """Split a stream description on the commas that are not inside parentheses/brackets."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in rest:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def _parse_video(rest: str, details: list[str], path: Path) -> VideoStream:
    fields = _split_fields(rest)
    codec = fields[0].split()[0]
    pix_fmt = fields[1].split("(")[0].strip() if len(fields) > 1 else ""
    width = height = 0
    sar = Fraction(1)
    rates: dict[str, Fraction] = {}
    for item in fields[1:]:
        size = _SIZE.match(item)
        if size and not width:
            width, height = int(size["w"]), int(size["h"])
            sar_match = _SAR.search(item)
            if sar_match and int(sar_match["n"]) and int(sar_match["d"]):
                sar = Fraction(int(sar_match["n"]), int(sar_match["d"]))
        rate = _RATE.match(item.replace(" (default)", ""))
        if rate:
            value = float(rate["value"]) * (1000 if rate["k"] else 1)
            rates.setdefault(rate["unit"], frame_rate_from_text(value))
    if not width:
        raise MediaError(f"{path}: ffmpeg reports a video stream without a frame size")
    fps = rates.get("fps") or rates.get("tbr") or Fraction(0)
    return VideoStream(
        width=width,
        height=height,
        sar=sar,
        fps=fps,
        codec=codec,
        pix_fmt=pix_fmt,
        rotation=_rotation(details),
    )


def frame_rate_from_text(value: float) -> Fraction:
    """The exact frame rate behind ffmpeg's rounded print (29.97 → 30000/1001)."""
    whole = round(value)
    if abs(value - whole) < 1e-9:
        return Fraction(whole)
    ntsc = Fraction(round(value * 1.001) * 1000, 1001)
    if abs(float(ntsc) - value) < 0.006:
        return ntsc
    return Fraction(value).limit_denominator(1001)


def _rotation(details: list[str]) -> int:
    for line in details:
        matrix = _DISPLAY_MATRIX.search(line)
        if matrix:
            return round(float(matrix["deg"])) % 360
        tag = _ROTATE_TAG.match(line)
        if tag:
            # The legacy `rotate` tag counts clockwise; the display matrix counter-clockwise.
            return -int(tag["deg"]) % 360
    return 0


def _parse_audio(rest: str, path: Path) -> AudioStream:
    fields = _split_fields(rest)
    codec = fields[0].split()[0]
    sample_rate = 0
    channels = 0
    for item in fields[1:]:
        hz = _HZ.match(item)
        if hz:
            sample_rate = int(hz["rate"])
        elif item in _CHANNELS_BY_LAYOUT:
            channels = _CHANNELS_BY_LAYOUT[item]
        elif _CHANNELS.match(item):
            channels = int(item.split()[0])
    if not sample_rate:
        raise MediaError(f"{path}: ffmpeg reports an audio stream without a sample rate")
    return AudioStream(sample_rate=sample_rate, channels=channels, codec=codec)


def scan_packets(path: Path) -> dict[str, StreamTiming]:
    """Timing of the first video and audio streams from their packets ("video"/"audio" keys).

    Reads every packet's timestamps without decoding. Raises MediaError when ffmpeg cannot
    read the file or reports damage (a truncated download reads as "partial file").
    """
    timings, problems = _scan(path)
    if problems:
        raise MediaError(f"{path}: damaged or truncated: {problems[0]}")
    return timings


def _scan(path: Path) -> tuple[dict[str, StreamTiming], list[str]]:
    completed = run_ffmpeg(
        ["-v", "error", "-i", path, "-map", "0", "-c", "copy", "-f", "framecrc", "-"],
        check=False,
    )
    errors = [
        _LOG_PREFIX.sub("", line).strip()
        for line in completed.stderr.decode("utf-8", "replace").splitlines()
        if line.strip()
    ]
    if completed.returncode != 0 and not completed.stdout:
        raise MediaError(f"{path}: not a media file ffmpeg can read ({_input_error(errors)})")
    return parse_framecrc(completed.stdout.decode("utf-8", "replace")), errors


def parse_framecrc(text: str) -> dict[str, StreamTiming]:
    """Per-kind timing of the first video and first audio stream in ffmpeg framecrc output."""
    timebase: dict[int, Fraction] = {}
    kind_of: dict[int, str] = {}
    packets: dict[int, int] = {}
    start: dict[int, int] = {}
    last: dict[int, int] = {}
    end: dict[int, int] = {}
    for line in text.splitlines():
        if line.startswith("#tb "):
            label, value = line[4:].split(":", 1)
            num, den = value.strip().split("/")
            timebase[int(label)] = Fraction(int(num), int(den))
        elif line.startswith("#media_type "):
            label, value = line[12:].split(":", 1)
            kind_of[int(label)] = value.strip()
        elif line and not line.startswith("#"):
            columns = line.split(",")
            index, pts, duration = int(columns[0]), int(columns[2]), int(columns[3])
            packets[index] = packets.get(index, 0) + 1
            start[index] = min(start.get(index, pts), pts)
            last[index] = max(last.get(index, pts), pts)
            end[index] = max(end.get(index, pts + duration), pts + duration)
    result: dict[str, StreamTiming] = {}
    for index in sorted(packets):
        kind = kind_of.get(index, "")
        if kind in ("video", "audio") and kind not in result:
            tb = timebase.get(index, Fraction(1))
            result[kind] = StreamTiming(
                packets=packets[index],
                start=float(start[index] * tb),
                end=float(end[index] * tb),
                last=float(last[index] * tb),
            )
    return result


def verify_video(
    path: Path,
    *,
    duration: float,
    width: int | None = None,
    height: int | None = None,
    audio: bool | None = None,
    tolerance_frames: float = 1.0,
) -> MediaInfo:
    """Check that `path` is a whole video of `duration` seconds; MediaError says what is wrong.

    Checks the stream layout (one video stream, and one audio stream or none as `audio` asks;
    None accepts either), the display size when given, and from the packets themselves that
    the video holds duration×fps frames within `tolerance_frames` and that audio ends within
    that tolerance of the video. The packet scan is what catches a truncated download: its
    header still states the full duration.
    """
    info = probe(path)
    video = info.video
    if video is None:
        raise MediaError(f"{path}: has no video stream (streams: {_kinds(info)})")
    problems = check_layout(info, width=width, height=height, audio=audio)
    if problems:
        raise MediaError(f"{path}: " + "; ".join(problems))
    timings, errors = _scan(path)
    problems = check_timing(
        timings,
        fps=video.fps,
        duration=duration,
        tolerance_frames=tolerance_frames,
        has_audio=info.audio is not None,
    )
    if errors:
        problems.insert(0, f"ffmpeg reports damage ({errors[0]})")
    if problems:
        raise MediaError(f"{path}: " + "; ".join(problems))
    return info


def _kinds(info: MediaInfo) -> str:
    return ", ".join(info.streams) or "none"


def check_layout(
    info: MediaInfo,
    *,
    width: int | None = None,
    height: int | None = None,
    audio: bool | None = None,
) -> list[str]:
    """Plain-English reasons `info`'s streams and size differ from what was asked (none: fine)."""
    problems: list[str] = []
    counts = {kind: info.streams.count(kind) for kind in set(info.streams)}
    if counts.get("video", 0) != 1:
        problems.append(f"expected exactly one video stream, found {_kinds(info)}")
    if audio is True and counts.get("audio", 0) != 1:
        problems.append(f"expected one audio stream, found {_kinds(info)}")
    if audio is False and counts.get("audio", 0):
        problems.append(f"expected no audio, found {_kinds(info)}")
    others = sorted(set(info.streams) - {"video", "audio"})
    if others:
        problems.append(f"unexpected {', '.join(others)} stream(s)")
    if info.video is not None:
        shown = (info.video.display_width, info.video.display_height)
        if (width is not None and shown[0] != width) or (height is not None and shown[1] != height):
            wanted = f"{width or '*'}x{height or '*'}"
            problems.append(f"frame size is {shown[0]}x{shown[1]}, expected {wanted}")
    return problems


def check_timing(
    timings: dict[str, StreamTiming],
    *,
    fps: Fraction,
    duration: float,
    tolerance_frames: float = 1.0,
    has_audio: bool = False,
) -> list[str]:
    """Plain-English reasons the packet timings do not make a `duration`-second clip."""
    video = timings.get("video")
    if video is None or video.packets == 0:
        return ["the video stream holds no frames"]
    problems: list[str] = []
    frame = 1 / float(fps) if fps else 0.0
    expected = duration * float(fps)
    if abs(video.packets - expected) > tolerance_frames:
        problems.append(
            f"video has {video.packets} frames ({video.packets * frame:.3f} s at {fps} fps), "
            f"expected {expected:g} ({duration:g} s): truncated or the wrong length"
        )
    if has_audio:
        sound = timings.get("audio")
        if sound is None or sound.packets == 0:
            problems.append("the audio stream holds no samples")
        elif abs(sound.end - video.end) > tolerance_frames * frame:
            problems.append(
                f"audio ends at {sound.end:.3f} s but video at {video.end:.3f} s "
                f"(more than {tolerance_frames:g} frame(s) apart)"
            )
    return problems


IMAGE_SUFFIXES = {"png": ".png", "mjpeg": ".jpg", "webp": ".webp"}
"""The still formats an image model's output may be (ffmpeg's codec name → file suffix)."""


STILL_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
"""The file suffix of each still type an image model's output may be."""


def image_suffix(path: Path) -> str | None:
    """The suffix a still's bytes call for (`.png`, `.jpg`, `.webp`), read from its magic
    number (`content_type`); None when it is none of those."""
    return STILL_SUFFIXES.get(content_type(path))


def verify_image(path: Path, *, aspect_ratio: str | None = None) -> MediaInfo:
    """Check that `path` is a whole still (PNG, JPEG or WebP) that decodes, of the aspect
    ratio `W:H` when given; MediaError says what is wrong."""
    info = probe(path)
    video = info.video
    if video is None or info.audio is not None or video.codec not in IMAGE_SUFFIXES:
        found = f"{video.codec} " if video is not None else ""
        raise MediaError(
            f"{path}: expected a PNG, JPEG or WebP image, found {found}({_kinds(info)})"
        )
    decoded = run_ffmpeg(
        ["-v", "error", "-i", path, "-frames:v", "1", "-f", "null", "-"], check=False
    )
    errors = decoded.stderr.decode("utf-8", "replace").strip()
    if decoded.returncode != 0 or errors:
        raise MediaError(
            f"{path}: the image does not decode ({(errors or 'ffmpeg failed').splitlines()[0]})"
        )
    if not video.width or not video.height:
        raise MediaError(f"{path}: the image has no size")
    if aspect_ratio is not None:
        w, h = (int(x) for x in aspect_ratio.split(":"))
        actual = video.display_width / video.display_height
        if abs(actual - w / h) > 0.02 * (w / h):
            raise MediaError(
                f"{path}: image is {video.display_width}x{video.display_height}, not {aspect_ratio}"
            )
    return info


def content_type(path: Path) -> str:
    """The media type of a stored output, from its first bytes (a bucket serves it with this
    type, so that a browser plays it): an MP4/QuickTime video, or a PNG, JPEG or WebP still."""
    with path.open("rb") as file:
        head = file.read(16)
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"
