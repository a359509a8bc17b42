"""Loudness normalisation to a LUFS target: two-pass EBU R128 `loudnorm`, in linear mode, checked.

One-pass loudnorm misses the target by up to 2 LU and squashes dynamics; the second pass with
the first pass's measurements applies one linear gain and lands on the target. Linear mode
quietly falls back to dynamic compression when the target range is narrower than the source's
(or the gain would break the true-peak ceiling), so the second pass's report is read back and
the landing checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kling_pipe.errors import InputError, MediaError

LoudnessMode = Literal["linear", "dynamic", "corrected"]
"""How a cut reached its loudness target (see `LoudnessReport.mode`)."""

TRUE_PEAK_DB = -1.5
"""True-peak ceiling (dBTP) for normalised output, the streaming platforms' usual."""
TOLERANCE_LU = 0.5
"""How far the output may land from the target before it counts as a failure."""

_JSON_BLOCK = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.DOTALL)
_EBUR128_SUMMARY_I = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(?P<i>-?[\d.]+|-inf) LUFS")
_EBUR128_SUMMARY_TP = re.compile(r"True peak:\s*\n\s*Peak:\s*(?P<tp>-?[\d.]+|-inf) dBFS")
PEAK_MARGIN_DB = 0.2
"""Headroom below the ceiling that a correction aims at: re-encoding moves the peak a little."""


@dataclass(frozen=True)
class LoudnessMeasurement:
    """What loudnorm's first pass measured: integrated, true peak, range, gate threshold."""

    integrated: float
    true_peak: float
    lra: float
    threshold: float
    offset: float


@dataclass(frozen=True)
class LoudnessReport:
    """The outcome of a two-pass normalisation."""

    target: float
    measured: float
    """The source's integrated loudness (LUFS) before normalisation."""
    output: float
    """The integrated loudness (LUFS) of the output: loudnorm's reading, then (once the cut is
    encoded) ebur128's reading of the encoded file."""
    normalization_type: str
    """loudnorm's own: `linear` (one gain, dynamics kept) or `dynamic` (it fell back to
    compressing, because one gain would break the true-peak ceiling or the range)."""
    true_peak: float | None = None
    """True peak (dBTP) of the encoded sound, read back from the file (AAC overshoots)."""
    correction_db: float = 0.0
    """Gain (dB, negative) applied after loudnorm so the encoded true peak keeps the ceiling."""

    @property
    def mode(self) -> LoudnessMode:
        """How the target was reached: `linear`, `dynamic` (anything but linear counts as
        loudnorm's fallback), or `corrected` (a gain after loudnorm brought the encoded true
        peak back under the ceiling)."""
        if self.correction_db:
            return "corrected"
        return "linear" if self.normalization_type == "linear" else "dynamic"


def check_target(lufs: float) -> float:
    """The target, if it is one loudnorm accepts; InputError otherwise."""
    if not -70.0 <= lufs <= -5.0:
        raise InputError(f"loudness target {lufs} LUFS: must be between -70 and -5 (e.g. -14)")
    return lufs


def measure_options(target: float) -> dict[str, str]:
    """loudnorm options for the first pass: measure and print JSON."""
    return {"I": f"{target:g}", "TP": f"{TRUE_PEAK_DB:g}", "LRA": "20", "print_format": "json"}


def normalise_options(target: float, measured: LoudnessMeasurement) -> dict[str, str]:
    """loudnorm options for the second pass: one linear gain from the first pass's measurements.

    The range target is raised above the source's so linear mode is not refused for it. Follow
    loudnorm with `aresample` to the house rate: it outputs 192 kHz.
    """
    lra = min(50.0, max(20.0, measured.lra + 1.0))
    return {
        "I": f"{target:g}",
        "TP": f"{TRUE_PEAK_DB:g}",
        "LRA": f"{lra:g}",
        "measured_I": f"{measured.integrated:g}",
        "measured_TP": f"{measured.true_peak:g}",
        "measured_LRA": f"{measured.lra:g}",
        "measured_thresh": f"{measured.threshold:g}",
        "offset": f"{measured.offset:g}",
        "linear": "true",
        "print_format": "json",
    }


def parse_loudnorm_report(stderr: str) -> Mapping[str, str]:
    """The JSON block loudnorm prints at the end of a pass; MediaError if there is none."""
    blocks = _JSON_BLOCK.findall(stderr)
    if not blocks:
        raise MediaError("loudnorm printed no measurement (was the audio empty?)")
    report: dict[str, str] = json.loads(blocks[-1])
    return report


def parse_measurement(stderr: str) -> LoudnessMeasurement:
    """The first pass's measurement from its stderr."""
    report = parse_loudnorm_report(stderr)
    values = {
        name: _number(report, name)
        for name in ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")
    }
    if values["input_i"] == float("-inf"):
        raise MediaError("the cut is silent: there is no loudness to normalise")
    return LoudnessMeasurement(
        integrated=values["input_i"],
        true_peak=values["input_tp"],
        lra=values["input_lra"],
        threshold=values["input_thresh"],
        offset=values["target_offset"],
    )


def parse_outcome(stderr: str, target: float, measured: LoudnessMeasurement) -> LoudnessReport:
    """The second pass's report; MediaError when the output misses the target."""
    report = parse_loudnorm_report(stderr)
    outcome = LoudnessReport(
        target=target,
        measured=measured.integrated,
        output=_number(report, "output_i"),
        normalization_type=str(report.get("normalization_type", "unknown")).lower(),
    )
    if abs(outcome.output - target) > TOLERANCE_LU:
        raise MediaError(
            f"loudness normalisation landed at {outcome.output:.1f} LUFS, not {target:g} "
            f"(source {measured.integrated:.1f} LUFS, {outcome.normalization_type} mode): "
            "the source may be too quiet or too peaky for a linear gain"
        )
    return outcome


def parse_integrated(stderr: str) -> float:
    """Integrated loudness from the `ebur128` filter's summary (an independent reading)."""
    match = _EBUR128_SUMMARY_I.search(stderr)
    if match is None:
        raise MediaError("ebur128 printed no integrated loudness")
    return float(match["i"])


def encoded_check_filter() -> str:
    """The filter that reads an encoded cut's integrated loudness and true peak (ebur128)."""
    return "ebur128=peak=true"


def parse_true_peak(stderr: str) -> float:
    """True peak (dBTP) from the `ebur128=peak=true` filter's summary."""
    match = _EBUR128_SUMMARY_TP.search(stderr)
    if match is None:
        raise MediaError("ebur128 printed no true peak")
    return float(match["tp"])


def peak_correction(true_peak: float) -> float:
    """Gain (dB) that brings an encoded `true_peak` under the ceiling with a margin; 0 if it is
    already under. The integrated loudness drops by as much: the ceiling wins over the target."""
    if true_peak <= TRUE_PEAK_DB:
        return 0.0
    return round(TRUE_PEAK_DB - PEAK_MARGIN_DB - true_peak, 2)


def _number(report: Mapping[str, str], name: str) -> float:
    try:
        return float(report[name])
    except (KeyError, ValueError) as exc:
        raise MediaError(f"loudnorm report lacks a number for {name}: {report}") from exc
