"""Rough cuts, planned: which clips go into which cut, in order, and where it is written. Pure.

A cut is made once per combination of the matrix axes it spans (`per`, default market and
aspect ratio). For each such combination every shot of the cut must have exactly one job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kling_pipe.dialogue import extract_dialogue
from kling_pipe.errors import Problem
from kling_pipe.manifest.loader import LoadedManifest
from kling_pipe.manifest.schema import Card, Cut
from kling_pipe.planning.jobs import Job, template_context
from kling_pipe.planning.templates import (
    PromptTemplates,
    TemplateFailure,
    TemplateReader,
    ratio_slug,
)

DEFAULT_PER = ("market", "aspect_ratio")


@dataclass(frozen=True)
class CutClip:
    """One clip of a cut: the job that makes it and the lines spoken in it."""

    job: Job
    dialogue: tuple[str, ...]


@dataclass(frozen=True)
class CardText:
    """A title or end card with its text rendered for the cut's combination."""

    card: Card
    text: str


@dataclass(frozen=True)
class PlannedCut:
    """One rough cut to stitch."""

    cut: Cut
    values: Mapping[str, Any]  # the combination of `per` axes
    clips: tuple[CutClip, ...]
    output: PurePosixPath  # relative to the campaign's output folder
    title: CardText | None
    end_card: CardText | None

    @property
    def aspect_ratio(self) -> str:
        """The ratio the cut is made at: its clips'."""
        return self.clips[0].job.aspect_ratio


@dataclass(frozen=True)
class CutPlan:
    """Every cut to make, and why some combinations have none."""

    cuts: tuple[PlannedCut, ...]
    warnings: tuple[Problem, ...]


def per_axes(cut: Cut, axes: Sequence[str]) -> tuple[str, ...]:
    """The axes a cut spans: as written, else market and aspect_ratio where the matrix has them."""
    if cut.per is not None:
        return tuple(cut.per)
    return tuple(a for a in DEFAULT_PER if a in axes)


def plan_cuts(loaded: LoadedManifest, jobs: Sequence[Job], reader: TemplateReader) -> CutPlan:
    """Group jobs into cuts; card texts are templates rendered with the combination."""
    m = loaded.manifest
    axes = [k for k in m.matrix if k not in ("include", "exclude")]
    axes += [k for e in m.matrix.get("include", []) if isinstance(e, dict) for k in e]
    templates = PromptTemplates(reader)
    planned: list[PlannedCut] = []
    warnings: list[Problem] = []
    for index, cut in enumerate(m.cuts):
        per = per_axes(cut, axes)
        members = [job for job in jobs if job.shot in cut.shots]
        # A shot that spans fewer axes (a master per ratio) joins every cut that agrees with
        # it on the axes it spans; the cuts are those of the shots that span them all.
        per = tuple(a for a in per if any(a in job.values for job in members))
        groups: dict[tuple[Any, ...], dict[str, list[Job]]] = {}
        for job in members:
            if all(a in job.values for a in per):
                groups.setdefault(tuple(_hashable(job.values[a]) for a in per), {})
        agreeing: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for job in members:
            spanned = tuple(i for i, a in enumerate(per) if a in job.values)
            mine = tuple(_hashable(job.values[per[i]]) for i in spanned)
            if len(spanned) == len(per):
                groups[mine].setdefault(job.shot, []).append(job)
                continue
            if (spanned, mine) not in agreeing:
                agreeing[(spanned, mine)] = [
                    g for g in groups if tuple(g[i] for i in spanned) == mine
                ]
            for group in agreeing[(spanned, mine)]:
                groups[group].setdefault(job.shot, []).append(job)
        where = loaded.location(("cuts", index))
        for group, by_shot in groups.items():
            values = dict(zip(per, group, strict=True))
            label = "/".join(str(v) for v in group) or "(all)"
            missing = [s for s in cut.shots if s not in by_shot]
            if missing:
                warnings.append(
                    Problem(
                        f"no cut {cut.id} for {label}: shot(s) {', '.join(missing)} have no job "
                        "there (excluded from the matrix?)",
                        where,
                        f"cuts[{index}]",
                        severity="warning",
                    )
                )
                continue
            ambiguous = [s for s in cut.shots if len(by_shot[s]) > 1]
            if ambiguous:
                other = sorted({k for j in by_shot[ambiguous[0]] for k in j.values} - set(per))
                warnings.append(
                    Problem(
                        f"cut {cut.id} for {label}: shot {ambiguous[0]} has "
                        f"{len(by_shot[ambiguous[0]])} jobs differing in {', '.join(other)}; "
                        f"add them to the cut's `per`",
                        where,
                        f"cuts[{index}].per",
                        severity="warning",
                    )
                )
                continue
            clips = tuple(
                CutClip(
                    by_shot[s][0],
                    tuple(extract_dialogue(str(by_shot[s][0].inputs.get("prompt", "")))),
                )
                for s in cut.shots
            )
            context = template_context(m, values)
            title = _card(templates, cut.title, context, warnings, where, index, "title")
            end = _card(templates, cut.end_card, context, warnings, where, index, "end_card")
            parts = [ratio_slug(v) for v in group] or ["all"]
            output = PurePosixPath("cuts", cut.id, *parts[:-1], f"{parts[-1]}.mp4")
            planned.append(PlannedCut(cut, values, clips, output, title, end))
    return CutPlan(tuple(planned), tuple(warnings))


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _card(
    templates: PromptTemplates,
    card: Card | None,
    context: Mapping[str, Any],
    warnings: list[Problem],
    where: Any,
    index: int,
    name: str,
) -> CardText | None:
    if card is None:
        return None
    try:
        text = templates.render(card.text, context)
    except TemplateFailure as failure:
        warnings.append(
            Problem(f"card text: {failure.message}", where, f"cuts[{index}].{name}.text")
        )
        return None
    return CardText(card, text)


@dataclass(frozen=True)
class CutChange:
    """Whether a cut is made again by the plan's generations, and which clips make it so."""

    cut: PlannedCut
    status: str  # "new", "changed" or "unchanged", as the worst of its clips
    reason: str

    @property
    def id(self) -> str:
        """`spot/de/16x9`: the cut and its combination."""
        return str(self.cut.output.with_suffix(""))[len("cuts/") :]


def cut_changes(cuts: Sequence[PlannedCut], statuses: Mapping[str, str]) -> list[CutChange]:
    """Each cut's status from its clips' plan statuses (job id → status): changed when a clip
    is changed or lost (its upstream changed, say), new when a clip is new."""
    changes = []
    for cut in cuts:
        touched = {
            clip.job.id: statuses.get(clip.job.id, "unchanged")
            for clip in cut.clips
            if statuses.get(clip.job.id, "unchanged") != "unchanged"
        }
        if not touched:
            changes.append(CutChange(cut, "unchanged", ""))
            continue
        status = "new" if all(s == "new" for s in touched.values()) else "changed"
        reason = ", ".join(f"{job} {s}" for job, s in touched.items())
        changes.append(CutChange(cut, status, reason))
    return changes
