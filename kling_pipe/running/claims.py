"""Claims: many runners on one bucket store, and never two predictions for one key.

Before a runner creates a prediction it claims the job's key in the bucket with a conditional
write (S3 `If-None-Match: *`, GCS's generation precondition, `O_EXCL` on a shared folder: one
writer wins, the others are told the name exists). The claim carries the runner's identity, a
heartbeat counter it raises every `heartbeat` seconds, and the prediction id once known.

    claims/<key>/<generation>.json      the highest generation is the claim in force

What a runner does with a key it is about to pay for (`ClaimRules.judge`, pure):

- the bucket records an output for the key: take it (nothing to create);
- no claim: claim it (generation 0), then create;
- a live claim (its heartbeat moved within `expiry` seconds, on this runner's own clock, so
  machines' clocks need not agree): wait for that runner's output instead of paying;
- an expired claim: take it over by writing the next generation (again conditionally: one
  runner wins), then adopt the prediction it names, or, if it names none, look for a create its
  dead runner may have sent (the scheduler's `recover`) before creating one.

The local journal stays the fast path (a runner re-attaches to its own predictions from it);
the bucket holds only what another machine must see. A claim is deleted once its output record
is written, or when its unit ends without one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self

import anyio

from kling_pipe.running.journal import OutputRecord
from kling_pipe.running.run_plan import Unit

if TYPE_CHECKING:  # fsspec is imported only by runs on a bucket store
    from kling_pipe.running.remote_store import BucketStore

CLAIM_EXPIRY_ENV = "KLING_PIPE_CLAIM_EXPIRY"
DEFAULT_EXPIRY = 120.0

# How far before a dead runner's claim its create may have been sent, looking for it.
RECOVER_MARGIN = 60.0


@dataclass(frozen=True)
class Claim:
    """A runner's claim on a job key, as written in the bucket."""

    runner: str
    generation: int
    beat: int = 0
    prediction_id: str | None = None
    claimed_at: float = 0.0  # the claimer's wall clock: where to look for a lost create


@dataclass(frozen=True)
class ClaimTimes:
    """How often a runner beats, and how long a silent claim lives."""

    expiry: float = DEFAULT_EXPIRY

    @property
    def heartbeat(self) -> float:
        """A live runner beats four times per expiry."""
        return self.expiry / 4

    @property
    def poll(self) -> float:
        """How often a waiting runner looks again."""
        return min(self.expiry / 4, 5.0)

    @classmethod
    def from_environment(cls) -> ClaimTimes:
        """`KLING_PIPE_CLAIM_EXPIRY` seconds (default 120): shorter for tests."""
        raw = os.environ.get(CLAIM_EXPIRY_ENV)
        return cls(expiry=float(raw)) if raw else cls()


Verdict = Literal["stored", "claim", "wait", "take_over"]


@dataclass
class ClaimRules:
    """Decides what to do about a key from what the bucket shows (pure; `now` is this
    runner's monotonic clock, so tests drive it)."""

    times: ClaimTimes
    _seen: dict[str, tuple[int, int, float]] = field(default_factory=dict)

    def judge(self, key: str, claim: Claim | None, stored: bool, now: float) -> Verdict:
        """What to do about `key` now: take the stored output, claim it, wait, or take over."""
        if stored:
            return "stored"
        if claim is None:
            return "claim"
        seen = self._seen.get(key)
        if seen is None or seen[:2] != (claim.generation, claim.beat):
            self._seen[key] = (claim.generation, claim.beat, now)
            return "wait"
        return "take_over" if now - seen[2] >= self.times.expiry else "wait"


@dataclass(frozen=True)
class Turn:
    """What the scheduler does next for a unit whose key this runner now holds (or no longer
    needs): take a stored output, adopt a prediction, look for a lost create, or create."""

    output: OutputRecord | None = None
    adopt: str | None = None
    recover_since: float | None = None
    previous_runner: str | None = None


class KeyCoordinator(Protocol):
    """What the scheduler asks before it pays for a key, when other machines may too."""

    async def turn(self, unit: Unit) -> Turn:
        """Hold the unit's key (waiting while another runner does), or say what to take."""
        ...

    async def created(self, unit: Unit, prediction_id: str) -> None:
        """A prediction was created for the held key."""
        ...

    def finished(self, unit: Unit, output: OutputRecord | None, *, keep: bool = False) -> None:
        """The unit ended (with a new output, or None): let go of its key, unless `keep`."""
        ...


class ClaimBoard:
    """The claims of one bucket store (see the module docstring)."""

    def __init__(self, store: BucketStore) -> None:
        self.store = store
        self.fs = store.fs
        self.local = "file" in _protocols(self.fs)

    def _folder(self, key: str) -> str:
        return str(self.fs._strip_protocol(self.store.workspace.remote_claims(key)))

    def _name(self, key: str, generation: int) -> str:
        return f"{self._folder(key)}/{generation:08d}.json"

    def current(self, key: str) -> Claim | None:
        """The claim in force on `key` (its highest generation), or None."""
        try:
            names = sorted(n for n in self._listing(key) if n.endswith(".json"))
        except FileNotFoundError:
            return None
        for name in reversed(names):
            try:
                data = json.loads(self.fs.cat_file(name))
                return Claim(**data)
            except FileNotFoundError:
                continue  # released meanwhile
            except (ValueError, TypeError):
                # Being written (a shared folder) or damaged: a claim with an unknown beat.
                generation = int(name.rsplit("/", 1)[1].split(".")[0])
                return Claim(runner="?", generation=generation, beat=-1)
        return None

    def _listing(self, key: str) -> list[str]:
        # Never fsspec's listings cache: other machines write here.
        return list(self.fs.ls(self._folder(key), detail=False, refresh=True))

    def create(self, key: str, claim: Claim) -> bool:
        """Write `claim` only if no claim of its generation exists: True if this one won."""
        name = self._name(key, claim.generation)
        if self.local:
            self.fs.makedirs(self._folder(key), exist_ok=True)
        try:
            with self.fs.open(name, "xb") as handle:
                handle.write(_body(claim))
        except FileExistsError:
            return False
        return True

    def rewrite(self, key: str, claim: Claim) -> None:
        """Replace this runner's own claim (a heartbeat, the prediction id): one atomic write."""
        self.store.write_small(self._name(key, claim.generation), _body(claim))

    def release(self, key: str, generation: int, *, below: bool = False) -> None:
        """Delete this runner's claim on `key` (of `generation`), or with `below` the older
        generations it took over. Never a newer one: a runner taken over for silence must not
        delete the claim of the runner that took over."""
        try:
            names = self._listing(key)
        except FileNotFoundError:
            return
        for name in names:
            if not name.endswith(".json"):
                continue
            number = int(name.rsplit("/", 1)[1].split(".")[0])
            if number < generation if below else number == generation:
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm_file(name)


def runner_identity() -> str:
    """Who holds a claim: host, process, and a random part (pids repeat across machines)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class ClaimCoordinator:
    """The scheduler's hook for a bucket store: claims a key before its prediction is created,
    waits for another runner's output, adopts a dead runner's prediction, and keeps this
    runner's claims beating while it runs (`async with coordinator:` around the run)."""

    def __init__(
        self,
        store: BucketStore,
        backend: str,
        *,
        times: ClaimTimes | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.board = ClaimBoard(store)
        self.backend = backend
        self.times = times or ClaimTimes.from_environment()
        self.rules = ClaimRules(self.times)
        self.clock = clock
        self.runner = runner_identity()
        self.held: dict[str, Claim] = {}
        self._notice = on_notice or (lambda message: None)
        self._tasks: Any = None
        self._writing = threading.Lock()

    async def __aenter__(self) -> Self:
        self._tasks = anyio.create_task_group()
        await self._tasks.__aenter__()
        self._tasks.start_soon(self._beat)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tasks.cancel_scope.cancel()
        await self._tasks.__aexit__(exc_type, exc, tb)

    async def _beat(self) -> None:
        while True:
            await anyio.sleep(self.times.heartbeat)
            for key in list(self.held):
                await anyio.to_thread.run_sync(self._beat_once, key)

    def _beat_once(self, key: str) -> None:
        # Under the lock: a beat written after its key was released would bring the claim back.
        with self._writing:
            claim = self.held.get(key)
            if claim is not None:
                claim = replace(claim, beat=claim.beat + 1)
                self.board.rewrite(key, claim)
                self.held[key] = claim

    async def turn(self, unit: Unit) -> Turn:
        """Hold the unit's key before anything is created for it (see the module docstring)."""
        key = unit.key
        if key in self.held:
            return Turn()
        while True:
            claim = await anyio.to_thread.run_sync(self.board.current, key)
            stored = await anyio.to_thread.run_sync(self._stored, key)
            verdict = self.rules.judge(key, claim, stored is not None, self.clock())
            if verdict == "stored":
                assert stored is not None
                return Turn(output=stored)
            if verdict == "wait":
                await anyio.sleep(self.times.poll)
                continue
            generation = 0 if claim is None else claim.generation + 1
            mine = Claim(
                runner=self.runner,
                generation=generation,
                prediction_id=claim.prediction_id if claim is not None else None,
                claimed_at=time.time(),
            )
            if not await anyio.to_thread.run_sync(self.board.create, key, mine):
                continue  # another runner won this generation: look again
            self.held[key] = mine
            if claim is not None:
                await anyio.to_thread.run_sync(self._release_older, key, generation)
            # The output may have landed between the look and the claim.
            stored = await anyio.to_thread.run_sync(self._stored, key)
            if stored is not None:
                self._release(key)
                return Turn(output=stored)
            if claim is None:
                return Turn()
            if claim.prediction_id is not None:
                return Turn(adopt=claim.prediction_id, previous_runner=claim.runner)
            return Turn(
                recover_since=max(0.0, claim.claimed_at - RECOVER_MARGIN),
                previous_runner=claim.runner,
            )

    def _release_older(self, key: str, generation: int) -> None:
        self.board.release(key, generation, below=True)

    def _stored(self, key: str) -> OutputRecord | None:
        record = self.store.output_record(key, self.backend)
        if record is not None and self.store.holds(record.sha256):
            return record
        return None

    async def created(self, unit: Unit, prediction_id: str) -> None:
        """Write the prediction id into the claim: a runner taking it over adopts it."""
        await anyio.to_thread.run_sync(self._name_prediction, unit.key, prediction_id)

    def _name_prediction(self, key: str, prediction_id: str) -> None:
        with self._writing:
            claim = self.held.get(key)
            if claim is not None:
                claim = replace(claim, prediction_id=prediction_id)
                self.board.rewrite(key, claim)
                self.held[key] = claim

    def finished(self, unit: Unit, output: OutputRecord | None, *, keep: bool = False) -> None:
        """Record a new output for every runner (uploaded already), then let go of the key;
        with `keep`, stop beating it instead (it expires, and its prediction is adopted).
        Blocking, and short: one small write and one delete."""
        if output is not None:
            self.store.record_output(output)
        if keep:
            with self._writing:
                self.held.pop(unit.key, None)
        else:
            self._release(unit.key)

    def _release(self, key: str) -> None:
        with self._writing:
            claim = self.held.pop(key, None)
            if claim is not None:
                self.board.release(key, claim.generation)


def _body(claim: Claim) -> bytes:
    return json.dumps(asdict(claim), sort_keys=True).encode()


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
