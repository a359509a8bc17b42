"""run.json is written a job at a time, and its bytes are still `json.dumps(record, indent=2)`."""

from __future__ import annotations

import json
from pathlib import Path

from kling_pipe.running.record import (
    CutRun,
    JobRun,
    RunRecord,
    RunSummary,
    read_record,
    record_bytes,
    write_record,
)


def whole(record: RunRecord) -> bytes:
    return (
        json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    ).encode()


def test_run_json_written_a_job_at_a_time_has_the_bytes_of_the_whole_dump(tmp_path: Path) -> None:
    jobs = [
        JobRun(
            id=f"shot/ü/{i}",
            key="k",
            status="failed" if i == 1 else "done",
            notes=["line\none", 'quoted "jobs": []'] if i % 2 else [],
            error='a "reason"' if i == 1 else None,
        )
        for i in range(3)
    ]
    cut = CutRun(id="spot/us", cut="spot", status="done", values={"market": "us", "n": [1, {}]})
    records = [
        RunRecord(
            manifest='odd "jobs": [] name',
            backend="preview",
            status="ok",
            exit_code=0,
            jobs=[],
            summary=RunSummary(),
        ),
        RunRecord(
            manifest="mü",
            backend="replicate",
            status="failed",
            exit_code=1,
            jobs=jobs,
            summary=RunSummary(jobs=3, done=2, failed=1),
            cuts=[cut],
            warnings=["careful\n"],
        ),
    ]
    for record in records:
        assert record_bytes(record) == whole(record)
        path = tmp_path / f"{record.backend}.json"
        write_record(path, record, [])
        assert path.read_bytes() == whole(record)
        assert read_record(path) == record
