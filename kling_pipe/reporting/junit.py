"""A run as JUnit XML: one test case per job (and per rough cut), for CI servers to display.

The document follows the Ant/JUnitReport schema that Jenkins, GitLab and GitHub test reporters
read: a `testsuites` root holding a `jobs` suite and, when the run stitched, a `cuts` suite. A job
that failed carries the server's reason as its failure message; a refused job is a failure too
(no clip came out of it), a canceled one an error.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kling_pipe.durable import write_atomically
from kling_pipe.running.record import JobRun, RunRecord
from kling_pipe.takes import take_id

# XML 1.0 cannot carry most control characters, and a server's error text may contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Verdict:
    """How one job or cut reads in JUnit: passed, or failed/errored/skipped with a reason."""

    outcome: str  # "passed", "failure", "error" or "skipped"
    kind: str  # the failure's `type`: the run status, e.g. "failed", "refused"
    message: str
    details: str


def job_verdict(job: JobRun) -> Verdict:
    """What a job's run status means to a CI server."""
    if job.status in ("done", "cached"):
        return Verdict("passed", job.status, "", "")
    lines = [f"{job.id}: {job.status}"]
    if job.error:
        lines.append(job.error)
    if job.prediction_id:
        lines.append(f"prediction {job.prediction_id}")
    lines.append(f"attempts {job.attempts}")
    lines += job.notes
    reason = job.error or job.status
    outcome = "error" if job.status == "canceled" else "failure"
    return Verdict(outcome, job.status, reason, "\n".join(lines))


def cut_verdict(cut: Mapping[str, Any]) -> Verdict:
    """What a rough cut's status (done, failed, missing) means to a CI server."""
    status = str(cut.get("status", "done"))
    if status == "done":
        return Verdict("passed", status, "", "")
    missing = ", ".join(map(str, cut.get("missing") or ()))
    reason = str(cut.get("error") or (f"no clip for {missing}" if missing else status))
    outcome = "skipped" if status == "missing" else "failure"
    return Verdict(outcome, status, reason, f"{cut.get('id', '?')}: {status}\n{reason}")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", text)


def _suite(
    *,
    index: int,
    name: str,
    package: str,
    cases: Sequence[tuple[str, str, float, Verdict]],
    seconds: float,
    timestamp: str,
    hostname: str,
    properties: Mapping[str, str],
    out_text: str,
    err_text: str,
) -> ET.Element:
    counts = {
        o: sum(1 for *_, v in cases if v.outcome == o) for o in ("failure", "error", "skipped")
    }
    suite = ET.Element(
        "testsuite",
        {
            "name": name,
            "package": package,
            "id": str(index),
            "timestamp": timestamp,
            "hostname": hostname,
            "tests": str(len(cases)),
            "failures": str(counts["failure"]),
            "errors": str(counts["error"]),
            "skipped": str(counts["skipped"]),
            "time": f"{seconds:.3f}",
        },
    )
    props = ET.SubElement(suite, "properties")
    for key, value in properties.items():
        ET.SubElement(props, "property", {"name": key, "value": _clean(value)})
    for classname, case_name, case_seconds, verdict in cases:
        case = ET.SubElement(
            suite,
            "testcase",
            {"name": case_name, "classname": classname, "time": f"{case_seconds:.3f}"},
        )
        if verdict.outcome == "skipped":
            ET.SubElement(case, "skipped", {"message": _clean(verdict.message)})
        elif verdict.outcome != "passed":
            detail = ET.SubElement(
                case, verdict.outcome, {"type": verdict.kind, "message": _clean(verdict.message)}
            )
            detail.text = _clean(verdict.details)
    ET.SubElement(suite, "system-out").text = _clean(out_text)
    ET.SubElement(suite, "system-err").text = _clean(err_text)
    return suite


def _cuts_of(record: RunRecord) -> list[Mapping[str, Any]]:
    return [cut.model_dump() for cut in record.cuts]


def junit_xml(record: RunRecord, *, timestamp: datetime, hostname: str = "localhost") -> bytes:
    """The JUnit XML document of a run, as UTF-8 bytes. Pure: time and host are passed in."""
    stamp = timestamp.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()
    host = hostname.strip() or "localhost"
    s = record.summary
    properties = {
        "manifest": record.manifest,
        "backend": record.backend,
        "status": record.status,
        "exit_code": str(record.exit_code),
        "generations": str(s.generations),
        "spent_usd": f"{s.spent_usd:.2f}",
    }
    summary = (
        f"{record.status}: {s.done} generated, {s.cached} already stored, {s.failed} failed, "
        f"{s.refused} refused, {s.canceled} canceled; spent ${s.spent_usd:.2f} in {s.seconds:.1f}s"
    )
    root = ET.Element("testsuites")
    root.append(
        _suite(
            index=0,
            name="jobs",
            package=record.manifest,
            cases=[
                (
                    f"{record.manifest}.{job.id.split('/')[0]}",
                    take_id(job.id, job.take),
                    job.seconds,
                    job_verdict(job),
                )
                for job in record.jobs
            ],
            seconds=s.seconds,
            timestamp=stamp,
            hostname=host,
            properties=properties,
            out_text=summary,
            err_text="\n".join(record.warnings),
        )
    )
    cuts = _cuts_of(record)
    if cuts:
        root.append(
            _suite(
                index=1,
                name="cuts",
                package=record.manifest,
                cases=[
                    (
                        f"{record.manifest}.cut.{cut.get('cut', 'cut')}",
                        str(cut.get("id", "?")),
                        float(cut.get("seconds") or 0.0),
                        cut_verdict(cut),
                    )
                    for cut in cuts
                ],
                seconds=sum(float(c.get("seconds") or 0.0) for c in cuts),
                timestamp=stamp,
                hostname=host,
                properties=properties,
                out_text="",
                err_text="",
            )
        )
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"


def write_junit(record: RunRecord, path: Path) -> None:
    """Write the run's JUnit XML to `path` (atomically), stamped with the time and host now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = junit_xml(record, timestamp=datetime.now(UTC), hostname=socket.gethostname())
    write_atomically(path, document)
