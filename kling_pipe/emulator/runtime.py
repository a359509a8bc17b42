"""Running an emulator: in a background thread for tests and scripts, or on the caller's loop."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from kling_pipe.emulator.config import EmulatorConfig
from kling_pipe.emulator.renders import Renderer
from kling_pipe.emulator.server import EmulatorServer
from kling_pipe.errors import InputError
from kling_pipe.models.spec import ModelRegistry

T = TypeVar("T")
_START_TIMEOUT_S = 30.0


class Emulator:
    """A Replicate emulator serving on 127.0.0.1 from its own thread and event loop.

    with Emulator(EmulatorConfig(latency=LatencyRange(0.1, 0.3))) as emu:
        client = replicate.Client(api_token="t", base_url=emu.base_url)
        emu.configure(creates_per_minute=6)
        assert emu.stats()["duplicate_creates"] == 0
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        renderer: Renderer | None = None,
        registry: ModelRegistry | None = None,
    ) -> None:
        self._config = config or EmulatorConfig()
        self._renderer = renderer
        self._registry = registry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: EmulatorServer | None = None
        self._own_dir: Path | None = None
        self.base_url = ""

    def start(self) -> Emulator:
        """Start serving; returns once the port is bound."""
        if self._server is not None:
            raise InputError("this emulator is already running")
        data_dir = self._config.data_dir
        if data_dir is None:
            self._own_dir = data_dir = Path(tempfile.mkdtemp(prefix="kling-emulator-"))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="kling-emulator", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def build() -> EmulatorServer:
            server = EmulatorServer(
                self._config, data_dir, renderer=self._renderer, registry=self._registry
            )
            await server.start()
            return server

        try:
            self._server = self._call(build(), timeout=_START_TIMEOUT_S)
        except BaseException:
            self._halt_loop()
            self._remove_own_dir()
            raise
        self.base_url = self._server.base_url
        return self

    def stop(self) -> None:
        """Stop serving and end every task and worker it started; idempotent."""
        if self._server is not None:
            server, self._server = self._server, None
            self._call(server.close(), timeout=_START_TIMEOUT_S)
        self._halt_loop()
        self._remove_own_dir()

    def _remove_own_dir(self) -> None:
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def _halt_loop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coroutine.close()
            raise InputError("the emulator is not running; call start() first")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _running(self) -> EmulatorServer:
        if self._server is None:
            raise InputError("the emulator is not running; call start() first")
        return self._server

    @property
    def config(self) -> EmulatorConfig:
        """The configuration in force."""
        return self._config

    def configure(self, config: EmulatorConfig | None = None, **changes: Any) -> EmulatorConfig:
        """Change the running emulator: a whole new config, or fields of the current one."""
        new = replace(config or self._config, **changes)
        server = self._running()

        async def apply() -> None:
            server.reconfigure(new)

        self._call(apply())
        self._config = new
        return new

    def stats(self) -> dict[str, Any]:
        """Everything served so far (the body of `GET /_emulator/stats`)."""
        return self._running().stats.snapshot()

    def creates_of(self, model: str, inputs: Any) -> int:
        """How many accepted creates had `model` (`owner/name`) and exactly `inputs`."""
        return self._running().stats.creates_of(model, inputs)

    @property
    def webhook_secret(self) -> str:
        """The signing secret webhooks are signed with."""
        return self._running().webhook_secret()


@asynccontextmanager
async def serve(
    config: EmulatorConfig | None = None,
    *,
    renderer: Renderer | None = None,
    registry: ModelRegistry | None = None,
) -> AsyncIterator[EmulatorServer]:
    """Serve on the running event loop for the duration of the block (asyncio only)."""
    config = config or EmulatorConfig()
    own_dir = None
    data_dir = config.data_dir
    if data_dir is None:
        own_dir = data_dir = Path(tempfile.mkdtemp(prefix="kling-emulator-"))
    server = EmulatorServer(config, data_dir, renderer=renderer, registry=registry)
    try:
        await server.start()
        yield server
    finally:
        await server.close()
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
