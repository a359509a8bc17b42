"""Backends by name, and what each says about itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from kling_pipe.backends import BACKEND_NAMES, make_backend
from kling_pipe.backends.preview import PreviewBackend
from kling_pipe.backends.replicate import ReplicateBackend
from kling_pipe.errors import InputError, MissingTokenError


def test_each_name_makes_its_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_secret_value")
    preview = make_backend("preview", previews=tmp_path / "previews", preview_height=144)
    replicate = make_backend("replicate", previews=tmp_path / "previews")
    assert isinstance(preview, PreviewBackend) and isinstance(replicate, ReplicateBackend)
    assert (preview.free, preview.records_to_lock) == (True, False)
    assert (replicate.free, replicate.records_to_lock) == (False, True)
    assert BACKEND_NAMES == ("replicate", "preview")


def test_an_unknown_name_is_an_input_error_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="did you mean 'preview'") as caught:
        make_backend("previw", previews=tmp_path)
    assert caught.value.exit_code == 2
    with pytest.raises(InputError, match="replicate, preview"):
        make_backend("midjourney", previews=tmp_path)


def test_without_a_token_the_replicate_backend_is_an_input_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(MissingTokenError) as caught:
        make_backend("replicate", previews=tmp_path)
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
    assert "REPLICATE_API_TOKEN" in str(caught.value)
    assert "--backend preview" in str(caught.value)
