"""Jobs: shots × matrix combinations, with rendered inputs, a stable id and a content key.

Pure: templates and file hashes come through a `PlanSources` the caller provides, so planning
never touches the disk, the network or the clock itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from kling_pipe.canonical import canonical_hash
from kling_pipe.dialogue import extract_dialogue, speaking_seconds
from kling_pipe.errors import InputError, ManifestError, Problem, SourceLocation
from kling_pipe.manifest.loader import LoadedManifest, dotted
from kling_pipe.manifest.matrix import RESERVED
from kling_pipe.manifest.schema import Manifest
from kling_pipe.manifest.yaml_source import Path_
from kling_pipe.models.checks import (
    InputIssue,
    check_inputs,
    reference_problems,
    storyboard_problems,
)
from kling_pipe.models.pricing import duration_seconds, estimate_cost
from kling_pipe.models.spec import (
    InputSpec,
    ModelRegistry,
    ModelSpec,
    PromptReferences,
    split_model_ref,
)
from kling_pipe.planning.graph import (
    InputSource,
    StageGraph,
    input_kind,
    output_kind,
    stage_graph,
    voices,
)
from kling_pipe.planning.matrix import (
    Combination,
    combination_bound,
    expand_matrix,
    unmatched_excludes,
)
from kling_pipe.planning.templates import (
    INLINE_PREFIX,
    PromptTemplates,
    TemplateFailure,
    ratio_slug,
)
from kling_pipe.spelling import did_you_mean
from kling_pipe.takes import MAX_TAKES, take_id, take_key

TAKES = "takes"
"""Not a model input: how many takes of each job (in `defaults`, a combination, a shot)."""

_REMOTE = re.compile(r"^(https?|data):", re.IGNORECASE)
_WARNING_KINDS = {"length", "deprecated"}
_EXPANSION_WORK = 5_000_000
"""Combinations × (include and exclude entries) a matrix may take to expand: about a second."""


class PlanSources(Protocol):
    """What planning needs from outside: template texts and content hashes of local files."""

    def template(self, name: str) -> tuple[str, str] | None:
        """(source, file name to show) of a template in the templates folders, or None."""
        ...

    def file_sha256(self, relative_path: str) -> str | None:
        """sha256 of a file named relative to the manifest's folder, or None if it is missing.

        Raises InputError when the path is refused: outside the campaign, not a regular file,
        unreadable.
        """
        ...


@dataclass(frozen=True)
class Upstream:
    """The job (and take) whose output feeds one of a job's inputs (`{from: SHOT}`)."""

    job_id: str
    job_key: str
    take: int = 1
    picked: bool = False
    """The take is the reviewed pick (no `take:` was written)."""

    @property
    def key(self) -> str:
        """The key of the take whose output is the input."""
        return take_key(self.job_key, self.take)

    @property
    def take_id(self) -> str:
        """`master/16x9`, or `master/16x9#2` for a later take."""
        return take_id(self.job_id, self.take)

    def key_material(self) -> dict[str, Any]:
        """What enters the downstream key in place of the input's value."""
        material: dict[str, Any] = {"upstream": self.job_key}
        if self.take > 1:
            material["take"] = self.take
        return material


@dataclass(frozen=True)
class Job:
    """One generation: a shot for one combination of the matrix axes it spans."""

    id: str
    shot: str
    values: Mapping[str, Any]
    model: str
    inputs: Mapping[str, Any]
    files: Mapping[str, str]  # input name → sha256 of the local file it names
    key: str
    cost_usd: float
    salt: str = ""
    upstream: Mapping[str, Upstream] = field(default_factory=dict)
    """Input name → the job whose output it takes."""
    seconds: float | None = None
    """Seconds of video when no `duration` input says it (a lip-sync lasts as its video)."""
    voiced: bool = False
    """Its model gives the clip a voice whatever `generate_audio` says (lip-sync)."""
    takes: int = 1
    """Takes the manifest asks of this job (`takes:`); rerolls in the lock add more."""
    take: int = 1
    """Which take this is: 1 for the job itself; `for_take` makes the others."""
    take_one_key: str | None = None
    """For take k > 1: the job's own key (take 1's), from which this take's key is derived."""
    prices_as_of: str | None = None
    """The date of the price table `cost_usd` comes from ("manifest" for the manifest's
    `prices:`); not part of the key."""

    @property
    def take_id(self) -> str:
        """The take's id: the job id for take 1, `job#k` for take k (see `kling_pipe.takes`)."""
        return take_id(self.id, self.take)

    def for_take(self, take: int) -> Job:
        """Take `take` of this job: the same job with the take's own key."""
        if take == self.take:
            return self
        job_key = self.job_key
        return replace(
            self,
            take=take,
            key=take_key(job_key, take),
            take_one_key=None if take == 1 else job_key,
        )

    @property
    def job_key(self) -> str:
        """The job's own key (take 1's), whichever take this is."""
        return self.take_one_key or self.key

    @property
    def market(self) -> str | None:
        """The job's market, when the matrix has one."""
        value = self.values.get("market")
        return value if isinstance(value, str) else None

    @property
    def aspect_ratio(self) -> str:
        """The aspect ratio the clip is generated at."""
        return str(self.inputs.get("aspect_ratio", self.values.get("aspect_ratio", "16:9")))

    @property
    def duration(self) -> float:
        """Seconds of video the job produces."""
        if "duration" not in self.inputs and self.seconds is not None:
            return self.seconds
        return float(self.inputs.get("duration", 5))

    @property
    def has_audio(self) -> bool:
        """Whether the clip is generated with sound."""
        return self.voiced or self.inputs.get("generate_audio") is True

    def key_material(self) -> dict[str, Any]:
        """Everything that determines the output; its canonical hash is the key."""
        return key_material(self.model, self.inputs, self.files, self.salt, self.upstream)


def key_material(
    model: str,
    inputs: Mapping[str, Any],
    files: Mapping[str, str],
    salt: str,
    upstream: Mapping[str, Upstream] | None = None,
) -> dict[str, Any]:
    """Model, inputs with local paths replaced by their content hash and inputs from other
    shots by their upstream job's key (and take), and the salt."""
    keyed = dict(inputs)
    for name, digest in files.items():
        keyed[name] = f"sha256:{digest}"
    for name, source in (upstream or {}).items():
        keyed[name] = source.key_material()
    material: dict[str, Any] = {"model": model, "inputs": keyed}
    if salt:
        material["salt"] = salt
    return material


@dataclass(frozen=True)
class JobPlan:
    """Every job of a manifest, and the warnings met while planning."""

    jobs: tuple[Job, ...]
    warnings: tuple[Problem, ...] = field(default_factory=tuple)


_SLUGS: dict[tuple[type, Any], str] = {}


def _slug(value: Any) -> str:
    if isinstance(value, str | int | float | bool):
        cached = _SLUGS.get((type(value), value))
        if cached is None:
            cached = _SLUGS[(type(value), value)] = _slug_of(value)
        return cached
    return _slug_of(value)


def _slug_of(value: Any) -> str:
    if isinstance(value, dict):
        named = value.get("id", value.get("name"))
        return ratio_slug(named) if named is not None else canonical_hash(value)[:8]
    if isinstance(value, bool):
        return "true" if value else "false"
    return ratio_slug(value)


def template_context(manifest: Manifest, combination: Mapping[str, Any]) -> dict[str, Any]:
    """What templates see: `vars`, then the market's variables, then the combination."""
    context: dict[str, Any] = dict(manifest.vars)
    market = combination.get("market")
    if isinstance(market, str) and market in manifest.markets:
        context.update(manifest.markets[market])
    context.update(combination)
    return context


def storyboard_json(shots: Sequence[tuple[str, int]]) -> str:
    """A storyboard as Kling v3's `multi_prompt` takes it: a compact JSON array of
    `{"prompt": ..., "duration": N}` objects, as in Replicate's example
    `[{"prompt":"A cat jumps","duration":3},{"prompt":"It lands","duration":2}]`."""
    board = [{"prompt": prompt, "duration": seconds} for prompt, seconds in shots]
    return json.dumps(board, ensure_ascii=False, separators=(",", ":"))


def job_id(shot: str, combination: Mapping[str, Any]) -> str:
    """A readable, stable, path-safe id: the shot, then each combination value (`hero/jp/9x16`)."""
    return "/".join([shot, *(_slug(v) for v in combination.values())])


class _Planner:
    def __init__(
        self,
        loaded: LoadedManifest,
        registry: ModelRegistry,
        sources: PlanSources,
        picks: Mapping[str, tuple[int, str]],
        rerolls: Mapping[str, int],
    ):
        self.picks = picks
        self.rerolls = rerolls
        self.loaded = loaded
        self.m = loaded.manifest
        self.registry = registry
        self.sources = sources
        self.templates = PromptTemplates(sources.template)
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self._reported: set[tuple[str, str, str]] = set()
        self._specs: dict[str, ModelSpec] = {}
        self._defaults: dict[str, Mapping[str, Any]] = {}
        self.graph: StageGraph | None = None
        self._planned: dict[tuple[str, tuple[Any, ...]], Job] = {}
        self._by_id: dict[str, Job] = {}
        self._markets: dict[str, str] = {}
        self._varying: dict[str, set[str]] = {}

    # -- problems -----------------------------------------------------------------------
    def report(
        self, path: Path_, message: str, job: str, *, warning: bool = False, key: bool = False
    ) -> None:
        location = self.loaded.location(path, key=key)
        ident = (message, str(location), dotted(path))
        if ident in self._reported:
            return
        self._reported.add(ident)
        problem = Problem(message, location, dotted(path), job, "warning" if warning else "error")
        (self.warnings if warning else self.errors).append(problem)

    def defaults_of(self, spec: ModelSpec) -> Mapping[str, Any]:
        if spec.ref not in self._defaults:
            self._defaults[spec.ref] = spec.defaults()
        return self._defaults[spec.ref]

    def spec_for(self, ref: str, path: Path_, job: str) -> ModelSpec | None:
        if ref in self._specs:
            return self._specs[ref]
        spec = self.registry.get(ref)
        if spec is None:
            known = ", ".join(self.registry.refs())
            self.report(path, f"unknown model {ref!r}; known models: {known}", job)
            return None
        price = self.m.prices.get(split_model_ref(ref)[0])
        if price is not None:
            spec = replace(
                spec,
                price_per_second=price.per_second,
                price_per_second_with_audio=price.per_second_with_audio
                if price.per_second_with_audio is not None
                else spec.price_per_second_with_audio,
                # an override is one rate for every mode
                mode_prices={},
                mode_prices_with_audio={},
                price_per_image=price.per_second if spec.output_kind == "image" else None,
                prices_as_of="manifest",
            )
        self._specs[ref] = spec
        return spec

    # -- rendering ----------------------------------------------------------------------
    def render(self, source: str, context: Mapping[str, Any], path: Path_, job: str) -> str | None:
        try:
            return self.templates.render(source, context)
        except TemplateFailure as failure:
            message = failure.message + self.markets_defining(failure, context)
            self.errors_append(self.template_problem(failure, message, source, path, job))
            return None

    def markets_defining(self, failure: TemplateFailure, context: Mapping[str, Any]) -> str:
        """For a variable only some markets define: which do, so the user knows where to add it."""
        market = context.get("market")
        if not (failure.name and failure.message.startswith("undefined variable")):
            return ""
        having = [name for name, values in self.m.markets.items() if failure.name in values]
        if not having or not isinstance(market, str):
            return ""
        return f"; add it to markets.{market} (as in {', '.join(f'markets.{h}' for h in having)})"

    def template_problem(
        self, failure: TemplateFailure, message: str, source: str, path: Path_, job: str
    ) -> Problem:
        """A template failure located where it is fixed: the template file, else the manifest."""
        field_at = self.loaded.location(path)
        if failure.file and failure.file != INLINE_PREFIX:
            where = SourceLocation(failure.file, failure.line, failure.column)
            return Problem(f"{message} (included at {field_at})", where, dotted(path), job)
        location = None
        if failure.name and failure.line and failure.column:
            location = self.loaded.document.word_location(
                path, source, failure.line, failure.column, failure.name
            )
        if location is None:
            location = field_at
            if failure.line and field_at.line is not None:
                offset = 1 if path in self.loaded.document.block_scalars else 0
                line = field_at.line + offset + failure.line - 1
                column = None if offset or failure.line > 1 else field_at.column
                location = SourceLocation(field_at.file, line, column)
        return Problem(message, location, dotted(path), job)

    def errors_append(self, problem: Problem) -> None:
        ident = (problem.message, str(problem.location), problem.field_path)
        if ident not in self._reported:
            self._reported.add(ident)
            self.errors.append(problem)

    # -- planning -----------------------------------------------------------------------
    def combinations(self) -> list[Combination] | None:
        """The matrix expanded, or None (and an error) when it exceeds `limits.max_jobs`."""
        shots = len(self.m.shots)
        limit = self.m.limits.max_jobs
        bound = combination_bound(self.m.matrix)
        entries = sum(len(e) for k in RESERVED if isinstance(e := self.m.matrix.get(k, []), list))
        advice = "narrow the matrix, or raise limits.max_jobs if you mean it"
        if bound * (1 + entries) > _EXPANSION_WORK:
            self.report(
                ("matrix",),
                f"the matrix has {bound:,} combinations before exclude; × {shots} shot(s) that "
                f"is up to {bound * shots:,} jobs, more than limits.max_jobs ({limit:,}) or "
                f"kling-pipe can expand: {advice}",
                "",
                key=True,
            )
            return None
        combinations = expand_matrix(self.m.matrix)
        if len(combinations) * shots > limit:
            self.report(
                ("matrix",),
                f"the manifest expands to {len(combinations) * shots:,} jobs "
                f"({len(combinations):,} combinations × {shots} shot(s)), more than "
                f"limits.max_jobs ({limit:,}): {advice}",
                "",
                key=True,
            )
            return None
        return combinations

    def plan(self) -> JobPlan:
        combinations = self.combinations()
        if combinations is None:
            raise ManifestError(self.errors)
        self.templates.allow_for(len(combinations) * len(self.m.shots))
        axes = [k for k in self.m.matrix if k not in RESERVED]
        self.graph = graph = stage_graph(self.loaded)
        jobs: list[Job] = []
        ids: dict[str, Mapping[str, Any]] = {}
        if TAKES in axes:
            self.report(
                ("matrix", TAKES),
                "takes is not a matrix axis: set it for some combinations with "
                f"`include: [{{market: jp, {TAKES}: 3}}]`, for all in `defaults`",
                "",
                key=True,
            )
            raise ManifestError(self.errors)
        for shot_index in graph.order:
            shot = self.m.shots[shot_index]
            spans = graph.axes[shot.id]
            seen: set[tuple[Any, ...]] = set()
            for full in combinations:
                combination = full
                if shot.per is not None:
                    combination = {k: v for k, v in full.items() if k in spans}
                    if (values := _values_key(combination)) in seen:
                        continue
                    seen.add(values)
                job = self.plan_job(shot_index, combination, axes)
                if job is None:
                    continue
                if graph.sources:  # only a graph looks its upstream jobs up
                    self._planned[(job.shot, _values_key(job.values))] = job
                    self._by_id[job.id] = job
                if job.id in ids:
                    self.report(
                        ("matrix",),
                        f"two combinations give the job id {job.id!r}: {dict(ids[job.id])} and "
                        f"{dict(combination)}; give them values that differ in letters or digits",
                        job.id,
                        key=True,
                    )
                    continue
                ids[job.id] = combination
                jobs.append(job)
        self.check_start_images_across_ratios(jobs)
        self.check_cuts_take_clips(jobs)
        for unmatched in unmatched_excludes(self.m.matrix):
            self.report(("matrix", *unmatched.path), unmatched.message, "", warning=True)
        if self.errors:
            raise ManifestError(self.errors + self.warnings)
        return JobPlan(tuple(jobs), tuple(self.warnings))

    def check_cuts_take_clips(self, jobs: Sequence[Job]) -> None:
        """A cut stitches clips: a shot whose model makes images (key frames) cannot be in
        one; say so at the cut's entry for it, naming what can."""
        stills: dict[str, str] = {}
        for job in jobs:
            spec = self._specs.get(job.model)
            if spec is not None and spec.output_kind == "image":
                stills.setdefault(job.shot, job.model)
        if not stills:
            return
        graph = self.graph
        for i, cut in enumerate(self.m.cuts):
            for j, shot in enumerate(cut.shots):
                if shot not in stills:
                    continue
                below = graph.downstream_of(shot) if graph is not None else []
                hint = (
                    f"name the shot that animates it ({', '.join(below)})"
                    if below
                    else f"animate it in a shot with `start_image: {{from: {shot}}}` and name that"
                )
                self.report(
                    ("cuts", i, "shots", j),
                    f"shot {shot!r} makes images ({stills[shot]}), and a cut stitches video "
                    f"clips: {hint}",
                    "",
                )

    def check_start_images_across_ratios(self, jobs: Sequence[Job]) -> None:
        """One start image used for several ratios gives clips of one shape: say so."""
        ratios: dict[tuple[str, str], set[str]] = {}
        first_job: dict[tuple[str, str], Job] = {}
        for job in jobs:
            spec = self._specs.get(job.model)
            image = job.files.get("start_image", job.inputs.get("start_image"))
            if spec is None or not spec.ignores_aspect_ratio_with_start_image or not image:
                continue
            group = (job.shot, str(image))
            ratios.setdefault(group, set()).add(job.aspect_ratio)
            first_job.setdefault(group, job)
        for group, seen in ratios.items():
            if len(seen) > 1:
                job = first_job[group]
                shot_index = next(i for i, s in enumerate(self.m.shots) if s.id == job.shot)
                shot = self.m.shots[shot_index]
                path: Path_ = (
                    ("shots", shot_index, "inputs", "start_image")
                    if "start_image" in shot.inputs
                    else ("defaults", "start_image")
                )
                self.report(
                    path,
                    f"{job.model} ignores aspect_ratio when start_image is set, and this one "
                    f"image serves {', '.join(sorted(seen))}: every clip will take the image's "
                    "shape; give each ratio its own start image",
                    job.id,
                    warning=True,
                )

    def plan_job(
        self, shot_index: int, combination: Mapping[str, Any], axes: Sequence[str]
    ) -> Job | None:
        shot = self.m.shots[shot_index]
        takes = self.takes_of(shot_index, combination)
        combination = {k: v for k, v in combination.items() if k != TAKES}
        jid = job_id(shot.id, combination)
        if isinstance(combination.get("market"), str):
            self._markets[jid] = combination["market"]
        shot_path: Path_ = ("shots", shot_index)
        model_path: Path_ = (*shot_path, "model") if shot.model else ("model",)
        model = shot.model or self.m.model
        spec = self.spec_for(model, model_path, jid)
        if spec is None:
            return None

        context = template_context(self.m, combination)
        context["shot"] = {"id": shot.id}

        # Where each input's value came from, lowest precedence first, for error locations.
        origin: dict[str, Path_] = {}
        inputs: dict[str, Any] = dict(self.defaults_of(spec))
        own_model = (
            shot.model is not None
            and split_model_ref(shot.model)[0] != split_model_ref(self.m.model)[0]
        )
        for name, value in self.m.defaults.items():
            if name == TAKES:
                continue
            if own_model and name not in spec.inputs:
                continue  # defaults are the manifest model's; a shot of another takes what fits
            inputs[name] = value
            origin[name] = ("defaults", name)
        for name, value in combination.items():
            if name in spec.inputs:
                inputs[name] = value
                origin[name] = self.matrix_origin(name, value, axes)
        for name, value in shot.inputs.items():
            if name == TAKES:
                self.report(
                    (*shot_path, "inputs", TAKES),
                    "takes is not a model input: write it on the shot (`takes: 3`, beside "
                    "`inputs:`), or in defaults for every shot",
                    jid,
                    key=True,
                )
                continue
            inputs[name] = value
            origin[name] = (*shot_path, "inputs", name)

        # Inputs whose value depends on the combination: templates, and matrix values.
        varying = {
            name
            for name, value in inputs.items()
            if (isinstance(value, str) and ("{{" in value or "{%" in value))
            or (name in origin and origin[name][0] == "matrix")
        }
        if shot.prompt is not None and ("{{" in shot.prompt or "{%" in shot.prompt):
            varying.add("prompt")
        self._varying[jid] = varying
        rendered: dict[str, Any] = {}
        failed = False
        for name, value in inputs.items():
            path = origin.get(name)
            if isinstance(value, str) and path is not None and path[0] != "matrix" and value:
                out = self.render(value, context, path, jid)
                failed |= out is None
                if out == "":
                    continue  # a template that renders to nothing leaves the input out
                rendered[name] = out
            else:
                rendered[name] = value
        if shot.prompt is not None and "prompt" not in spec.inputs:
            self.report(
                (*shot_path, "prompt"),
                f"{spec.ref} takes no prompt: remove it (its inputs: {', '.join(spec.inputs)})",
                jid,
                key=True,
            )
            failed = True
        elif shot.prompt is not None:
            prompt = self.render(shot.prompt, context, (*shot_path, "prompt"), jid)
            failed |= prompt is None
            rendered["prompt"] = prompt
            origin["prompt"] = (*shot_path, "prompt")
        elif "prompt" in spec.inputs and spec.inputs["prompt"].required:
            self.report(
                (*shot_path, "id"), f"the shot needs a prompt: {spec.ref} requires one", jid
            )
            failed = True
        if shot.negative_prompt is not None:
            negative = self.render(
                shot.negative_prompt, context, (*shot_path, "negative_prompt"), jid
            )
            failed |= negative is None
            rendered["negative_prompt"] = negative
            origin["negative_prompt"] = (*shot_path, "negative_prompt")
        board_failed = False
        if shot.storyboard is not None and not failed:
            board = self.render_storyboard(spec, shot_index, context, rendered, jid)
            board_failed = board is None
            if board is not None:
                rendered["multi_prompt"] = board
                origin["multi_prompt"] = (*shot_path, "storyboard")
        if failed:
            return None

        upstream = self.upstream_of(shot_index, combination, spec, rendered, jid)
        if upstream is None:
            return None
        checked = {**rendered, **{name: f"from:{u.job_id}" for name, u in upstream.items()}}
        issues = _one_issue_per_misspelling(check_inputs(spec, checked))
        if shot.storyboard is not None:  # checked entry by entry in render_storyboard
            issues = [issue for issue in issues if issue.field != "multi_prompt"]
        for issue in issues:
            self.report_input(issue, origin, shot_path, model_path, jid)
        if board_failed or any(issue.kind == "type" for issue in issues):
            return None  # files, warnings and price read the values as the types they must be
        files = self.hash_files(spec, rendered, origin, jid)
        if files is None:
            return None
        self.check_warnings(spec, rendered, origin, shot_path, jid)

        seconds = self.inherited_seconds(spec, upstream)
        key = canonical_hash(key_material(model, rendered, files, self.m.salt, upstream))
        return Job(
            id=jid,
            shot=shot.id,
            values=dict(combination),
            model=model,
            inputs=rendered,
            files=files,
            key=key,
            cost_usd=estimate_cost(spec, rendered, input_seconds=seconds),
            salt=self.m.salt,
            takes=takes or 1,
            upstream=upstream,
            seconds=seconds,
            voiced=voices(spec),
            prices_as_of=spec.prices_as_of,
        )

    def takes_of(self, shot_index: int, combination: Mapping[str, Any]) -> int | None:
        """The takes a job asks for: the shot's, else its combination's, else `defaults`';
        None (and an error) when the value given is not a whole number in range."""
        shot = self.m.shots[shot_index]
        if shot.takes is not None:
            return shot.takes
        if TAKES in combination:
            value = combination[TAKES]
            where: Path_ = self.matrix_origin(TAKES, value, ())
        elif TAKES in self.m.defaults:
            value, where = self.m.defaults[TAKES], ("defaults", TAKES)
        else:
            return 1
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TAKES:
            self.report(
                where,
                f"takes must be a whole number from 1 to {MAX_TAKES}; "
                "use `kling-pipe reroll` for one more take of a job",
                job_id(shot.id, {k: v for k, v in combination.items() if k != TAKES}),
            )
            return None
        return value

    def upstream_of(
        self,
        shot_index: int,
        combination: Mapping[str, Any],
        spec: ModelSpec,
        rendered: dict[str, Any],
        jid: str,
    ) -> dict[str, Upstream] | None:
        """The job feeding each `{from: SHOT}` input, with the input's value made readable
        (`{from: master/16x9}`); None (and errors) where one cannot feed it."""
        assert self.graph is not None
        shot = self.m.shots[shot_index]
        found: dict[str, Upstream] = {}
        ok = True
        for source in self.graph.sources.get(shot.id, ()):
            spans = self.graph.axes[source.shot]
            values = {k: v for k, v in combination.items() if k in spans}
            job = self._planned.get((source.shot, _values_key(values)))
            if job is None:
                ok = False  # its own planning failed and said why, or it has no such job:
                if not any((p.job or "").startswith(f"{source.shot}/") for p in self.errors):
                    self.report(
                        (*source.path, "from"),
                        f"{source.shot} has no job for {dict(values)}, which {jid} needs "
                        "(excluded from the matrix?)",
                        jid,
                    )
                continue
            ispec = spec.inputs.get(source.input)
            if ispec is not None and not self.feeds(ispec, job, source, spec, jid):
                ok = False
                continue
            take, picked = source.take or 1, False
            pick = self.picks.get(job.id)
            if source.take is None and pick is not None and take_key(job.key, pick[0]) == pick[1]:
                take, picked = pick[0], True
            made = job.takes + self.rerolls.get(job.id, 0)
            if take > made:
                self.report(
                    (*source.path, "take"),
                    f"{job.id} has {made} take(s), not {take}: raise `takes:` on "
                    f"{source.shot}, or add a take with `kling-pipe reroll {job.id}` before "
                    "naming it",
                    jid,
                )
                ok = False
                continue
            found[source.input] = Upstream(job.id, job.key, take, picked)
            shown: dict[str, Any] = {"from": job.id}
            if take > 1 or picked:
                shown["take"] = take
            rendered[source.input] = shown
        return found if ok else None

    def feeds(
        self, ispec: InputSpec, upstream: Job, source: InputSource, spec: ModelSpec, jid: str
    ) -> bool:
        """Whether `upstream`'s output can be `ispec`'s value; an error at the `from` if not."""
        made = output_kind(self._specs[upstream.model])
        wanted = input_kind(ispec)
        if ispec.type == "uri" and (wanted is None or wanted == made):
            limits = spec.input_video
            if limits is None or limits.input != source.input:
                return True
            if limits.min_seconds <= upstream.duration <= limits.max_seconds:
                return True
            self.report(
                (*source.path, "from"),
                f"{source.shot}'s clips last {upstream.duration:g} s, but {spec.ref}'s "
                f"{source.input} takes {limits.min_seconds:g}–{limits.max_seconds:g} s: "
                f"give {source.shot} a duration in that range",
                jid,
            )
            return False
        takes = (
            f"a list of {wanted or 'file'}s"
            if ispec.type == "uri_list"
            else f"an {wanted}"
            if wanted == "image" or wanted == "audio"
            else f"a {wanted}"
            if wanted
            else f"a {ispec.type}"
        )
        self.report(
            (*source.path, "from"),
            f"{source.shot} makes {'an' if made == 'image' else 'a'} {made} "
            f"({upstream.model}), but {spec.ref}'s {source.input} takes {takes}: "
            f"feed it to an input that takes {'an' if made == 'image' else 'a'} {made}",
            jid,
        )
        return False

    def inherited_seconds(self, spec: ModelSpec, upstream: Mapping[str, Upstream]) -> float | None:
        """A model whose output lasts as its input video (lip-sync) lasts as its upstream."""
        if spec.seconds_from is None or spec.seconds_from not in upstream:
            return None
        job = self._by_id.get(upstream[spec.seconds_from].job_id)
        return job.duration if job is not None else None

    def render_storyboard(
        self,
        spec: ModelSpec,
        shot_index: int,
        context: Mapping[str, Any],
        inputs: Mapping[str, Any],
        jid: str,
    ) -> str | None:
        """The shot's storyboard as the model's `multi_prompt` JSON, or None (and errors at the
        offending entries)."""
        shot = self.m.shots[shot_index]
        assert shot.storyboard is not None
        board_path: Path_ = ("shots", shot_index, "storyboard")
        rule = spec.storyboard
        if rule is None:
            takers = [
                ref
                for ref in self.registry.refs()
                if (other := self.registry.get(ref)) is not None and other.storyboard is not None
            ]
            self.report(
                board_path,
                f"{spec.ref} takes no storyboard; models that do: {', '.join(takers)}",
                jid,
                key=True,
            )
            return None
        shots: list[tuple[Any, Any]] = []
        for j, entry in enumerate(shot.storyboard):
            prompt = self.render(entry.prompt, context, (*board_path, j, "prompt"), jid)
            if prompt is None:
                return None
            shots.append((prompt, entry.duration))
        problems = storyboard_problems(spec, rule, shots, inputs.get("duration"))
        references = spec.rule(PromptReferences)
        for j, (prompt, _) in enumerate(shots):
            if isinstance(references, PromptReferences):
                found = reference_problems(spec, references, prompt, inputs)
                problems += [(j, f"shot {j + 1}: {message}") for message in found]
        for index, message in problems:
            if index is None:
                where = board_path
                if "duration" in inputs:
                    message += f" (duration is set at {self.duration_location(shot_index)})"
                self.report(where, message, jid, key=True)
            elif "duration" in message and index < len(shot.storyboard):
                self.report((*board_path, index, "duration"), message, jid)
            else:
                self.report((*board_path, index), message, jid)
        if problems:
            return None
        return storyboard_json(shots)

    def duration_location(self, shot_index: int) -> str:
        """Where the job's duration is written, for a storyboard that does not add up to it."""
        shot = self.m.shots[shot_index]
        if "duration" in shot.inputs:
            return str(self.loaded.location(("shots", shot_index, "inputs", "duration")))
        if "duration" in self.m.defaults:
            return str(self.loaded.location(("defaults", "duration")))
        if "duration" in self.m.matrix:
            return str(self.loaded.location(("matrix", "duration")))
        return "the model's default"

    def matrix_origin(self, name: str, value: Any, axes: Sequence[str]) -> Path_:
        """Where a combination's value is written: its axis entry, or the include that set it."""
        if name in axes:
            values = self.m.matrix[name]
            return ("matrix", name, values.index(value)) if value in values else ("matrix", name)
        for i, entry in enumerate(self.m.matrix.get("include", [])):
            if isinstance(entry, dict) and entry.get(name) == value:
                return ("matrix", "include", i, name)
        return ("matrix", "include")

    def report_input(
        self,
        issue: InputIssue,
        origin: Mapping[str, Path_],
        shot_path: Path_,
        model_path: Path_,
        jid: str,
    ) -> None:
        path = origin.get(issue.field)
        if path is None:  # a required input nobody set: blame the shot's inputs
            path = (*shot_path, "inputs", issue.field)
        warning = issue.kind in _WARNING_KINDS
        message = issue.message
        market = self.market_of(jid)
        if market is not None and issue.kind == "rule" and issue.field in self._varying[jid]:
            message += f" (market {market})"
        self.report(path, message, jid, warning=warning, key=issue.kind == "unknown")

    def market_of(self, jid: str) -> str | None:
        """The market of the job being planned, when the matrix has one."""
        return self._markets.get(jid)

    def hash_files(
        self, spec: ModelSpec, inputs: Mapping[str, Any], origin: Mapping[str, Path_], jid: str
    ) -> dict[str, str] | None:
        files: dict[str, str] = {}
        ok = True
        for name, value in inputs.items():
            ispec = spec.inputs.get(name)
            if ispec is None or not ispec.is_file or value is None:
                continue
            paths = value if isinstance(value, list) else [value]
            digests = []
            for item in paths:
                if not isinstance(item, str) or _REMOTE.match(item):
                    continue
                try:
                    digest = self.sources.file_sha256(item)
                except InputError as refused:
                    self.report(origin.get(name, ("shots",)), str(refused), jid)
                    ok = False
                    continue
                if digest is None:
                    self.report(
                        origin.get(name, ("shots",)),
                        f"file {item!r} does not exist "
                        "(paths are relative to the manifest's folder)",
                        jid,
                    )
                    ok = False
                else:
                    digests.append(digest)
            if digests:
                files[name] = digests[0] if not isinstance(value, list) else ",".join(digests)
        return files if ok else None

    def check_warnings(
        self,
        spec: ModelSpec,
        inputs: Mapping[str, Any],
        origin: Mapping[str, Path_],
        shot_path: Path_,
        jid: str,
    ) -> None:
        prompt = str(inputs.get("prompt") or "")
        lines = extract_dialogue(prompt)
        if not lines or "prompt" not in origin:
            return
        prompt_path = origin["prompt"]
        if not spec.has_audio or inputs.get("generate_audio") is not True:
            why = "has no audio" if not spec.has_audio else "runs with generate_audio off"
            self.report(
                prompt_path,
                f"the prompt has quoted dialogue but {spec.ref} {why}: nobody will speak it",
                jid,
                warning=True,
            )
            return
        needed = sum(speaking_seconds(line) for line in lines)
        duration = duration_seconds(inputs)
        if needed > duration:
            self.report(
                prompt_path,
                f"the dialogue needs about {needed:.1f} s to say but the clip is {duration:g} s: "
                "shorten it or use a longer duration",
                jid,
                warning=True,
            )


def _values_key(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        sorted(
            (k, type(v).__name__, v if isinstance(v, str | int | float) else canonical_hash(v))
            for k, v in values.items()
        )
    )


def _one_issue_per_misspelling(issues: Sequence[InputIssue]) -> list[InputIssue]:
    """Drop each missing required input that a close unknown input is the misspelling of.

    The unknown input's did-you-mean already names it: reporting both tells one mistake twice.
    """
    unknown = [issue.field for issue in issues if issue.kind == "unknown"]
    return [
        issue
        for issue in issues
        if not (issue.kind == "required" and did_you_mean(issue.field, unknown))
    ]


def plan_jobs(
    loaded: LoadedManifest,
    registry: ModelRegistry,
    sources: PlanSources,
    picks: Mapping[str, tuple[int, str]] | None = None,
    rerolls: Mapping[str, int] | None = None,
) -> JobPlan:
    """Expand a manifest into its jobs; ManifestError lists every problem with its location.

    `picks` are the reviewed picks of the lock (job id → (take, the take's key when picked)):
    a `{from: SHOT}` without `take:` takes the upstream job's pick while it is still valid for
    the job's key, else its first take. `rerolls` (job id → count, the lock's) are takes beyond
    the manifest's that a `{from: SHOT, take: N}` may name."""
    return _Planner(loaded, registry, sources, picks or {}, rerolls or {}).plan()
