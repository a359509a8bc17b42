"""The preview renderer: a local animatic standing in for a Kling clip, deterministic per job key.

A preview has what the real clip would have where it matters to the pipeline: the frame shape
for the aspect ratio (or the start image's shape, as Kling does), the exact duration, an audio
track only when audio was asked, with a tone wherever the prompt quotes dialogue, and the prompt
legible on screen over a look derived from the job key, moving slowly the way the prompt's camera
direction says.

A storyboard (`multi_prompt`) cuts between its shots at their durations, exact to the frame,
each shot on its own solid colour with its text. Other stages have their own previews:
`render_lip_sync_preview` (the input clip with the new line on screen and a tone for the voice)
and `render_image_preview` (a still PNG with the prompt); `render_model_preview` picks the one a
model needs.

Kling renders 1080p (1920x1080, 1080x1920, 1080x1080); previews default to a short side of 360
lines (640x360 for 16:9) so that a whole campaign renders in seconds. The work is split in two
pure steps, `plan_preview` (inputs and key to a `PreviewPlan`) and `preview_args` (plan to
ffmpeg arguments), and one IO step, `render_preview`.
"""

from __future__ import annotations

import colorsys
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kling_pipe.canonical import sha256_hex
from kling_pipe.dialogue import extract_dialogue, speaking_seconds
from kling_pipe.errors import InputError, MediaError
from kling_pipe.media.ffmpeg import run_ffmpeg
from kling_pipe.media.probe import probe, scan_packets
from kling_pipe.models.spec import ModelSpec

FPS = 24
"""Preview frame rate, as Kling's: a 5 s clip is exactly 120 frames."""
SAMPLE_RATE = 48000
"""Audio sample rate of previews with sound (stereo AAC)."""
_FONTS = Path(__file__).resolve().parent / "fonts"
FONT_FILE = _FONTS / "DejaVuSans.ttf"
"""The shipped font for prompt text, so it renders the same on any machine."""
CJK_FONT_FILE = _FONTS / "wqy-microhei.ttc"
"""The shipped font for prompts with Chinese, Japanese or Korean (DejaVu has no CJK glyphs)."""

Motion = Literal["static", "push_in", "pull_out", "pan_left", "pan_right", "tilt_up", "tilt_down"]

_CANVAS = 1.25
"""The background is drawn this much larger than the frame so the camera has room to move."""
_ZOOM_TRAVEL = 0.3
"""How much further a push-in or pull-out zooms over the clip, relative to the canvas."""
_MAX_TEXT_LINES = 7
_TONE_LEVEL = 0.25
_ROOM_TONE_LEVEL = 0.004

_CAMERA_MOVES: tuple[tuple[Motion, re.Pattern[str]], ...] = (
    ("push_in", re.compile(r"\b(?:push(?:es|ing)?|zoom(?:s|ing)?|dolly(?:ing)?|moves?)[ -]in\b")),
    (
        "pull_out",
        re.compile(r"\b(?:pull(?:s|ing)?|zoom(?:s|ing)?|dolly(?:ing)?)[ -](?:out|back)\b"),
    ),
    ("pan_left", re.compile(r"\bpan(?:s|ning|ned)?\s+(?:slowly\s+)?(?:to\s+the\s+)?left\b")),
    ("pan_right", re.compile(r"\bpan(?:s|ning|ned)?\s+(?:slowly\s+)?(?:to\s+the\s+)?right\b")),
    ("tilt_up", re.compile(r"\btilt(?:s|ing|ed)?\s+(?:slowly\s+)?up(?:wards?)?\b")),
    ("tilt_down", re.compile(r"\btilt(?:s|ing|ed)?\s+(?:slowly\s+)?down(?:wards?)?\b")),
)


@dataclass(frozen=True)
class ToneSpan:
    """A beep standing in for one quoted line of dialogue."""

    start: float
    end: float
    frequency: float
    line: str


@dataclass(frozen=True)
class Segment:
    """One storyboard shot in a preview: its frames, its text, its solid background."""

    frames: int
    text: str
    """The shot's prompt wrapped to the frame width."""
    colour: str
    """ffmpeg 0xRRGGBB."""


@dataclass(frozen=True)
class PreviewPlan:
    """Everything a preview render needs, decided without touching a file."""

    width: int
    height: int
    fps: int
    frames: int
    colours: tuple[str, str, str]
    """Gradient start, gradient end and grid colour, as ffmpeg 0xRRGGBB."""
    gradient_type: int
    """ffmpeg `gradients` type: 0 linear, 1 radial, 2 circular, 3 spiral, 4 square."""
    grid_cell: int
    motion: Motion
    text: str
    """The prompt wrapped to the frame width, lines joined by newlines."""
    font_size: int
    font_file: Path
    """The shipped font that has glyphs for the prompt's script."""
    label: str
    """The job key's first 8 hex characters, shown small in a corner."""
    audio: bool
    tones: tuple[ToneSpan, ...]
    noise_seed: int
    segments: tuple[Segment, ...] = ()
    """Storyboard shots in order, cut between at their frame counts; empty for one shot."""

    @property
    def duration(self) -> float:
        """Seconds of video (and audio): frames / fps exactly."""
        return self.frames / self.fps

    @property
    def canvas(self) -> tuple[int, int]:
        """Size of the background the camera moves over (even, larger than the frame)."""
        return _even(self.width * _CANVAS), _even(self.height * _CANVAS)


def plan_preview(
    inputs: Mapping[str, Any],
    key: str,
    *,
    height: int = 360,
    image_size: tuple[int, int] | None = None,
) -> PreviewPlan:
    """Plan a preview of a Kling job: `height` is the short side; `image_size` a start image's.

    With a start image the frame takes the image's shape (Kling ignores aspect_ratio then).
    """
    prompt = str(inputs.get("prompt") or "")
    seconds = _duration(inputs.get("duration", 5))
    width, frame_height = frame_size(str(inputs.get("aspect_ratio") or "16:9"), height, image_size)
    digest = bytes.fromhex(sha256_hex(key))
    frames = seconds * FPS
    font_size = max(10, round(min(width, frame_height) / 16))
    columns = max(8, int(width * 0.86 / (font_size * 0.6)))
    lines = wrap_text(prompt, columns, _MAX_TEXT_LINES)
    audio = bool(inputs.get("generate_audio", False))
    board = storyboard_shots(inputs.get("multi_prompt"), seconds)
    segments: tuple[Segment, ...] = ()
    if board:
        colours = segment_colours(digest, len(board))
        segments = tuple(
            Segment(
                frames=shot_seconds * FPS,
                text="\n".join(wrap_text(f"{i + 1}/{len(board)} {text}", columns, _MAX_TEXT_LINES)),
                colour=colour,
            )
            for i, ((text, shot_seconds), colour) in enumerate(zip(board, colours, strict=True))
        )
        spoken = [line for text, _ in board for line in extract_dialogue(text)]
    else:
        spoken = extract_dialogue(prompt)
    return PreviewPlan(
        width=width,
        height=frame_height,
        fps=FPS,
        frames=frames,
        colours=key_colours(digest),
        gradient_type=digest[9] % 5,
        grid_cell=max(8, round(min(width, frame_height) * (0.08 + digest[10] / 255 * 0.12))),
        motion=camera_motion(prompt),
        text="\n".join(lines),
        font_size=font_size,
        font_file=font_for(prompt),
        label=key[:8],
        audio=audio,
        tones=layout_tones(spoken, frames / FPS) if audio else (),
        noise_seed=int.from_bytes(digest[11:15], "big"),
        segments=segments,
    )


def storyboard_shots(value: Any, seconds: int) -> list[tuple[str, int]]:
    """A `multi_prompt` JSON storyboard's (prompt, seconds) shots, or [] when there is none or
    it does not fill the clip's `seconds` (then the preview is one shot, like the prompt)."""
    if not isinstance(value, str) or not value:
        return []
    try:
        board = json.loads(value)
    except json.JSONDecodeError:
        return []
    if not isinstance(board, list):
        return []
    shots: list[tuple[str, int]] = []
    for entry in board:
        if not isinstance(entry, dict):
            return []
        duration = entry.get("duration")
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 1:
            return []
        shots.append((str(entry.get("prompt") or ""), duration))
    return shots if sum(d for _, d in shots) == seconds else []


def segment_colours(digest: bytes, count: int) -> tuple[str, ...]:
    """Solid colours for `count` storyboard shots: hues a golden-ratio turn apart from a start
    the key chooses, so neighbouring shots always differ; dark enough under white text."""
    start = digest[12] / 255
    colours = []
    for index in range(count):
        hue = (start + index * 0.381966) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, 0.7)
        colours.append("0x" + "".join(f"{round(c * 255):02x}" for c in (red, green, blue)))
    return tuple(colours)


def _duration(value: Any) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise InputError(f"duration must be a whole number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise InputError(f"duration must be positive, got {seconds}")
    return seconds


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def frame_size(
    aspect_ratio: str, short_side: int, image_size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """Even frame size with `short_side` lines on the short side, shaped like the image if any."""
    if image_size is not None:
        across, down = image_size
    else:
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", aspect_ratio)
        if not match or not int(match[1]) or not int(match[2]):
            raise InputError(f"aspect_ratio must look like 16:9, got {aspect_ratio!r}")
        across, down = int(match[1]), int(match[2])
    if across <= 0 or down <= 0:
        raise InputError(f"cannot preview a {across}x{down} frame")
    scale = short_side / min(across, down)
    return _even(across * scale), _even(down * scale)


def key_colours(digest: bytes) -> tuple[str, str, str]:
    """Gradient and grid colours from the key's hash: dark enough under white text."""

    def colour(offset: int, ceiling: int) -> str:
        channels = (round(b * ceiling / 255) for b in digest[offset : offset + 3])
        return "0x" + "".join(f"{c:02x}" for c in channels)

    return colour(0, 200), colour(3, 200), colour(6, 255)


def camera_motion(prompt: str) -> Motion:
    """The camera move a prompt names first (push-in, pull-out, pan, tilt), else static."""
    text = prompt.lower()
    found = [(m.start(), motion) for motion, rx in _CAMERA_MOVES if (m := rx.search(text))]
    return min(found)[1] if found else "static"


def _cell_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def _cells(text: str) -> int:
    return sum(_cell_width(c) for c in text)


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Words, and each wide (CJK) character on its own since those scripts use no spaces.

    Each token says whether a space preceded it in the text, so wrapping keeps the spaces.
    """
    tokens: list[tuple[str, bool]] = []
    for word in text.split():
        spaced = True
        current = ""
        for char in word:
            if _cell_width(char) == 2:
                if current:
                    tokens.append((current, spaced))
                    spaced, current = False, ""
                tokens.append((char, spaced))
                spaced = False
            else:
                current += char
        if current:
            tokens.append((current, spaced))
    return tokens


def wrap_text(text: str, columns: int, max_lines: int) -> list[str]:
    """Greedy wrap to `columns` cells (CJK counts double); an ellipsis marks cut text."""
    lines: list[str] = []
    current = ""
    for token, spaced in _tokens(text):
        glue = " " if current and spaced else ""
        if current and _cells(current + glue + token) > columns:
            lines.append(current)
            current, glue = "", ""
        while _cells(token) > columns:  # a token wider than a line: break it by characters
            head = ""
            for char in token:
                if _cells(head + char) > columns:
                    break
                head += char
            lines.append(head)
            token = token[len(head) :]
        current += glue + token
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _cells(last) > columns - 1:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def font_for(text: str) -> Path:
    """DejaVu Sans for most scripts; WenQuanYi Micro Hei when the text has CJK characters."""
    if any(_cell_width(char) == 2 for char in text):
        return CJK_FONT_FILE
    return FONT_FILE


def layout_tones(lines: Sequence[str], duration: float) -> tuple[ToneSpan, ...]:
    """Lay quoted lines out across the clip, each as long as it takes to say, scaled to fit.

    Spans keep their speaking-time proportions; the room left over is shared equally between
    the gaps before, between and after them, so the dialogue spreads over the whole clip.
    """
    if not lines or duration <= 0:
        return ()
    weights = [max(speaking_seconds(line), 0.3) for line in lines]
    min_gap = min(0.25, duration * 0.1 / (len(lines) + 1))
    room = duration - min_gap * (len(lines) + 1)
    scale = min(1.0, room / sum(weights))
    lengths = [w * scale for w in weights]
    gap = (duration - sum(lengths)) / (len(lines) + 1)
    spans: list[ToneSpan] = []
    cursor = gap
    for index, (line, length) in enumerate(zip(lines, lengths, strict=True)):
        start = round(cursor, 3)
        end = round(cursor + length, 3)
        spans.append(ToneSpan(start, end, frequency=(440.0, 554.37, 659.25)[index % 3], line=line))
        cursor += length + gap
    return tuple(spans)


def escape_filter_value(value: str) -> str:
    """Escape a filter option value for ffmpeg's two parsing levels (option, then graph)."""
    for char in "\\':":
        value = value.replace(char, "\\" + char)
    for char in "\\'[],;":
        value = value.replace(char, "\\" + char)
    return value


def _motion_expressions(plan: PreviewPlan) -> tuple[str, str, str]:
    """zoompan's zoom, x and y expressions for the plan's camera move."""
    progress = f"(on/{max(plan.frames - 1, 1)})"
    zoom = f"{_CANVAS}"
    x = "(iw-iw/zoom)/2"
    y = "(ih-ih/zoom)/2"
    if plan.motion == "push_in":
        zoom = f"{_CANVAS}+{_ZOOM_TRAVEL}*{progress}"
    elif plan.motion == "pull_out":
        zoom = f"{_CANVAS + _ZOOM_TRAVEL}-{_ZOOM_TRAVEL}*{progress}"
    elif plan.motion == "pan_right":
        x = f"(iw-iw/zoom)*{progress}"
    elif plan.motion == "pan_left":
        x = f"(iw-iw/zoom)*(1-{progress})"
    elif plan.motion == "tilt_down":
        y = f"(ih-ih/zoom)*{progress}"
    elif plan.motion == "tilt_up":
        y = f"(ih-ih/zoom)*(1-{progress})"
    return zoom, x, y


def _audio_expression(plan: PreviewPlan) -> str:
    terms = [
        f"{_TONE_LEVEL}*sin(2*PI*{t.frequency}*t)*between(t,{t.start},{t.end})" for t in plan.tones
    ]
    return "+".join(terms) or "0"


def _text_layer(plan: PreviewPlan, text_file: Path) -> str:
    font = escape_filter_value(str(plan.font_file))
    return (
        f"drawtext=fontfile={font}:textfile={escape_filter_value(str(text_file))}"
        f":expansion=none:fontsize={plan.font_size}:fontcolor=white"
        f":line_spacing={plan.font_size // 4}:box=1:boxcolor=black@0.5"
        f":boxborderw={plan.font_size // 2}:text_align=center"
        ":x=(w-text_w)/2:y=(h-text_h)/2,"
    )


def _label_layer(plan: PreviewPlan) -> str:
    label_font = escape_filter_value(str(FONT_FILE))
    label_size = max(8, plan.font_size * 2 // 3)
    margin = max(4, plan.height // 40)
    return (
        f"drawtext=fontfile={label_font}:text={plan.label}:expansion=none:fontsize={label_size}"
        f":fontcolor=white@0.8:x=w-text_w-{margin}:y=h-text_h-{margin},"
    )


def _storyboard_video(plan: PreviewPlan, segment_files: Sequence[Path]) -> str:
    """Each shot a solid colour with its text, trimmed to its frames, then joined: the cuts
    fall exactly on the shots' frame boundaries."""
    parts = []
    for index, (segment, text_file) in enumerate(zip(plan.segments, segment_files, strict=True)):
        parts.append(
            f"color=c={segment.colour}:s={plan.width}x{plan.height}:r={plan.fps}"
            f":d={segment.frames / plan.fps},format=yuv420p,setsar=1,"
            f"{_text_layer(plan, text_file) if segment.text else ''}"
            f"trim=end_frame={segment.frames},setpts=N/({plan.fps}*TB)[s{index}]"
        )
    inputs = "".join(f"[s{i}]" for i in range(len(plan.segments)))
    parts.append(
        f"{inputs}concat=n={len(plan.segments)}:v=1:a=0,{_label_layer(plan)}"
        f"format=yuv420p,trim=end_frame={plan.frames},setpts=N/({plan.fps}*TB)[v]"
    )
    return ";".join(parts)


def preview_filtergraph(
    plan: PreviewPlan,
    *,
    text_file: Path,
    start_image: bool,
    segment_files: Sequence[Path] = (),
) -> str:
    """The -filter_complex graph: background, camera move, text, label; tones and room tone.

    A storyboard plan (`plan.segments`, one text file each in `segment_files`) cuts between
    solid-colour shots instead."""
    if plan.segments:
        return _storyboard_video(plan, segment_files) + _audio_graph(plan)
    cw, ch = plan.canvas
    c0, c1, grid = plan.colours
    if start_image:
        background = (
            f"[0:v]scale={cw}:{ch}:force_original_aspect_ratio=increase,crop={cw}:{ch},"
            "setsar=1,format=yuv420p"
        )
    else:
        background = (
            f"gradients=s={cw}x{ch}:r={plan.fps}:c0={c0}:c1={c1}:x0=0:y0=0:x1={cw}:y1={ch}"
            f":type={plan.gradient_type}:speed=0:seed=0,format=yuv420p,"
            f"drawgrid=w={plan.grid_cell}:h={plan.grid_cell}:t=2:c={grid}@0.35"
        )
    zoom, x, y = _motion_expressions(plan)
    prompt_layer = _text_layer(plan, text_file) if plan.text else ""
    video = (
        f"{background},trim=end_frame=1,loop=loop={plan.frames - 1}:size=1:start=0,"
        f"setpts=N/({plan.fps}*TB),"
        f"zoompan=z='{zoom}':x='{x}':y='{y}':d=1:s={plan.width}x{plan.height}:fps={plan.fps},"
        f"setsar=1,"
        f"{prompt_layer}"
        f"{_label_layer(plan)}"
        f"format=yuv420p,trim=end_frame={plan.frames},setpts=N/({plan.fps}*TB)[v]"
    )
    return video + _audio_graph(plan)


def _audio_graph(plan: PreviewPlan) -> str:
    """`;`-joined audio chains ending in [a] (tones over room tone), or "" without audio."""
    if not plan.audio:
        return ""
    samples = round(plan.duration * SAMPLE_RATE)
    audio = (
        f";aevalsrc='{_audio_expression(plan)}':s={SAMPLE_RATE}:d={plan.duration}[tones];"
        f"anoisesrc=r={SAMPLE_RATE}:c=pink:a={_ROOM_TONE_LEVEL}:seed={plan.noise_seed}"
        f":d={plan.duration}[room];"
        "[tones][room]amix=inputs=2:normalize=0:duration=first,"
        f"aformat=sample_fmts=fltp:channel_layouts=stereo,atrim=end_sample={samples},"
        "asetpts=N/SR/TB[a]"
    )
    return audio


def preview_args(
    plan: PreviewPlan,
    out_path: Path,
    *,
    text_file: Path,
    start_image: Path | None = None,
    segment_files: Sequence[Path] = (),
) -> list[str]:
    """ffmpeg arguments rendering `plan` to `out_path`: bit-exact h264/AAC mp4 with faststart."""
    args = ["-y", "-filter_threads", "1", "-filter_complex_threads", "1"]
    if start_image is not None and not plan.segments:
        args += ["-i", str(start_image)]
    graph = preview_filtergraph(
        plan,
        text_file=text_file,
        start_image=start_image is not None,
        segment_files=segment_files,
    )
    args += ["-filter_complex", graph, "-map", "[v]"]
    if plan.audio:
        args += ["-map", "[a]"]
    args += [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-threads", "1", "-g", str(plan.fps * 2), "-frames:v", str(plan.frames),
        "-fps_mode", "passthrough",
    ]  # fmt: skip
    if plan.audio:
        args += ["-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE), "-ac", "2"]
    args += [
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-map_metadata", "-1", "-map_chapters", "-1", "-movflags", "+faststart",
        "-f", "mp4", str(out_path),
    ]  # fmt: skip
    return args


def render_preview(
    inputs: Mapping[str, Any],
    key: str,
    out_path: Path,
    *,
    height: int = 360,
    start_image: Path | None = None,
) -> Path:
    """Render the preview of one job to `out_path` (atomically) and return `out_path`.

    `inputs` are Kling model inputs after defaults; any start_image among them is ignored in
    favour of the `start_image` file. `height` is the short side in lines (Kling's is 1080).
    Same inputs and key give a byte-identical file.
    """
    image_size: tuple[int, int] | None = None
    if start_image is not None:
        picture = probe(start_image).video
        if picture is None:
            raise MediaError(f"{start_image}: start image has no picture in it")
        image_size = (picture.display_width, picture.display_height)
    plan = plan_preview(inputs, key, height=height, image_size=image_size)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kling-preview-") as scratch:
        text_file = Path(scratch) / "prompt.txt"
        text_file.write_text(plan.text or " ", "utf-8")
        segment_files = []
        for index, segment in enumerate(plan.segments):
            segment_file = Path(scratch) / f"shot-{index}.txt"
            segment_file.write_text(segment.text or " ", "utf-8")
            segment_files.append(segment_file)
        args = preview_args(
            plan,
            Path("{out}"),
            text_file=text_file,
            start_image=start_image,
            segment_files=segment_files,
        )
        _render_atomically(args, out_path, ".mp4")
    return out_path


def _render_atomically(args: list[str], out_path: Path, suffix: str) -> None:
    """Run ffmpeg `args` (whose output is the placeholder `{out}`) into a partial file beside
    `out_path`, then move it into place: a reader never sees half a file."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial_name = tempfile.mkstemp(
        prefix=f".{out_path.name}.", suffix=f".partial{suffix}", dir=out_path.parent
    )
    os.close(fd)
    partial = Path(partial_name)
    try:
        run_ffmpeg([str(partial) if arg == "{out}" else arg for arg in args])
        partial.replace(out_path)
    finally:
        partial.unlink(missing_ok=True)


def lip_sync_line(inputs: Mapping[str, Any], audio_file: Path | None) -> str:
    """What a lip-sync preview shows on screen: the line and its voice, or the audio's name."""
    if audio_file is not None:
        return f"♪ {audio_file.name}"
    remote = inputs.get("audio_file")
    if isinstance(remote, str) and remote:
        return f"♪ {remote.rsplit('/', 1)[-1]}"
    text = str(inputs.get("text") or "")
    voice = inputs.get("voice_id")
    speed = inputs.get("voice_speed")
    said_by = f"{voice}" + (f" ×{speed:g}" if isinstance(speed, int | float) else "")
    return f"“{text}” ({said_by})" if voice else f"“{text}”"


def render_lip_sync_preview(
    video: Path,
    inputs: Mapping[str, Any],
    key: str,
    out_path: Path,
    *,
    height: int = 360,
    audio_file: Path | None = None,
) -> Path:
    """Preview a lip-sync: the input `video`, frame for frame, with the new line on screen and
    a tone where the voice will be (the `audio_file` itself when the line comes from one).

    `video` is a local file (an upstream clip, or a file named in the manifest); the output has
    its frame count and frame rate, scaled to `height` lines on the short side.
    """
    info = probe(video)
    picture = info.video
    if picture is None:
        raise MediaError(f"{video}: the video to lip-sync has no picture in it")
    fps = picture.fps if picture.fps > 0 else FPS
    frames = count_frames(video)
    if frames <= 0:
        raise MediaError(f"{video}: the video to lip-sync has no frames")
    duration = float(frames / fps)
    width, frame_height = frame_size(
        "16:9", height, (picture.display_width, picture.display_height)
    )
    font_size = max(10, round(min(width, frame_height) / 16))
    columns = max(8, int(width * 0.86 / (font_size * 0.6)))
    line = lip_sync_line(inputs, audio_file)
    text = "\n".join(wrap_text(line, columns, 3))
    samples = round(duration * SAMPLE_RATE)
    text_font = escape_filter_value(str(font_for(line)))
    with tempfile.TemporaryDirectory(prefix="kling-preview-") as scratch:
        text_file = Path(scratch) / "line.txt"
        text_file.write_text(text or " ", "utf-8")
        video_chain = (
            f"[0:v]scale={width}:{frame_height},setsar=1,"
            f"drawtext=fontfile={text_font}:textfile={escape_filter_value(str(text_file))}"
            f":expansion=none:fontsize={font_size}:fontcolor=yellow:box=1:boxcolor=black@0.6"
            f":boxborderw={font_size // 3}:text_align=center:x=(w-text_w)/2"
            f":y=h-text_h-{max(4, frame_height // 12)},"
            f"drawtext=fontfile={escape_filter_value(str(FONT_FILE))}:text=lip-sync {key[:8]}"
            f":expansion=none:fontsize={max(8, font_size * 2 // 3)}:fontcolor=white@0.8"
            f":x={max(4, frame_height // 40)}:y={max(4, frame_height // 40)},"
            f"format=yuv420p[v]"
        )
        args = ["-y", "-filter_threads", "1", "-filter_complex_threads", "1", "-i", str(video)]
        if audio_file is not None:
            args += ["-i", str(audio_file)]
            audio_chain = (
                "[1:a]aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo,apad,"
                f"atrim=end_sample={samples},asetpts=N/SR/TB[a]"
            )
        else:
            (span,) = layout_tones([str(inputs.get("text") or "…")], duration) or (
                ToneSpan(0.0, duration, 440.0, ""),
            )
            audio_chain = (
                f"aevalsrc='{_TONE_LEVEL}*sin(2*PI*{span.frequency}*t)"
                f"*between(t,{span.start},{span.end})':s={SAMPLE_RATE}:d={duration},"
                f"aformat=sample_fmts=fltp:channel_layouts=stereo,atrim=end_sample={samples},"
                "asetpts=N/SR/TB[a]"
            )
        args += [
            "-filter_complex", f"{video_chain};{audio_chain}", "-map", "[v]", "-map", "[a]",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-threads", "1", "-frames:v", str(frames), "-fps_mode", "passthrough",
            "-c:a", "aac", "-b:a", "128k", "-ar", str(SAMPLE_RATE), "-ac", "2",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
            "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", "{out}",
        ]  # fmt: skip
        _render_atomically(args, out_path, ".mp4")
    return out_path


def count_frames(video: Path) -> int:
    """Frames in a video's first video stream, counted from its packets."""
    timing = scan_packets(video).get("video")
    return timing.packets if timing is not None else 0


def render_image_preview(
    inputs: Mapping[str, Any], key: str, out_path: Path, *, height: int = 360
) -> Path:
    """Preview an image model's output: a still PNG of the job's look with its prompt on it,
    shaped by its `aspect_ratio` when it has one (square otherwise)."""
    ratio = inputs.get("aspect_ratio")
    shape = str(ratio) if isinstance(ratio, str) and re.fullmatch(r"\d+:\d+", ratio) else "1:1"
    plan = plan_preview({**inputs, "aspect_ratio": shape, "duration": 1}, key, height=height)
    c0, c1, grid = plan.colours
    with tempfile.TemporaryDirectory(prefix="kling-preview-") as scratch:
        text_file = Path(scratch) / "prompt.txt"
        text_file.write_text(plan.text or " ", "utf-8")
        prompt_layer = _text_layer(plan, text_file) if plan.text else ""
        graph = (
            f"gradients=s={plan.width}x{plan.height}:c0={c0}:c1={c1}:x0=0:y0=0"
            f":x1={plan.width}:y1={plan.height}:type={plan.gradient_type}:speed=0:seed=0,"
            f"drawgrid=w={plan.grid_cell}:h={plan.grid_cell}:t=2:c={grid}@0.35,"
            f"{prompt_layer}{_label_layer(plan)}format=rgb24[v]"
        )
        args = [
            "-y", "-filter_complex", graph, "-map", "[v]", "-frames:v", "1",
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-f", "image2", "-c:v", "png",
            "{out}",
        ]  # fmt: skip
        _render_atomically(args, out_path, ".png")
    return out_path


def preview_suffix(spec: ModelSpec) -> str:
    """The file a model's preview is: `.png` for an image model, else `.mp4`."""
    return ".png" if spec.output_kind == "image" else ".mp4"


def render_model_preview(
    spec: ModelSpec,
    inputs: Mapping[str, Any],
    key: str,
    out_path: Path,
    *,
    height: int = 360,
    files: Mapping[str, Path] | None = None,
) -> Path:
    """The preview `spec`'s job needs: a still for an image model, the re-voiced input clip for
    a model that re-works a video (lip-sync), else an animatic (a storyboard's cut included).

    `files` are the job's local input files by input name (a start image, the video to
    lip-sync, an audio file)."""
    files = files or {}
    if spec.output_kind == "image":
        return render_image_preview(inputs, key, out_path, height=height)
    video_rule = spec.input_video
    if video_rule is not None:
        video = files.get(video_rule.input)
        if video is None:
            raise InputError(
                f"{spec.ref}: the preview needs {video_rule.input} as a local file "
                "(a clip from an upstream shot, or a file beside the manifest)"
            )
        return render_lip_sync_preview(
            video, inputs, key, out_path, height=height, audio_file=files.get("audio_file")
        )
    return render_preview(
        inputs, key, out_path, height=height, start_image=files.get("start_image")
    )
