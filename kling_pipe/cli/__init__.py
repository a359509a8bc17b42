"""The `kling-pipe` command: a thin layer over the public API."""

from kling_pipe.cli.app import app, main

__all__ = ["app", "main"]
