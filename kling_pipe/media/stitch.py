"""Rough cuts: clips (and optional cards) normalised to the house format and joined, frame-exact.

Each segment is normalised once into a cached intermediate (see `normalise`), keyed by its
content and the house format; a cut is then a cheap join of intermediates with the concat
demuxer and the picture copied. For a hard cut the intermediates are joined whole. For
transitions (see `splice`) the intermediates carry closed GOPs where the cut splits them, the
stretches between transitions are copied and only the blends are encoded (cached too); when
transitions overlap inside a short segment the picture is encoded whole as one xfade chain.
New intermediates and blends are encoded up to the number of cores at once, each blend as soon
as its two intermediates exist. The sound is always crossfaded and encoded whole from the
intermediates' PCM, with offsets from the frame counts. Loudness is two-pass loudnorm over the
joined audio, then the encoded file's true peak is read back and corrected if AAC broke the
ceiling. A clip's streams keep their places on its timeline and its length is what a player
shows (see `normalise`). Cuts run in parallel up to the number of cores. A cut whose inputs
(`cut_key`) are those of the cut already at its path, with that file intact, is not made again
(see `cut_cache`). `prepare_cut` makes a clip's share of this work ahead of the cut (a run calls
it as each clip arrives), so that the cut finds its intermediates and blends ready and only
splits, joins and encodes the sound. What ffmpeg reads of a clip (its picture's timing, whether
it has sound) is remembered by the clip's content hash, in the process and in the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import tempfile
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import ffmpeg

from kling_pipe.canonical import canonical_hash, canonical_json, file_sha256
from kling_pipe.durable import write_atomically
from kling_pipe.errors import InputError, MediaError
from kling_pipe.media import cut_cache, loudness
from kling_pipe.media.captions import Caption, layout_captions, srt_text
from kling_pipe.media.cards import Card
from kling_pipe.media.ffmpeg import run_ffmpeg, threads_per_job
from kling_pipe.media.house import (
    XFADE_KINDS,
    HouseFormat,
    Timeline,
    plan_timeline,
    shown_frame_count,
)
from kling_pipe.media.normalise import FORMAT_VERSION, VIDEO_ENCODING, Segment, normalise
from kling_pipe.media.pieces import blend_name, encode_blend, split_videos
from kling_pipe.media.probe import StreamTiming, probe, scan_packets
from kling_pipe.media.splice import Blend, Body, Splice, material_ahead, plan_splice

AUDIO_ENCODING: dict[str, str] = {"acodec": "aac", "audio_bitrate": "192k"}
"""How a cut's sound is encoded (always re-encoded: copied AAC gains ~35 ms per join)."""

CUT_RECIPE_VERSION = 3
"""Bump when the way a cut is joined changes, so cuts made the old way are made again."""


@dataclass(frozen=True)
class Transition:
    """How consecutive segments meet: a hard `cut`, or an xfade kind (`fade`...) lasting seconds."""

    kind: str = "cut"
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind != "cut" and self.kind not in XFADE_KINDS:
            known = ", ".join(["cut", *sorted(XFADE_KINDS)])
            raise InputError(f"transition {self.kind!r}: unknown kind; use one of {known}")
        if self.kind != "cut" and self.seconds <= 0:
            raise InputError(f"transition {self.kind!r} needs a positive number of seconds")


@dataclass(frozen=True)
class CutClip:
    """One shot's clip in a cut: the file, how much of it to use, the dialogue it speaks."""

    path: Path | None
    seconds: float | None = None
    """The take, from the clip's start; None uses the whole clip."""
    dialogue: tuple[str, ...] = ()
    label: str = ""
    """A name for messages and the result's segments (the shot's id); defaults to the file's."""
    slate: Card | None = None
    """Stands in for a clip that does not exist yet (`path` None): a card of its length."""

    def __post_init__(self) -> None:
        if (self.path is None) == (self.slate is None):
            raise InputError(f"clip {self.label!r}: give either a file or a slate, not both")


@dataclass(frozen=True)
class CutRequest:
    """One rough cut to make: its clips in order, format, transition, cards, loudness, captions."""

    clips: tuple[CutClip, ...]
    house: HouseFormat
    out_path: Path
    transition: Transition = Transition()
    title: Card | None = None
    end: Card | None = None
    loudness_lufs: float | None = None
    burn_captions: bool = False


@dataclass(frozen=True)
class CutSegment:
    """Where one segment (a clip or a card) sits in the finished cut."""

    label: str
    kind: str
    """`title`, `clip`, `slate` or `end`."""
    start_frame: int
    frames: int
    start: float
    end: float


@dataclass(frozen=True)
class CutResult:
    """A finished rough cut: the video, its SRT, its exact length and where everything sits."""

    path: Path
    srt_path: Path
    frames: int
    seconds: float
    segments: tuple[CutSegment, ...]
    captions: tuple[Caption, ...]
    reused_intermediates: int
    """Segments whose normalised intermediate came from the cache rather than ffmpeg."""
    loudness: loudness.LoudnessReport | None
    reused: bool = False
    """The cut at `path` already was this cut (same inputs, file intact): nothing was made."""


@dataclass(frozen=True)
class _CutPlan:
    request: CutRequest
    segments: tuple[Segment, ...]
    kinds: tuple[str, ...]
    timeline: Timeline
    captions: tuple[Caption, ...]
    splice: Splice | None
    """How the picture is put together from copied and encoded pieces; None: encoded whole
    (a hard cut copies the intermediates whole)."""


def stitch_cut(request: CutRequest, cache_dir: Path, workers: int | None = None) -> CutResult:
    """Make one rough cut; intermediates are read from and added to `cache_dir`."""
    return stitch_cuts([request], cache_dir, workers)[0]


def stitch_cuts(
    requests: Sequence[CutRequest],
    cache_dir: Path,
    workers: int | None = None,
    on_cut: Callable[[CutResult], None] | None = None,
) -> list[CutResult]:
    """Make several rough cuts, normalising each distinct segment once, in parallel.

    Up to `workers` ffmpeg processes run at once (default: the number of cores). Results come
    back in the order of `requests`; `on_cut` hears of each as it is finished, in that order.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each clip file is read once: its hash serves every cut's key and plan.
        files = sorted({c.path for r in requests for c in r.clips if c.path and c.path.is_file()})
        hashes = dict(zip(files, pool.map(file_sha256, files), strict=True))
        keys = [cut_key(request, hashes) for request in requests]
        kept = {
            index: result
            for index, result in enumerate(pool.map(_reuse, requests, keys, repeat(cache_dir)))
            if result is not None
        }
        to_make = [index for index in range(len(requests)) if index not in kept]
        plans = list(
            pool.map(
                _plan_cut, [requests[index] for index in to_make], repeat(cache_dir), repeat(hashes)
            )
        )
        inputs, needed = _intermediates(plans, cache_dir)
        reused = [sum(1 for path in paths if path not in needed) for paths in inputs]
        _encode_new(needed, plans, inputs, cache_dir, workers)
        results = []
        joins = pool.map(
            lambda made: _join(made[0], made[1], cache_dir, made[2], made[3]),
            zip(plans, inputs, reused, [keys[index] for index in to_make], strict=True),
        )
        for index in range(len(requests)):
            result = kept[index] if index in kept else next(joins)
            if on_cut is not None:
                on_cut(result)
            results.append(result)
        return results


@dataclass(frozen=True)
class Prepared:
    """What `prepare_cut` encoded (zero of each when everything was made already)."""

    intermediates: int
    blends: int


def prepare_cut(
    request: CutRequest,
    cache_dir: Path,
    arrived: Collection[Path],
    *,
    threads: int | None = None,
    niceness: int = 0,
) -> Prepared:
    """Encode ahead what `stitch_cut(request, cache_dir)` will need for the clips `arrived`
    (files of the request's clips, by content) and for its cards: their intermediates, with
    keyframes where this cut splits them, and the blends between them and each neighbour whose
    intermediate exists already. A run calls this as each clip arrives, so that the cut the user
    waits for finds its material ready. Clips not generated yet may be slates in `request`:
    nothing is made of a slate. One ffmpeg runs at a time, with `threads` and `niceness` (see
    `run_ffmpeg`). Never needed for correctness: `stitch_cut` makes any of these files that is
    missing, and uses those that exist (with one thread, as a cold stitch's encoders use when
    they fill the cores, they are byte for byte what it would have made).
    """
    plan = _plan_cut(request, cache_dir)
    wanted = {file_sha256(path) for path in arrived if path.is_file()}
    focus = [
        index
        for index, (segment, kind) in enumerate(zip(plan.segments, plan.kinds, strict=True))
        if kind in ("title", "end") or (kind == "clip" and segment.clip_hash in wanted)
    ]
    if not any(plan.kinds[index] == "clip" for index in focus):
        return Prepared(0, 0)
    inputs, needed = _intermediates([plan], cache_dir)
    paths = inputs[0]
    available = [
        index for index, kind in enumerate(plan.kinds) if kind != "slate" and paths[index].is_file()
    ]
    segments, blends = material_ahead(plan.splice, focus, available)
    house = request.house
    made = 0
    for index in segments:
        path = paths[index]
        if path in needed and not path.is_file():
            normalise(plan.segments[index], house, path, threads, niceness)
            made += 1
    pieces = (
        [piece for piece in plan.splice.pieces if isinstance(piece, Blend)] if plan.splice else []
    )
    jobs = dict(zip(pieces, _blend_jobs(plan, paths, cache_dir), strict=True))
    blended = 0
    for piece in blends:
        out, job = jobs[piece]
        if out.is_file():
            continue
        job.encode(out, threads, niceness)
        blended += 1
    return Prepared(made, blended)


@dataclass(frozen=True)
class _BlendJob:
    """One transition piece to encode: from which intermediates, where, how."""

    outgoing: Path
    incoming: Path
    tail_start: int
    frames: int
    kind: str
    house: HouseFormat

    def encode(self, out: Path, threads: int | None = None, niceness: int = 0) -> Path:
        """Encode this blend to `out` (see `pieces.encode_blend`)."""
        return encode_blend(
            self.outgoing,
            self.incoming,
            self.tail_start,
            self.frames,
            self.kind,
            self.house,
            out,
            threads,
            niceness,
        )


def _blend_jobs(
    plan: _CutPlan, inputs: Sequence[Path], cache_dir: Path
) -> list[tuple[Path, _BlendJob]]:
    """The blends a spliced cut's picture needs, in order, each with its cached file (see
    `blend_name`); the same transition twice in a cut is the same file."""
    if plan.splice is None:
        return []
    house = plan.request.house
    kind = plan.request.transition.kind
    jobs: list[tuple[Path, _BlendJob]] = []
    for piece in plan.splice.pieces:
        if isinstance(piece, Blend):
            outgoing, incoming = plan.segments[piece.segment], plan.segments[piece.segment + 1]
            name = blend_name(
                outgoing.cache_key(house),
                incoming.cache_key(house),
                piece.tail_start,
                piece.frames,
                kind,
                house,
            )
            job = _BlendJob(
                inputs[piece.segment],
                inputs[piece.segment + 1],
                piece.tail_start,
                piece.frames,
                kind,
                house,
            )
            jobs.append((cache_dir / "blends" / name, job))
    return jobs


def _encode_new(
    needed: Mapping[Path, tuple[Segment, HouseFormat]],
    plans: Sequence[_CutPlan],
    inputs: Sequence[Sequence[Path]],
    cache_dir: Path,
    workers: int,
) -> None:
    """Encode every intermediate still to be made and every blend not cached yet, `workers` at
    a time; a blend starts as soon as its two intermediates exist, so the cores stay busy
    while the last clips are normalised."""
    blends: dict[Path, _BlendJob] = {}
    for plan, paths in zip(plans, inputs, strict=True):
        blends.update(_blend_jobs(plan, paths, cache_dir))
    blends = {path: job for path, job in blends.items() if not path.is_file()}
    # Blends wait for their intermediates, so a lone new clip (a re-cut) gets every core.
    threads = threads_per_job(len(needed), workers)
    blend_threads = threads_per_job(len(blends), workers)
    with ThreadPoolExecutor(max_workers=workers) as encoders:
        made = {
            path: encoders.submit(normalise, segment, house, path, threads)
            for path, (segment, house) in needed.items()
        }
        order = list(made)

        def ready_at(job: _BlendJob) -> int:
            """When a blend's inputs are done, by their place in the queue (-1: cached)."""
            return max(order.index(p) if p in made else -1 for p in (job.outgoing, job.incoming))

        def blend(out: Path, job: _BlendJob) -> None:
            # The pool is first in, first out and every normalisation was queued before any
            # blend, so what a blend waits for has started: this wait cannot deadlock.
            for path in (job.outgoing, job.incoming):
                if path in made:
                    made[path].result()
            job.encode(out, blend_threads)

        blending = [
            encoders.submit(blend, out, job)
            for out, job in sorted(blends.items(), key=lambda item: ready_at(item[1]))
        ]
        for future in [*made.values(), *blending]:
            future.result()


def cut_key(request: CutRequest, hashes: Mapping[Path, str] | None = None) -> str:
    """Identity of everything that decides a cut's files: clips by content, takes, dialogue,
    labels, cards, transition, loudness, captions, house format and the recipes' versions.
    `hashes` holds clip files' sha256 already read (the others are read here)."""
    clips = [
        {
            "file": _clip_identity(clip.path, hashes or {}),
            "seconds": clip.seconds,
            "dialogue": list(clip.dialogue),
            "label": clip.label,
            "slate": clip.slate.key() if clip.slate else None,
        }
        for clip in request.clips
    ]
    return canonical_hash(
        {
            "recipe": CUT_RECIPE_VERSION,
            "intermediates": FORMAT_VERSION,
            "video": VIDEO_ENCODING,
            "audio": AUDIO_ENCODING,
            "house": request.house.key(),
            "clips": clips,
            "transition": [request.transition.kind, request.transition.seconds],
            "title": request.title.key() if request.title else None,
            "end": request.end.key() if request.end else None,
            "loudness_lufs": request.loudness_lufs,
            "burn_captions": request.burn_captions,
        }
    )


def _clip_identity(path: Path | None, hashes: Mapping[Path, str]) -> str | None:
    """A clip file by content; a missing one by name (planning the cut then says it is missing)."""
    if path is None:
        return None
    if path in hashes:
        return hashes[path]
    return file_sha256(path) if path.is_file() else f"missing:{path}"


def _reuse(request: CutRequest, key: str, cache_dir: Path) -> CutResult | None:
    """The recorded result when the cut at the request's path is already this cut, else None."""
    out = request.out_path
    record = cut_cache.load_record(cache_dir, out)
    if record is None or not cut_cache.reusable(record, key, out, out.with_suffix(".srt")):
        return None
    try:
        return _result_from_data(out, record.result)
    except (KeyError, TypeError, ValueError):
        return None  # a record from another shape of result: make the cut again


def _intermediates(
    plans: Sequence[_CutPlan], cache_dir: Path
) -> tuple[list[list[Path]], dict[Path, tuple[Segment, HouseFormat]]]:
    """Each plan's intermediate files, and those of them still to be made (each once).

    A segment that a cut splits needs an intermediate with keyframes where it is split; one
    that is only copied whole (a hard cut) takes any intermediate of the same content, so a
    hard cut and a crossfade cut of the same clips share the clips' encoding.
    """
    needed: dict[Path, tuple[Segment, HouseFormat]] = {}
    chosen: dict[tuple[int, int], Path] = {}
    by_content: dict[str, Path] = {}
    # Split segments first: their exact intermediates are what the whole ones may share.
    order = sorted(
        ((p, s) for p, plan in enumerate(plans) for s in range(len(plan.segments))),
        key=lambda ps: not plans[ps[0]].segments[ps[1]].keyframes,
    )
    for p, s in order:
        segment, house = plans[p].segments[s], plans[p].request.house
        key = segment.cache_key(house)
        folder = cache_dir / key[:2]
        path = folder / segment.intermediate_name(house)
        if not segment.keyframes and not path.exists():
            path = by_content.get(key) or next(iter(sorted(folder.glob(f"{key}.*mov"))), path)
        if not path.exists():
            needed.setdefault(path, (segment, house))
        by_content.setdefault(key, path)
        chosen[p, s] = path
    inputs = [[chosen[p, s] for s in range(len(plan.segments))] for p, plan in enumerate(plans)]
    return inputs, needed


def _plan_cut(
    request: CutRequest,
    cache_dir: Path | None = None,
    hashes: Mapping[Path, str] | None = None,
) -> _CutPlan:
    """Probe the clips and lay the cut out: segments, exact lengths, timeline, captions."""
    house = request.house
    if not request.clips:
        raise InputError(f"{request.out_path.name}: a cut needs at least one clip")
    if request.loudness_lufs is not None:
        loudness.check_target(request.loudness_lufs)
    segments: list[Segment] = []
    kinds: list[str] = []
    dialogue: list[tuple[str, ...]] = []
    if request.title is not None:
        segments.append(Segment("title", house.frames(request.title.seconds), card=request.title))
        kinds.append("title")
        dialogue.append(())
    for clip in request.clips:
        if clip.slate is not None:
            frames = house.frames(clip.slate.seconds)
            segments.append(Segment(clip.label, frames, card=clip.slate))
            kinds.append("slate")
            dialogue.append(())
            continue
        segments.append(_clip_segment(clip, house, cache_dir, hashes or {}))
        kinds.append("clip")
        dialogue.append(clip.dialogue)
    if request.end is not None:
        segments.append(Segment("end", house.frames(request.end.seconds), card=request.end))
        kinds.append("end")
        dialogue.append(())
    transition_frames = (
        house.frames(request.transition.seconds) if request.transition.kind != "cut" else 0
    )
    if request.transition.kind != "cut" and transition_frames == 0:
        raise InputError(
            f"transition of {request.transition.seconds} s is shorter than one frame at "
            f"{house.fps} fps"
        )
    timeline = plan_timeline([s.frames for s in segments], transition_frames)
    captions: list[Caption] = []
    final: list[Segment] = []
    for segment, lines, start in zip(segments, dialogue, timeline.starts, strict=True):
        duration = house.seconds(segment.frames)
        captions += layout_captions(lines, duration, offset=house.seconds(start))
        if request.burn_captions and lines:
            segment = Segment(
                label=segment.label,
                frames=segment.frames,
                clip=segment.clip,
                clip_hash=segment.clip_hash,
                has_audio=segment.has_audio,
                burned=tuple(layout_captions(lines, duration)),
            )
        final.append(segment)
    splice = plan_splice(timeline)
    if splice is not None:
        final = [
            dataclasses.replace(segment, keyframes=keyframes)
            for segment, keyframes in zip(final, splice.keyframes, strict=True)
        ]
    return _CutPlan(request, tuple(final), tuple(kinds), timeline, tuple(captions), splice)


def _clip_segment(
    clip: CutClip, house: HouseFormat, cache_dir: Path | None, hashes: Mapping[Path, str]
) -> Segment:
    assert clip.path is not None
    label = clip.label or clip.path.stem
    if not clip.path.is_file():
        raise InputError(f"clip {label}: {clip.path} does not exist (has it been generated?)")
    facts = _clip_facts(clip.path, cache_dir, hashes.get(clip.path))
    if facts.video is None:
        raise MediaError(f"clip {label}: {clip.path} has no video stream")
    # The clip's length is what a player shows: from the start of its timeline (where its
    # earliest stream starts) to the end of its last frame, not the picture's own span.
    timing = facts.video
    available = shown_frame_count(timing.last, timing.end, house.fps)
    frames = available if clip.seconds is None else house.frames(clip.seconds)
    if frames > available + 1:
        raise InputError(
            f"clip {label}: a take of {clip.seconds} s is longer than the clip "
            f"({timing.end:.3f} s); shorten the take"
        )
    if frames <= 0:
        raise InputError(f"clip {label}: a take of {clip.seconds} s holds no frame")
    return Segment(
        label=label,
        frames=frames,
        clip=clip.path,
        clip_hash=facts.sha256,
        has_audio=facts.has_audio,
    )


@dataclass(frozen=True)
class _ClipFacts:
    """What a cut needs to know of a clip file: its content hash, its picture's timing (None:
    no picture), whether it has sound."""

    sha256: str
    video: StreamTiming | None
    has_audio: bool


CLIP_FACTS_VERSION = 1
"""Bump when what is read of a clip changes, so facts remembered the old way are read again."""

_known_facts: dict[str, _ClipFacts] = {}


def _clip_facts(path: Path, cache_dir: Path | None = None, sha256: str | None = None) -> _ClipFacts:
    """The clip's facts. Its content is hashed each time (unless `sha256` is the hash just
    read); what ffmpeg reads of that content is read once, then remembered in this process and
    in `cache_dir` (a run preparing cuts as clips arrive, then the stitch, need them again)."""
    sha256 = sha256 or file_sha256(path)
    known = _known_facts.get(sha256)
    if known is not None:
        return known
    record = _facts_path(cache_dir, sha256) if cache_dir is not None else None
    facts = _read_facts(record, sha256) if record is not None else None
    if facts is None:
        info = probe(path)
        video = scan_packets(path).get("video") if info.video is not None else None
        facts = _ClipFacts(sha256, video, info.audio is not None)
        if record is not None:
            _write_facts(record, facts)
    if len(_known_facts) >= 4096:
        _known_facts.clear()
    _known_facts[sha256] = facts
    return facts


def _facts_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / "clips" / sha256[:2] / f"{sha256}.json"


def _read_facts(path: Path, sha256: str) -> _ClipFacts | None:
    """Remembered facts, or None when there are none or they cannot be read (read again)."""
    try:
        data = json.loads(path.read_text("utf-8"))
        if data["version"] != CLIP_FACTS_VERSION:
            return None
        video = StreamTiming(**data["video"]) if data["video"] is not None else None
        return _ClipFacts(sha256, video, bool(data["has_audio"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_facts(path: Path, facts: _ClipFacts) -> None:
    data = {
        "version": CLIP_FACTS_VERSION,
        "video": asdict(facts.video) if facts.video is not None else None,
        "has_audio": facts.has_audio,
    }
    with contextlib.suppress(OSError):  # not remembering only costs reading the clip again
        write_atomically(path, canonical_json(data).encode("utf-8"))


def _join(
    plan: _CutPlan, inputs: Sequence[Path], cache_dir: Path, reused: int, key: str
) -> CutResult:
    """Join the plan's intermediates into the cut, write its SRT, both atomically; record it."""
    request = plan.request
    house = request.house
    out = request.out_path
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.partial{out.suffix or '.mp4'}")
    report: loudness.LoudnessReport | None = None
    try:
        with _picture_list(plan, inputs, cache_dir) as listing:
            loudnorm = None
            measured = None
            if request.loudness_lufs is not None:
                target = request.loudness_lufs
                options = loudness.measure_options(target)
                measure = _join_args(plan, inputs, listing, options, audio_only=True)
                stderr = run_ffmpeg([*measure, "-"]).stderr
                measured = loudness.parse_measurement(stderr.decode("utf-8", "replace"))
                loudnorm = loudness.normalise_options(target, measured)
            args = _join_args(plan, inputs, listing, loudnorm)
            stderr = run_ffmpeg(
                [*args, "-movflags", "+faststart", "-f", "mp4", "-y", partial]
            ).stderr
            if request.loudness_lufs is not None and measured is not None:
                report = loudness.parse_outcome(
                    stderr.decode("utf-8", "replace"), request.loudness_lufs, measured
                )
                report = _keep_peak_ceiling(plan, inputs, listing, loudnorm, report, partial)
        _check_length(partial, plan)
        srt_path = out.with_suffix(".srt")
        write_atomically(srt_path, srt_text(plan.captions).encode("utf-8"))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    segments = tuple(
        CutSegment(
            label=segment.label,
            kind=kind,
            start_frame=start,
            frames=segment.frames,
            start=house.seconds(start),
            end=house.seconds(start + segment.frames),
        )
        for segment, kind, start in zip(
            plan.segments, plan.kinds, plan.timeline.starts, strict=True
        )
    )
    result = CutResult(
        path=out,
        srt_path=srt_path,
        frames=plan.timeline.total_frames,
        seconds=house.seconds(plan.timeline.total_frames),
        segments=segments,
        captions=plan.captions,
        reused_intermediates=reused,
        loudness=report,
    )
    cut_cache.save_record(cache_dir, out, srt_path, key, _result_data(result))
    return result


def _keep_peak_ceiling(
    plan: _CutPlan,
    inputs: Sequence[Path],
    listing: Path,
    loudnorm: dict[str, str] | None,
    report: loudness.LoudnessReport,
    partial: Path,
) -> loudness.LoudnessReport:
    """Read the encoded cut's true peak back and, while it breaks the ceiling (AAC overshoots
    what loudnorm limited, most in its dynamic mode), encode the sound again with a gain after
    loudnorm (the picture is copied). The report says what the file holds."""
    correction = 0.0
    for _ in range(3):
        stderr = run_ffmpeg(
            [
                "-i",
                partial,
                "-map",
                "0:a",
                "-af",
                loudness.encoded_check_filter(),
                "-f",
                "null",
                "-",
            ]
        ).stderr.decode("utf-8", "replace")
        integrated = loudness.parse_integrated(stderr)
        peak = loudness.parse_true_peak(stderr)
        step = loudness.peak_correction(peak)
        if step == 0.0:
            return dataclasses.replace(
                report, output=integrated, true_peak=peak, correction_db=correction
            )
        correction = round(correction + step, 2)
        args = _join_args(plan, inputs, listing, loudnorm, gain_db=correction)
        run_ffmpeg([*args, "-movflags", "+faststart", "-f", "mp4", "-y", partial])
    raise MediaError(
        f"{plan.request.out_path.name}: the encoded sound still peaks at {peak:.1f} dBTP after "
        f"a {correction:.1f} dB correction, above the {loudness.TRUE_PEAK_DB} dBTP ceiling; "
        "this is a bug in kling-pipe's stitching"
    )


def _result_data(result: CutResult) -> dict[str, Any]:
    """What a cut's record keeps of its result: everything but the paths and the reuse counts."""
    return {
        "frames": result.frames,
        "seconds": result.seconds,
        "segments": [asdict(segment) for segment in result.segments],
        "captions": [asdict(caption) for caption in result.captions],
        "loudness": asdict(result.loudness) if result.loudness else None,
    }


def _result_from_data(out: Path, data: dict[str, Any]) -> CutResult:
    """The result of a cut made before, from its record: every segment counts as reused."""
    segments = tuple(CutSegment(**segment) for segment in data["segments"])
    report = data["loudness"]
    return CutResult(
        path=out,
        srt_path=out.with_suffix(".srt"),
        frames=int(data["frames"]),
        seconds=float(data["seconds"]),
        segments=segments,
        captions=tuple(Caption(**caption) for caption in data["captions"]),
        reused_intermediates=len(segments),
        loudness=loudness.LoudnessReport(**report) if report else None,
        reused=True,
    )


def _join_args(
    plan: _CutPlan,
    inputs: Sequence[Path],
    listing: Path,
    loudnorm: dict[str, str] | None,
    *,
    audio_only: bool = False,
    gain_db: float = 0.0,
) -> list[str]:
    """Arguments (without the output) joining `inputs`: concat + copy, or an xfade chain."""
    house = plan.request.house
    encoding: dict[str, str | int] = {"vcodec": "copy"}
    if plan.request.transition.kind == "cut":
        joined = ffmpeg.input(str(listing), f="concat", safe=0)
        video, audio = joined.video, joined.audio
    elif plan.splice is not None:
        # The pieces' picture is copied; the sound is crossfaded whole from the PCM.
        video = ffmpeg.input(str(listing), f="concat", safe=0).video
        audio = _crossfade_chain(plan, inputs)[1]
    else:
        video, audio = _crossfade_chain(plan, inputs)
        encoding = dict(VIDEO_ENCODING)
    if loudnorm is not None:
        audio = audio.filter("loudnorm", **loudnorm).filter("aresample", house.sample_rate)
        if gain_db:
            audio = audio.filter("volume", f"{gain_db:g}dB")
    if audio_only:
        output = ffmpeg.output(audio, "OUT", f="null")
    else:
        output = ffmpeg.output(video, audio, "OUT", **encoding, **AUDIO_ENCODING)
    compiled = [str(arg) for arg in ffmpeg.compile(output, cmd="ffmpeg")[1:]]
    return compiled[:-1]  # the caller appends the real output and its options


def _crossfade_chain(plan: _CutPlan, inputs: Sequence[Path]) -> tuple[Any, Any]:
    """xfade and acrossfade chains whose offsets come from the frame counts, not durations."""
    house = plan.request.house
    timeline = plan.timeline
    sources = [ffmpeg.input(str(path)) for path in inputs]
    video = sources[0].video
    audio = sources[0].audio
    fade_seconds = house.seconds(timeline.transition_frames)
    for source, offset in zip(sources[1:], timeline.offsets, strict=True):
        video = ffmpeg.filter(
            [video, source.video],
            "xfade",
            transition=plan.request.transition.kind,
            duration=f"{fade_seconds:.6f}",
            offset=f"{house.seconds(offset):.6f}",
        )
        audio = ffmpeg.filter(
            [audio, source.audio], "acrossfade", ns=house.samples(timeline.transition_frames)
        )
    return video, audio


def _check_length(path: Path, plan: _CutPlan) -> None:
    """MediaError unless `path` holds exactly the planned frames and its audio ends with them."""
    house = plan.request.house
    timing = scan_packets(path)
    video, audio = timing.get("video"), timing.get("audio")
    frames = video.packets if video else 0
    if video is None or frames != plan.timeline.total_frames:
        raise MediaError(
            f"{plan.request.out_path.name}: joined cut has {frames} frames, planned "
            f"{plan.timeline.total_frames}; this is a bug in kling-pipe's stitching"
        )
    if audio is None or abs(audio.end - video.end) > 1 / float(house.fps):
        end = f"{audio.end:.3f} s" if audio else "nowhere"
        raise MediaError(
            f"{plan.request.out_path.name}: audio ends at {end} but video at "
            f"{video.end:.3f} s; this is a bug in kling-pipe's stitching"
        )


@contextmanager
def _picture_list(plan: _CutPlan, inputs: Sequence[Path], cache_dir: Path) -> Iterator[Path]:
    """A concat-demuxer list of what makes the cut's picture, removed afterwards: the
    intermediates, or for a spliced cut its pieces (made here, in the same folder)."""
    with tempfile.TemporaryDirectory(prefix="kling-pipe-cut-") as name:
        folder = Path(name)
        files = list(inputs)
        if plan.splice is not None:
            files = _make_pieces(plan, inputs, folder, cache_dir)
        listing = folder / "segments.txt"
        lines = []
        for path in files:
            escaped = str(path.resolve()).replace("'", "'\\''")
            lines.append(f"file '{escaped}'\n")
        listing.write_text("".join(lines), encoding="utf-8")
        yield listing


def _make_pieces(
    plan: _CutPlan, inputs: Sequence[Path], folder: Path, cache_dir: Path
) -> list[Path]:
    """The spliced cut's pieces in order: bodies split off the intermediates (into `folder`),
    blends encoded (cached in `cache_dir`, so a re-cut encodes only those beside a change)."""
    assert plan.splice is not None
    blends = _blend_jobs(plan, inputs, cache_dir)
    # Normally every blend is made already (see `_encode_new`); make any that is not.
    missing = {path: job for path, job in blends if not path.is_file()}
    workers = max(1, os.cpu_count() or 1)
    threads = threads_per_job(len(missing), workers)
    # Each piece is its own short ffmpeg run: run them side by side.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        splitting = pool.submit(
            split_videos,
            [
                (path, segment.keyframes)
                for path, segment in zip(inputs, plan.segments, strict=True)
            ],
            folder,
            [f"segment{index}" for index in range(len(inputs))],
        )
        blending = [pool.submit(job.encode, path, threads) for path, job in missing.items()]
        splits = splitting.result()
        for future in blending:
            future.result()
    blend_files = [path for path, _ in blends]
    files: list[Path] = []
    for piece in plan.splice.pieces:
        if isinstance(piece, Body):
            # The split files run between the segment's keyframes: find the one starting here.
            starts = (0, *plan.segments[piece.segment].keyframes)
            files.append(splits[piece.segment][starts.index(piece.start)])
        else:
            files.append(blend_files.pop(0))
    return files
