"""Templates and input files are read only from where they belong, and only as regular files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kling_pipe.campaign import Campaign
from kling_pipe.errors import ManifestError

Write = Callable[..., Path]

MANIFEST = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {duration: 5, generate_audio: false}
matrix:
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: hero
    prompt: PROMPT
    inputs: INPUTS
"""


def manifest(prompt: str = "a kettle", inputs: str = "{}") -> str:
    return MANIFEST.replace("PROMPT", prompt).replace("INPUTS", inputs)


def errors_of(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        Campaign.open(path)
    return [str(p) for p in caught.value.problems if p.severity == "error"]


def test_a_template_linked_out_of_templates_is_refused_and_its_content_never_read(
    write_manifest: Write, tmp_path: Path
) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.txt"
    secret.write_text("REPLICATE_API_TOKEN=r8_secret")
    path = write_manifest(manifest("\"{% include 'environ.j2' %}\""))
    os.symlink(secret, tmp_path / "templates" / "environ.j2")

    errors = errors_of(path)

    assert len(errors) == 1  # once, not once per job
    assert errors[0].startswith(f"{path}:9:13: shots[0].prompt: template 'environ.j2' is a link")
    assert "r8_secret" not in errors[0]


def test_proc_self_environ_behind_a_template_link_is_refused(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(manifest("\"{% include 'environ.j2' %}\""))
    os.symlink("/proc/self/environ", tmp_path / "templates" / "environ.j2")
    (error,) = errors_of(path)
    assert "is a link to a file outside the templates/ folders" in error


def test_a_templates_folder_that_is_a_link_elsewhere_is_not_used(
    write_manifest: Write, tmp_path: Path
) -> None:
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.j2").write_text("outside text")
    (tmp_path / "sub").mkdir()
    path = write_manifest(manifest("\"{% include 'x.j2' %}\""), name="sub/campaign.yaml")
    os.symlink(elsewhere, tmp_path / "sub" / "templates")
    (error,) = errors_of(path)
    assert "template not found" in error and "outside text" not in error


def test_a_link_between_files_inside_templates_is_followed(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(
        manifest("\"{% include 'alias.j2' %}\""), files={"templates/real.j2": "real text"}
    )
    os.symlink(tmp_path / "templates" / "real.j2", tmp_path / "templates" / "alias.j2")
    assert Campaign.open(path).job_plan.jobs[0].inputs["prompt"] == "real text"


def test_a_template_that_is_a_pipe_is_refused_without_blocking(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(manifest("\"{% include 'pipe.j2' %}\""))
    os.mkfifo(tmp_path / "templates" / "pipe.j2")
    (error,) = errors_of(path)
    assert "template 'pipe.j2' is not a regular file" in error


def test_a_template_that_is_not_utf8_is_a_located_error(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(manifest("\"{% include 'latin.j2' %}\""))
    (tmp_path / "templates" / "latin.j2").write_bytes(b"caf\xe9")
    (error,) = errors_of(path)
    assert error.startswith(f"{tmp_path / 'templates/latin.j2'}:1:4: not UTF-8")
    assert "Windows-1252" in error


@pytest.mark.parametrize("name", ["/etc/hostname", "../outside.png", "/dev/zero"])
def test_input_files_outside_the_campaign_are_refused_at_their_position(
    write_manifest: Write, name: str
) -> None:
    path = write_manifest(manifest(inputs=f"{{start_image: {name}}}"))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:10:27: shots[0].inputs.start_image: file {name!r}")
    assert "is outside the campaign folder" in error


def test_an_input_file_linked_out_of_the_campaign_is_refused(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(manifest(inputs="{start_image: link.png}"))
    os.symlink("/etc/hostname", tmp_path / "link.png")
    (error,) = errors_of(path)
    assert "file 'link.png' is outside the campaign folder" in error


def test_an_input_that_is_a_folder_is_not_a_regular_file(
    write_manifest: Write, tmp_path: Path
) -> None:
    path = write_manifest(manifest(inputs="{start_image: templates}"))
    (error,) = errors_of(path)
    assert "file 'templates' is not a regular file" in error


def test_an_input_name_too_long_for_the_file_system_is_a_located_error(
    write_manifest: Write,
) -> None:
    name = "a" * 300 + ".png"
    path = write_manifest(manifest(inputs=f"{{start_image: {name}}}"))
    (error,) = errors_of(path)
    assert error.startswith(f"{path}:10:27:") and "File name too long" in error


def test_a_manifest_path_too_long_is_a_product_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read: File name too long"):
        Campaign.open(tmp_path / ("m" * 300 + ".yaml"))
