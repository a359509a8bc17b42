"""Locating and running ffmpeg: the one place in kling-pipe that shells out to it.

A system ffmpeg on PATH is preferred (it is usually newer and has ffprobe beside it); otherwise
the static binary shipped by the `imageio-ffmpeg` wheel, so a fresh `pip install` is enough.
`KLING_PIPE_FFMPEG` names a binary explicitly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from kling_pipe.errors import MediaError


@cache
def ffmpeg_binary() -> str:
    """Path of the ffmpeg binary to use."""
    explicit = os.environ.get("KLING_PIPE_FFMPEG")
    if explicit:
        return explicit
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def run_ffmpeg(
    args: Sequence[str | Path],
    *,
    check: bool = True,
    input_bytes: bytes | None = None,
    timeout: float | None = None,
    niceness: int = 0,
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with `args` (without the binary itself); raise MediaError on failure.

    `-hide_banner -nostdin` are always added. With `check=False` a failing exit status is
    returned rather than raised (probing with `ffmpeg -i` exits 1 by design). A positive
    `niceness` runs it at that much lower CPU priority (work done ahead, in the background).
    """
    command = [ffmpeg_binary(), "-hide_banner", *(str(a) for a in args)]
    if input_bytes is None:
        command.insert(2, "-nostdin")
    try:
        if niceness > 0:
            completed = _run_niced(command, niceness, input_bytes, timeout)
        else:
            completed = subprocess.run(
                command,
                input=input_bytes,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"ffmpeg timed out after {timeout}s: {' '.join(command)}") from exc
    except OSError as exc:
        raise MediaError(f"cannot run ffmpeg ({command[0]}): {exc}") from exc
    if check and completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace").strip().splitlines()[-12:]
        raise MediaError(
            f"ffmpeg exited with status {completed.returncode}:\n  " + "\n  ".join(tail)
        )
    return completed


def _run_niced(
    command: list[str], niceness: int, input_bytes: bytes | None, timeout: float | None
) -> subprocess.CompletedProcess[bytes]:
    """`subprocess.run` of `command`, lowered in priority as soon as it starts (no
    `preexec_fn`: it is unsafe in a process with threads)."""
    stdin = subprocess.PIPE if input_bytes is not None else None
    with subprocess.Popen(
        command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        # No priorities here (Windows), or it has ended already: it runs as it is.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(
                os.PRIO_PROCESS, process.pid, os.getpriority(os.PRIO_PROCESS, 0) + niceness
            )
        try:
            stdout, stderr = process.communicate(input_bytes, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def threads_per_job(jobs: int, workers: int) -> int | None:
    """Threads for each of `jobs` ffmpeg processes when `workers` of them run at once: one when
    they fill the workers (frame threads would only add overhead; x264 spent ~13% more CPU on a
    1080p clip with them), else None for ffmpeg's own choice, so a lone job uses every core."""
    return 1 if jobs >= workers > 1 else None
