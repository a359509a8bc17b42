"""Soak: no duplicate paid prediction under any fault (issue #10).

Each trial is seeded and reproducible in what it asks for (the fault mix, the kill triggers and
the emulator's dice; thread timing is not). It makes a fresh project (a `.git` folder and a
campaign of J jobs: one shot × markets × aspect ratios on kwaivgi/kling-v2.6, 5 s clips with
audio), serves the bundled emulator on 127.0.0.1 with a fault storm drawn from the seed (lost
create answers, unreadable listing pages, 5xx and dropped connections on creates, polls and
downloads, aborted and interrupted predictions, truncated downloads, 429s), and runs the real
CLI as a user would (`python -m kling_pipe run campaign.yaml --yes`, a fake token,
`REPLICATE_BASE_URL` at the emulator). The run is killed with SIGKILL 1–3 times, each when a
condition drawn from the seed is met (the emulator accepted N more creates, or cut a create's
answer, or served an output download; else after a random delay), then run again until it
exits 0 (at most `MAX_STORM_RUNS` runs under the storm), then once more with every fault off.
Then every prediction is left to finish and the provider's side is read.

What is measured, from the emulator's records (its stats and `GET /v1/predictions`, the
provider's bill) and the project's files:

- **wasted_duplicates**: for each distinct create input (model + input, the emulator's
  `create_key`), the *billable* predictions beyond the first. Billable = `succeeded`, or still
  `starting`/`processing` when the trial ends (they will be billed). `failed`, `aborted` and
  `canceled` predictions are not billed and never count, so a re-create after a model error, an
  interruption or an abort is not waste. A succeeded prediction whose output the provider had
  removed (`data_removed`) before the job was done is a legitimate re-create too and does not
  count (outputs are kept an emulated hour, so none expire here; the count is printed).
  The prediction kept is the one the lock names (else the first created); each other one is
  attributed: `orphan` when kling-pipe's journal never recorded its id (a create it sent and
  lost track of), `known` when it did (it knew of it and paid again anyway). An orphan created
  within `KILL_WINDOW_S` before one of our kills is also counted as "at a kill" (the run died
  between the create and its journal entry; otherwise it is a lost create answer).
- **lost_jobs**: planned jobs without a lock entry in `campaign.lock.json`, or whose clip in
  `out/<name>/<job id>.mp4` is missing or differs from the lock's sha256 or size.
- **unbilled_spend**: what the provider billed (succeeded predictions, plus any still running,
  each at the registry's price for its inputs: 5 s × $0.14/s with audio = $0.70) minus what
  kling-pipe reported as spent over all the trial's runs. A run that wrote `out/<name>/run.json`
  (its bytes changed) reported `summary.spent_usd`. A run killed before writing it reported
  what its journal says it sent: the `cost_usd` of the predictions it added to the journal's
  `predictions` table that ended billable, which is exactly what `spent_usd` counts in a run
  that finishes (a create counts when sent, and is given back when the prediction ends without
  an output). The total is the sum of each trial's absolute difference, so an over-report in
  one trial does not hide an under-report in another.

Trials run `--workers` at a time, each in its own process with its own emulator (they share
only the emulator's render cache); about 3 minutes for the defaults on 2 cores.

Also printed: creates per job (ideal 1.0) for the storm and for a control trial with no fault
and no kill measured in the same run, and how many creates the storm made unavoidable (its
unbilled failed/aborted predictions).

    python benchmarks/soak.py [--trials 50] [--seed 1] [--jobs 6] [--workers 4]

Ends with one line:
    BENCH soak trials=N wasted_duplicates=D lost_jobs=L unbilled_spend=U
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml

from kling_pipe import plan_sync
from kling_pipe.emulator import Emulator, EmulatorConfig, Faults, LatencyRange, create_key
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.pricing import estimate_cost

TOKEN = "r8_soak_token_not_real"
MODEL = "kwaivgi/kling-v2.6"
NAME = "soak"
WORKTREE = Path(__file__).resolve().parents[1]
RATIOS = ("16:9", "9:16", "1:1")
LATENCY = LatencyRange(0.4, 1.6)
RUN_TIMEOUT_S = 120.0  # one CLI run; past it the run is killed and counted as hung
SETTLE_TIMEOUT_S = 20.0  # for the provider's predictions to end once the runs are over
MAX_STORM_RUNS = 3  # runs under the storm after the kills, before the clean run
POLL_S = 0.004
KILL_WINDOW_S = 0.25  # an orphan created this close before a kill is blamed on the kill
LIVE = ("starting", "processing")


# ---------------------------------------------------------------------------- the campaign


def campaign(jobs: int) -> dict[str, Any]:
    """One shot × markets × ratios, trimmed to `jobs` with an `exclude`; every key distinct."""
    count = max(1, math.ceil(jobs / len(RATIOS)))
    markets = {
        f"m{i:02d}": {"product": f"Acme Kettle {i}", "line": f"Boils in {30 + i} seconds."}
        for i in range(count)
    }
    matrix: dict[str, Any] = {"market": list(markets), "aspect_ratio": list(RATIOS)}
    extra = count * len(RATIOS) - jobs
    if extra:
        last = list(markets)[-1]
        matrix["exclude"] = [{"market": last, "aspect_ratio": r} for r in RATIOS[-extra:]]
    return {
        "version": 1,
        "name": NAME,
        "model": MODEL,
        "defaults": {"duration": 5, "generate_audio": True},
        "markets": markets,
        "matrix": matrix,
        "shots": [
            {
                "id": "pour",
                "prompt": 'The {{ product }} pours, slow push-in. A barista says "{{ line }}"',
            }
        ],
        "limits": {"concurrency": 4, "creates_per_minute": 600, "budget_usd": 1000},
    }


def new_project(root: Path, jobs: int) -> Path:
    root.mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "campaign.yaml").write_text(
        yaml.safe_dump(campaign(jobs), allow_unicode=True, sort_keys=False), "utf-8"
    )
    return root


# ---------------------------------------------------------------------------- the storm


@dataclass(frozen=True)
class Kill:
    """When to SIGKILL a run: once `kind` happens `count` more times, else after `delay_s`."""

    kind: str  # "creates", "lost_answer", "download" or "delay"
    count: int = 1
    delay_s: float = 0.0

    def describe(self) -> str:
        return f"{self.kind}+{self.count}" if self.kind != "delay" else f"{self.delay_s:.1f}s"


@dataclass(frozen=True)
class Storm:
    faults: Faults
    creates_per_minute: float | None
    create_burst: int | None
    kills: tuple[Kill, ...]

    def describe(self) -> str:
        f = self.faults
        parts = [
            f"lost={f.lost_create_responses:g}",
            f"list5xx={f.share(f.server_errors, 'predictions.list'):g}",
            f"listdrop={f.share(f.dropped_connections, 'predictions.list'):g}",
            f"create5xx={f.share(f.server_errors, 'models.predictions.create'):g}",
            f"poll5xx={f.share(f.server_errors, 'predictions.get'):g}",
            f"abort={f.aborted:g}",
            f"intr={f.interrupted:g}",
            f"trunc={f.truncated_downloads:g}",
        ]
        if self.creates_per_minute:
            parts.append(f"cpm={self.creates_per_minute:g}/{self.create_burst}")
        return " ".join(parts)


def draw_storm(rng: random.Random, jobs: int) -> Storm:
    """A fault mix and 1–3 kill triggers, every choice from `rng`."""
    pick = rng.choice
    create_errors = pick([0.0, 0.1, 0.25])
    faults = Faults(
        lost_create_responses=pick([0.0, 0.2, 0.4, 0.6]),
        server_errors={
            "predictions.list": pick([0.0, 0.3, 0.6, 0.9]),  # 0.9: a listing outage
            "models.predictions.create": create_errors,
            "predictions.create": create_errors,
            "predictions.get": pick([0.0, 0.1, 0.25]),
        },
        dropped_connections={
            "predictions.list": pick([0.0, 0.3, 0.5]),
            "predictions.get": pick([0.0, 0.1]),
            "output": pick([0.0, 0.1, 0.2]),
        },
        aborted=pick([0.0, 0.1, 0.2]),
        interrupted=pick([0.0, 0.1, 0.2]),
        truncated_downloads=pick([0.0, 0.2, 0.4]),
    )
    limited = rng.random() < 0.5
    kills = []
    for _ in range(rng.randint(1, 3)):
        kind = pick(["creates", "creates", "lost_answer", "download", "delay"])
        kills.append(
            Kill(
                kind,
                count=rng.randint(1, max(1, jobs // 2 + 1)),
                delay_s=rng.uniform(0.2, 3.0),
            )
        )
    return Storm(
        faults=faults,
        creates_per_minute=pick([60.0, 120.0, 240.0]) if limited else None,
        create_burst=rng.randint(1, 3) if limited else None,
        kills=tuple(kills),
    )


# ---------------------------------------------------------------------------- one CLI run


def cli_env(emu: Emulator) -> dict[str, str]:
    """The user's environment, pointed at the emulator and at this worktree's package."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REPLICATE_", "KLING_PIPE_")) and k != "PYTHONPATH"
    }
    env.update(
        PYTHONPATH=str(WORKTREE),
        REPLICATE_API_TOKEN=TOKEN,
        REPLICATE_BASE_URL=emu.base_url,
    )
    return env


def journal_prediction_costs(project: Path) -> dict[str, float]:
    """Every prediction the journal holds: id → the cost it recorded when it was created."""
    path = project / ".kling-pipe/journal.sqlite"
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            rows = db.execute("SELECT id, cost_usd FROM predictions").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {pid: float(cost or 0.0) for pid, cost in rows}


def journal_prediction_ids(project: Path) -> set[str]:
    path = project / ".kling-pipe/journal.sqlite"
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT id FROM predictions")}
    except sqlite3.OperationalError:
        return set()


def lock_prediction_ids(project: Path) -> set[str]:
    try:
        jobs = json.loads((project / "campaign.lock.json").read_text("utf-8"))["jobs"]
    except (FileNotFoundError, ValueError, KeyError):
        return set()
    return {entry["prediction_id"] for entry in jobs.values() if entry.get("prediction_id")}


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@dataclass
class RunOutcome:
    returncode: int | None  # None: killed by us
    reported_usd: float  # a killed run: see `sent`
    wrote_record: bool
    seconds: float
    hung: bool = False
    killed_at: float | None = None  # epoch seconds of our SIGKILL
    sent: dict[str, float] = field(default_factory=dict)
    """A killed run: the predictions it journaled (id → cost); what ended billable is counted."""


def trigger(emu: Emulator, kill: Kill) -> Callable[[], bool]:
    """A condition that holds once `kill`'s event has happened `count` more times from now."""

    def creates(stats: dict[str, Any]) -> int:
        return int(stats["creates"])

    def lost(stats: dict[str, Any]) -> int:
        return sum(n for k, n in stats["faults"].items() if k.endswith(":lost_response"))

    def downloads(stats: dict[str, Any]) -> int:
        return int(stats["requests"].get("output", 0))

    if kill.kind == "delay":
        deadline = time.monotonic() + kill.delay_s
        return lambda: time.monotonic() >= deadline
    measure = {"creates": creates, "lost_answer": lost, "download": downloads}[kill.kind]
    target = measure(emu.stats()) + kill.count
    fallback = time.monotonic() + kill.delay_s + 4.0  # the event may never come
    return lambda: measure(emu.stats()) >= target or time.monotonic() >= fallback


def run_cli(project: Path, emu: Emulator, kill: Kill | None) -> RunOutcome:
    """One `kling-pipe run`, killed with SIGKILL when `kill`'s condition holds (if it does
    before the run ends), and what it reported as spent."""
    record_path = project / "out" / NAME / "run.json"
    record_before = read_bytes(record_path)
    predictions_before = journal_prediction_costs(project)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "kling_pipe", "run", "campaign.yaml", "--yes"],
        cwd=project,
        env=cli_env(emu),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: a kill takes its ffprobe children too
    )
    condition = trigger(emu, kill) if kill is not None else None
    killed = hung = False
    killed_at = None
    try:
        while process.poll() is None:
            if condition is not None and condition():
                killed = True
                break
            if time.monotonic() - started > RUN_TIMEOUT_S:
                killed = hung = True
                break
            time.sleep(POLL_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            killed_at = time.time()
        process.wait()
    seconds = time.monotonic() - started
    record_after = read_bytes(record_path)
    wrote = record_after is not None and record_after != record_before
    sent: dict[str, float] = {}
    if wrote:
        assert record_after is not None
        reported = float(json.loads(record_after)["summary"]["spent_usd"])
    else:
        sent = {
            pid: cost
            for pid, cost in journal_prediction_costs(project).items()
            if pid not in predictions_before
        }
        reported = 0.0  # settled in `run_trial` once the predictions' final states are known
    return RunOutcome(
        sent=sent,
        returncode=None if killed else process.returncode,
        reported_usd=reported,
        wrote_record=wrote,
        seconds=seconds,
        hung=hung,
        killed_at=killed_at if killed and not hung else None,
    )


# ---------------------------------------------------------------------------- the bill


def listing(emu: Emulator) -> list[dict[str, Any]]:
    """Every prediction on the account, from `GET /v1/predictions` (every page)."""
    found: list[dict[str, Any]] = []
    url: str | None = f"{emu.base_url}/v1/predictions"
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        while url:
            page = client.get(url)
            page.raise_for_status()
            body = page.json()
            found.extend(body["results"])
            url = body.get("next")
    return found


def settle(emu: Emulator) -> list[dict[str, Any]]:
    """The listing once no prediction is still starting or processing (or the time is up)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        predictions = listing(emu)
        if not any(p["status"] in LIVE for p in predictions) or time.monotonic() > deadline:
            return predictions
        time.sleep(0.1)


def price(prediction: dict[str, Any]) -> float:
    spec = bundled_registry().get(prediction["model"])
    assert spec is not None, prediction["model"]
    return estimate_cost(spec, {**spec.defaults(), **prediction["input"]})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def lost_jobs(project: Path, job_ids: list[str]) -> list[str]:
    """Planned jobs without a lock entry or a clip matching it."""
    try:
        lock = json.loads((project / "campaign.lock.json").read_text("utf-8"))["jobs"]
    except (FileNotFoundError, ValueError, KeyError):
        return list(job_ids)
    lost = []
    for job_id in job_ids:
        entry = lock.get(job_id)
        clip = project / "out" / NAME / f"{job_id}.mp4"
        if (
            not entry
            or not clip.is_file()
            or clip.stat().st_size != entry.get("bytes")
            or sha256(clip) != entry.get("output_sha256")
        ):
            lost.append(job_id)
    return lost


# ---------------------------------------------------------------------------- one trial


@dataclass
class Trial:
    index: int
    storm: str | None  # the storm's description; None for the baseline
    runs: list[RunOutcome] = field(default_factory=list)
    creates: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    wasted: int = 0
    wasted_orphans: int = 0
    wasted_at_kill: int = 0  # of the orphans: created in the last moments before a kill
    expired: int = 0
    lost: list[str] = field(default_factory=list)
    billed_usd: float = 0.0
    reported_usd: float = 0.0
    clean_run_needed: bool = False
    final_code: int | None = None
    seconds: float = 0.0
    faults_served: int = 0
    lost_answers: int = 0

    @property
    def unbilled_usd(self) -> float:
        return round(self.billed_usd - self.reported_usd, 4)

    def line(self) -> str:
        kills = sum(r.returncode is None and not r.hung for r in self.runs)
        hung = sum(r.hung for r in self.runs)
        wasted = f"{self.wasted}"
        if self.wasted:
            wasted += (
                f" ({self.wasted_orphans} orphan [{self.wasted_at_kill} at a kill], "
                f"{self.wasted - self.wasted_orphans} known)"
            )
        label = "baseline" if self.storm is None else f"trial {self.index:02d}"
        text = (
            f"{label}: runs={len(self.runs)} kills={kills} "
            f"exit={self.final_code}{' clean-run' if self.clean_run_needed else ''}"
            f"{f' hung={hung}' if hung else ''} creates={self.creates} "
            f"[{' '.join(f'{k}={v}' for k, v in sorted(self.statuses.items()))}] "
            f"faults={self.faults_served} (lost answers {self.lost_answers}) "
            f"wasted={wasted} lost={len(self.lost)} "
            f"billed=${self.billed_usd:.2f} reported=${self.reported_usd:.2f} "
            f"unbilled=${self.unbilled_usd:+.2f} {self.seconds:.1f}s"
        )
        if self.expired:
            text += f" expired={self.expired}"
        if self.storm is not None:
            text += f"\n    storm: {self.storm}"
        if self.lost:
            text += f"\n    lost: {', '.join(self.lost)}"
        return text


def created_at_a_kill(prediction: dict[str, Any], runs: list[RunOutcome]) -> bool:
    """Whether `prediction` was created within `KILL_WINDOW_S` before one of our kills: the
    create was accepted, and the run died before it could journal the answer."""
    created = datetime.fromisoformat(prediction["created_at"].replace("Z", "+00:00")).timestamp()
    return any(
        r.killed_at is not None and r.killed_at - KILL_WINDOW_S <= created <= r.killed_at
        for r in runs
    )


def run_trial(
    index: int, storm: Storm | None, seed: int, root: Path, data_dir: Path, job_ids: list[str]
) -> Trial:
    started = time.monotonic()
    described = None
    if storm is not None:
        described = f"{storm.describe()} kills@{','.join(k.describe() for k in storm.kills)}"
    trial = Trial(index, described)
    project = new_project(root / f"trial-{index:03d}", len(job_ids))
    config = EmulatorConfig(
        latency=LATENCY,
        render_height=32,
        render_workers=2,
        token=TOKEN,
        seed=seed,
        data_dir=data_dir,
    )
    with Emulator(config) as emu:
        if storm is not None:
            emu.configure(
                faults=storm.faults,
                creates_per_minute=storm.creates_per_minute,
                create_burst=storm.create_burst,
            )
            for kill in storm.kills:
                trial.runs.append(run_cli(project, emu, kill))
                if trial.runs[-1].returncode == 0:
                    break  # it finished before the moment came: nothing left to kill
            for _ in range(MAX_STORM_RUNS):
                if trial.runs[-1].returncode == 0:
                    break
                trial.runs.append(run_cli(project, emu, None))
        if not trial.runs or trial.runs[-1].returncode != 0:
            trial.clean_run_needed = storm is not None
            emu.configure(faults=Faults(), creates_per_minute=None, create_burst=None)
            trial.runs.append(run_cli(project, emu, None))
        trial.final_code = trial.runs[-1].returncode
        emu.configure(faults=Faults(), creates_per_minute=None, create_burst=None)
        stats = emu.stats()
        trial.faults_served = sum(stats["faults"].values())
        trial.lost_answers = sum(
            n for k, n in stats["faults"].items() if k.endswith(":lost_response")
        )
        predictions = settle(emu)
        trial.creates = len(predictions)
        assert trial.creates == emu.stats()["creates"], "the listing misses accepted creates"
    journaled = journal_prediction_ids(project)
    locked = lock_prediction_ids(project)
    by_input: dict[str, list[dict[str, Any]]] = {}
    for prediction in predictions:
        trial.statuses[prediction["status"]] += 1
        by_input.setdefault(create_key(prediction["model"], prediction["input"]), []).append(
            prediction
        )
        if prediction["status"] == "succeeded" or prediction["status"] in LIVE:
            trial.billed_usd += price(prediction)
    for group in by_input.values():
        billable = [p for p in group if p["status"] in ("succeeded", *LIVE)]
        expired = [p for p in billable if p.get("data_removed")]
        trial.expired += len(expired)
        # The one kept is the one the lock names (else the first created); the rest are waste.
        kept = sorted(
            (p for p in billable if not p.get("data_removed")),
            key=lambda p: (p["id"] not in locked, p["created_at"]),
        )
        extra = kept[1:]
        trial.wasted += len(extra)
        orphans = [p for p in extra if p["id"] not in journaled]
        trial.wasted_orphans += len(orphans)
        trial.wasted_at_kill += sum(created_at_a_kill(p, trial.runs) for p in orphans)
    trial.lost = lost_jobs(project, job_ids)
    billable = {p["id"] for p in predictions if p["status"] == "succeeded" or p["status"] in LIVE}
    for outcome in trial.runs:
        outcome.reported_usd += sum(c for pid, c in outcome.sent.items() if pid in billable)
    trial.reported_usd = round(sum(r.reported_usd for r in trial.runs), 4)
    trial.billed_usd = round(trial.billed_usd, 4)
    trial.seconds = time.monotonic() - started
    return trial


# ---------------------------------------------------------------------------- main


def storm_trial(seed: int, index: int, root: Path, data_dir: Path, job_ids: list[str]) -> Trial:
    """Trial `index` of the run seeded `seed`: its storm and its emulator's dice from the seed."""
    rng = random.Random(f"{seed}:{index}")
    storm = draw_storm(rng, len(job_ids))
    return run_trial(index, storm, rng.randrange(2**31), root, data_dir, job_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument(
        "--workers", type=int, default=4, help="trials run side by side (each in a process)"
    )
    args = parser.parse_args()

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kling-soak-") as tmp:
        root = Path(tmp)
        data_dir = root / "emulator"  # shared: a render is made once for every trial
        planned = new_project(root / "plan", args.jobs)
        job_ids = sorted(p.job.id for p in plan_sync(planned / "campaign.yaml").jobs)
        print(
            f"soak: {args.trials} trials of {len(job_ids)} jobs, seed {args.seed}, "
            f"{args.workers} at a time",
            flush=True,
        )
        # Alone, first: it also makes the renders every later trial reuses.
        baseline = run_trial(0, None, args.seed, root, data_dir, job_ids)
        print(baseline.line(), flush=True)

        trials = []
        work = partial(storm_trial, args.seed, root=root, data_dir=data_dir, job_ids=job_ids)
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for trial in pool.map(work, range(1, args.trials + 1)):
                trials.append(trial)
                print(trial.line(), flush=True)
    jobs_total = len(job_ids) * len(trials)
    creates = sum(t.creates for t in trials)
    unbillable = sum(
        n for t in trials for s, n in t.statuses.items() if s not in ("succeeded", *LIVE)
    )
    wasted = sum(t.wasted for t in trials)
    orphans = sum(t.wasted_orphans for t in trials)
    at_kill = sum(t.wasted_at_kill for t in trials)
    lost = sum(len(t.lost) for t in trials)
    unbilled = round(sum(abs(t.unbilled_usd) for t in trials), 2)
    base_ratio = baseline.creates / len(job_ids)
    storm_ratio = creates / jobs_total if jobs_total else 0.0
    kills = sum(r.returncode is None and not r.hung for t in trials for r in t.runs)
    print(
        f"totals: {len(trials)} trials, {jobs_total} jobs, {kills} kills, "
        f"{sum(len(t.runs) for t in trials)} runs, "
        f"{sum(t.clean_run_needed for t in trials)} needed the clean run, "
        f"{sum(t.final_code != 0 for t in trials)} did not end with exit 0"
    )
    print(
        f"creates per job: storm {storm_ratio:.3f} (of which unbilled failed/aborted "
        f"{unbillable / jobs_total if jobs_total else 0:.3f}; ideal billable 1.000), "
        f"baseline without faults {base_ratio:.3f}; storm/baseline {storm_ratio / base_ratio:.2f}x"
    )
    print(
        f"wasted duplicates: {wasted} ({orphans} orphans unknown to the journal, {at_kill} of "
        f"them created just before a kill, "
        f"{wasted - orphans} known); lost jobs: {lost}; "
        f"billed ${sum(t.billed_usd for t in trials):.2f}, "
        f"reported ${sum(t.reported_usd for t in trials):.2f}, "
        f"|unbilled| ${unbilled:.2f}; baseline wasted={baseline.wasted} "
        f"lost={len(baseline.lost)} unbilled=${baseline.unbilled_usd:+.2f}; "
        f"{time.monotonic() - began:.0f}s"
    )
    print(
        f"BENCH soak trials={len(trials)} wasted_duplicates={wasted} lost_jobs={lost} "
        f"unbilled_spend={unbilled:.2f}"
    )


if __name__ == "__main__":
    main()
