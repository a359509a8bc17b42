"""The public surface: `kling_pipe.__all__`, imported on first use."""

from __future__ import annotations

import pytest

import kling_pipe


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    for name in kling_pipe.__all__:
        assert getattr(kling_pipe, name).__name__ == name
    assert set(kling_pipe.__all__) <= set(dir(kling_pipe))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        kling_pipe.no_such_name  # type: ignore[attr-defined]  # noqa: B018
