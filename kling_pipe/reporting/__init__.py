"""Seeing a run's results: the HTML gallery for people and JUnit XML for CI servers."""

from __future__ import annotations

from kling_pipe.reporting.junit import write_junit
from kling_pipe.reporting.writing import write_report

__all__ = ["write_junit", "write_report"]
