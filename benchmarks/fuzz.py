"""Fuzzing the command line with hostile manifests: tracebacks and hangs, counted.

Each case is a seeded mutation of a valid manifest (`tests/fuzzing.py`: YAML tags and scalars,
alias bombs, deep nesting, values of the wrong type, huge matrices, template bombs, endless
includes, links to /proc and /etc, pipes, path-steering matrix values). Worker processes run
every case through kling-pipe's own `validate` or `plan --json` command (half the cases each,
typer's runner, in-process for throughput); a sample also runs as a real `kling-pipe validate`
process.

A traceback is any exception other than kling-pipe's errors turned into their exit status, or an
exit status other than 0 or 2. A hang is a case over the per-case limit: its worker is killed and
replaced. Workers run under a memory limit, so a blow-up shows as a traceback, not a dead host.

    python benchmarks/fuzz.py [--cases 10000] [--seed 10] [--workers 2] [--timeout 10]

Ends with one line: BENCH fuzz cases=N tracebacks=T hangs=H
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import random
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fuzzing import make_campaign, mutate, write_case  # noqa: E402

MEMORY_LIMIT = 4 << 30


def case_text(seed: int, index: int) -> str:
    """The manifest of case `index`: the same for the same seed, on any machine."""
    return mutate(random.Random(f"{seed}:{index}"))


def _worker(seed: int, folder: str, tasks: Any, results: Any) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from typer.testing import CliRunner

    from kling_pipe.cli import planning  # noqa: F401 (registers the commands)
    from kling_pipe.cli.app import app

    manifest = make_campaign(Path(folder))
    os.chdir(folder)  # the manifest's store and output folders are relative to it
    runner = CliRunner()
    while True:
        index = tasks.get()
        if index is None:
            return
        text = case_text(seed, index)  # making the case is the fuzzer's time, not kling-pipe's
        # CLOCK_MONOTONIC is one clock for every process on the machine.
        results.put(("start", os.getpid(), index, time.monotonic()))
        write_case(manifest, text)
        outcome, detail = "ok", ""
        # Half the cases through `validate`, half through `plan --json` (which does more).
        commands = (["validate", str(manifest)], ["plan", str(manifest), "--json"])
        for args in [commands[index % 2]]:
            try:
                result = runner.invoke(app, args, catch_exceptions=True)
            except BaseException:  # the runner itself: count it, keep going
                outcome, detail = "traceback", traceback.format_exc(limit=4)
                break
            error = result.exception
            if error is not None and not isinstance(error, SystemExit):
                tb = "".join(traceback.format_exception(error, limit=-3))
                outcome, detail = "traceback", f"{args[0]}: {tb}"
                break
            if result.exit_code not in (0, 2):
                outcome, detail = "traceback", f"{args[0]}: exit {result.exit_code}"
                break
        results.put(("done", os.getpid(), index, outcome, detail))


Outcomes = dict[int, tuple[str, str]]


def run_in_workers(cases: int, seed: int, workers: int, timeout: float) -> Outcomes:
    """Every case's outcome ("ok", "traceback", "hang") and detail, by index."""
    context = mp.get_context("fork")
    tasks: Any = context.Queue()
    results: Any = context.Queue()
    for index in range(cases):
        tasks.put(index)
    root = Path(tempfile.mkdtemp(prefix="kling-fuzz-"))
    processes: dict[int, Any] = {}
    running: dict[int, tuple[int, float]] = {}  # pid → (case, started)
    outcomes: Outcomes = {}
    spawned = 0

    def spawn() -> None:
        nonlocal spawned
        spawned += 1
        folder = root / f"w{spawned}" / "campaign"
        process = context.Process(target=_worker, args=(seed, str(folder), tasks, results))
        process.start()
        processes[process.pid] = process

    for _ in range(workers):
        spawn()
    last_report = progress = time.monotonic()
    while len(outcomes) < cases:
        messages = []
        try:
            messages.append(results.get(timeout=0.5))
            while True:  # everything already reported, before judging anyone slow
                messages.append(results.get_nowait())
        except queue.Empty:
            pass
        now = time.monotonic()
        for message in messages:
            if message[0] == "start":
                running[message[1]] = (message[2], message[3])
            else:
                _, pid, index, outcome, detail = message
                running.pop(pid, None)
                outcomes[index] = (outcome, detail)
        for pid, (index, started) in list(running.items()):
            if now - started > timeout:
                processes[pid].kill()
                processes[pid].join()
                del running[pid], processes[pid]
                outcomes[index] = ("hang", f"over {timeout:g} s")
                spawn()
        for pid, process in list(processes.items()):
            if process.is_alive():
                continue
            del processes[pid]  # died (a signal, the memory limit): the case is a failure
            if pid in running:
                index, _ = running.pop(pid)
                outcomes[index] = ("traceback", f"worker died with exit {process.exitcode}")
            spawn()
        if messages:
            progress = now
        elif now - progress > 5 * timeout:  # nothing heard at all: count what is left as hung
            for index in set(range(cases)) - set(outcomes):
                outcomes[index] = ("hang", "no worker reported it")
        if now - last_report > 30:
            last_report = now
            print(f"  {len(outcomes):,}/{cases:,} cases", file=sys.stderr, flush=True)
    for _ in processes:
        tasks.put(None)
    for process in processes.values():
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    return outcomes


def run_as_processes(indices: list[int], seed: int, timeout: float) -> Outcomes:
    """The sample run through `python -m kling_pipe validate` as a user would."""
    outcomes: Outcomes = {}
    with tempfile.TemporaryDirectory(prefix="kling-fuzz-cli-") as tmp:
        manifest = make_campaign(Path(tmp) / "campaign")
        env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        for index in indices:
            write_case(manifest, case_text(seed, index))
            command = [sys.executable, "-m", "kling_pipe", "validate", str(manifest)]
            try:
                done = subprocess.run(
                    command,
                    cwd=manifest.parent,
                    env=env,
                    capture_output=True,
                    text=True,
                    errors="replace",
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                outcomes[index] = ("hang", f"process over {timeout:g} s")
                continue
            if "Traceback" in done.stderr or done.returncode not in (0, 2):
                outcomes[index] = ("traceback", f"exit {done.returncode}: {done.stderr[-800:]}")
            else:
                outcomes[index] = ("ok", "")
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--workers", type=int, default=max(2, min(8, os.cpu_count() or 2)))
    parser.add_argument("--timeout", type=float, default=10.0, help="Seconds a case may take.")
    parser.add_argument("--processes", type=int, default=20, help="Cases also run as processes.")
    args = parser.parse_args()

    started = time.monotonic()
    outcomes = run_in_workers(args.cases, args.seed, args.workers, args.timeout)
    in_process = time.monotonic() - started
    sample = random.Random(args.seed).sample(range(args.cases), min(args.processes, args.cases))
    as_processes = run_as_processes(sample, args.seed, args.timeout)
    for index, (outcome, detail) in as_processes.items():
        if outcome != "ok" and outcomes[index][0] == "ok":
            outcomes[index] = (outcome, f"as a process: {detail}")

    hangs = [index for index, (outcome, _) in outcomes.items() if outcome == "hang"]
    for index, (outcome, detail) in run_as_processes(hangs, args.seed, args.timeout).items():
        # Still counted as a hang: this only tells a stall of the machine from a real one.
        print(f"case {index} hung; alone, as a process: {outcome} {detail}".rstrip())

    counts = Counter(outcome for outcome, _ in outcomes.values())
    shown = 0
    for index, (outcome, detail) in sorted(outcomes.items()):
        if outcome != "ok" and shown < 10:
            shown += 1
            print(f"--- case {index} ({outcome}):\n{case_text(args.seed, index)[:600]}\n{detail}")
    print(
        f"{len(outcomes):,} cases in {in_process:.0f} s in {args.workers} workers "
        f"({in_process / len(outcomes) * 1000 * args.workers:.0f} ms a case), "
        f"{len(as_processes)} also as `kling-pipe validate` processes"
    )
    print(
        f"BENCH fuzz cases={len(outcomes)} tracebacks={counts['traceback']} hangs={counts['hang']}"
    )


if __name__ == "__main__":
    main()
