"""How an emulator behaves: where it listens, how slow it is and which faults it serves."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from kling_pipe.errors import InputError

# Route names are the operation ids of Replicate's OpenAPI description, plus the file host.
ROUTES = (
    "models.predictions.create",
    "predictions.create",
    "predictions.get",
    "predictions.list",
    "predictions.cancel",
    "models.get",
    "models.versions.get",
    "files.create",
    "files.get",
    "webhooks.default.secret.get",
    "output",
)

_NUMBER = r"\d+(?:\.\d+)?"


@dataclass(frozen=True)
class LatencyRange:
    """Seconds from create to completion, drawn uniformly between `low` and `high`."""

    low: float = 0.5
    high: float = 2.0

    def __post_init__(self) -> None:
        if self.low < 0 or self.high < self.low:
            raise InputError(
                f"latency {self.low:g}-{self.high:g}: need 0 <= low <= high (seconds), e.g. 30-90"
            )

    @classmethod
    def parse(cls, text: str) -> LatencyRange:
        """`"30-90"` → 30 to 90 s; `"5"` → exactly 5 s."""
        match = re.fullmatch(rf"\s*({_NUMBER})\s*(?:-\s*({_NUMBER})\s*)?", text)
        if not match:
            raise InputError(f"latency {text!r}: write seconds as A-B (e.g. 30-90) or one number")
        low = float(match.group(1))
        high = float(match.group(2)) if match.group(2) is not None else low
        return cls(low, high)


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Faults:
    """Faults served on demand; every share is a probability between 0 and 1.

    `server_errors` and `dropped_connections` map a route name (see `ROUTES`, or `"*"` for all)
    to the share of its requests answered with a 500/502/503, or cut without an answer
    (`predictions.list` for listing pages that cannot be read).

    A new prediction ends as a model error, a content-policy failure (Replicate's E005), an
    abort (it never starts), an interruption (failed with "please retry (code: PA)", a
    transient failure) or a success, by the shares `model_errors`, `content_policy_errors`,
    `aborted` and `interrupted`. `out_of_credit` answers every create with Replicate's 402.

    Aimed at one stage of a graph: every prediction of a model in `failing_models` ends as a
    model error; a create for a model in `held_models` is held open, making nothing, until a
    reconfiguration lifts the hold (then it goes on, unless its client has gone: a run killed
    while it waited).
    """

    server_errors: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    dropped_connections: Mapping[str, float] = field(default_factory=lambda: _frozen({}))
    model_errors: float = 0.0
    content_policy_errors: float = 0.0
    aborted: float = 0.0
    interrupted: float = 0.0
    out_of_credit: bool = False
    truncated_downloads: float = 0.0
    lost_create_responses: float = 0.0  # the prediction is created, then the answer is cut
    download_bytes_per_s: float | None = None
    failing_models: tuple[str, ...] = ()
    held_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_errors", _frozen(self.server_errors))
        object.__setattr__(self, "dropped_connections", _frozen(self.dropped_connections))
        for name, table in (
            ("server_errors", self.server_errors),
            ("dropped_connections", self.dropped_connections),
        ):
            for route, share in table.items():
                if route != "*" and route not in ROUTES:
                    raise InputError(
                        f"{name}: unknown route {route!r}; use '*' or one of {', '.join(ROUTES)}"
                    )
                _check_share(f"{name}[{route}]", share)
        for name in (
            "model_errors",
            "content_policy_errors",
            "aborted",
            "interrupted",
            "truncated_downloads",
            "lost_create_responses",
        ):
            _check_share(name, getattr(self, name))
        ends = self.model_errors + self.content_policy_errors + self.aborted + self.interrupted
        if ends > 1.0:
            raise InputError(
                "model_errors + content_policy_errors + aborted + interrupted must not exceed 1"
            )
        if self.download_bytes_per_s is not None and self.download_bytes_per_s <= 0:
            raise InputError("download_bytes_per_s must be positive")

    def share(self, table: Mapping[str, float], route: str) -> float:
        """The share configured for `route` in `table`, falling back to `"*"`."""
        return table.get(route, table.get("*", 0.0))


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name}: {value!r} is not a share between 0 and 1")


def parse_route_shares(entries: list[str]) -> dict[str, float]:
    """`["predictions.get=0.1", "*=0.01"]` → `{"predictions.get": 0.1, "*": 0.01}`."""
    shares: dict[str, float] = {}
    for entry in entries:
        route, sep, value = entry.partition("=")
        try:
            shares[route.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InputError(f"{entry!r}: write ROUTE=SHARE, e.g. predictions.get=0.05")
    return shares


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an emulator needs; change it while running with `Emulator.configure`.

    `time_scale` multiplies the emulated model's latency and the output retention, so a test can
    run a realistic 30-90 s queue in a fraction of a second.
    """

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    latency: LatencyRange = field(default_factory=LatencyRange)
    queue_share: float = 0.25
    time_scale: float = 1.0
    creates_per_minute: float | None = None
    create_burst: int | None = None
    retry_after_header: bool = True
    retention_s: float = 3600.0
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    data_dir: Path | None = None
    render_height: int = 144
    render_workers: int = 2
    webhook_secret: str | None = None
    webhook_attempts: int = 4
    webhook_backoff_s: float = 0.25
    webhook_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    reject_unknown_inputs: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.queue_share <= 1.0:
            raise InputError("queue_share must be between 0 and 1")
        if self.time_scale < 0:
            raise InputError("time_scale must not be negative")
        if self.creates_per_minute is not None and self.creates_per_minute <= 0:
            raise InputError("creates_per_minute must be positive (omit it for no limit)")
        if self.create_burst is not None and self.create_burst < 1:
            raise InputError("create_burst must be at least 1")
        if self.retention_s < 0:
            raise InputError("retention_s must not be negative")
        if self.render_height < 16 or self.render_height % 2:
            raise InputError("render_height must be an even number of pixels, at least 16")
        if self.webhook_attempts < 1:
            raise InputError("webhook_attempts must be at least 1")

    @property
    def burst(self) -> int:
        """Creates allowed at once before the per-minute rate applies."""
        if self.create_burst is not None:
            return self.create_burst
        rate = self.creates_per_minute or 0.0
        return max(1, int(rate // 10))
