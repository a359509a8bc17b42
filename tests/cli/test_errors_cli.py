"""Errors as a new user meets them through `kling-pipe`: located, actionable, exit 2, verbatim."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import jsonschema
import yaml

from kling_pipe.campaign import Campaign
from kling_pipe.lock import LockEntry, LockFile, write_lock
from tests.conftest import kling

Write = Callable[..., Path]

MANIFEST = """
version: 1
name: demo
model: kwaivgi/kling-v2.6
defaults: {generate_audio: false}
markets:
  us: {product: Kettle}
  jp: {product: ケトル}
matrix:
  market: [us, jp]
  aspect_ratio: ["16:9", "9:16"]
shots:
  - id: hero
    prompt: "A {{ product }} on a table"
"""


def assert_user_error(result: subprocess.CompletedProcess[str], *lines: str) -> None:
    """Exit 2, no traceback, and each expected line printed on stderr."""
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for line in lines:
        assert line in result.stderr.splitlines(), result.stderr


def test_a_misspelt_required_key_is_one_error(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST.replace("    prompt:", "    promt:"))
    result = kling("validate", path)
    assert_user_error(
        result,
        f"{path}:13:5: shots[0].promt: unknown key 'promt'; did you mean 'prompt'?",
        "1 error(s)",
    )
    assert "is missing" not in result.stderr


def test_a_badly_indented_line_says_to_check_its_indentation(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST.replace("    prompt:", "     prompt:"))
    result = kling("validate", path)
    assert_user_error(result)
    assert f"{path}:13:12: YAML syntax: mapping values are not allowed here; " in result.stderr
    assert "check the indentation at line 13" in result.stderr


def test_a_manifest_saved_as_windows_1252_names_the_byte_and_the_encoding(
    write_manifest: Write,
) -> None:
    path = write_manifest(MANIFEST)
    path.write_bytes(MANIFEST.lstrip().replace("ケトル", "Théière").encode("cp1252"))
    assert_user_error(
        kling("validate", path),
        f"{path}:7:19: not UTF-8: byte 0xE9 cannot be decoded; it looks like Windows-1252 "
        "(Western European); save it as UTF-8",
    )


def test_a_manifest_saved_as_utf16_says_so(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST)
    path.write_bytes(MANIFEST.lstrip().encode("utf-16"))
    assert_user_error(
        kling("validate", path),
        f"{path}:1:1: the file is UTF-16 (it starts with a UTF-16 byte order mark); "
        "save it as UTF-8",
    )


def test_a_template_file_in_shift_jis_is_located_in_the_template(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST.replace("A {{ product }} on a table", "{% include 'h.j2' %}"))
    (path.parent / "templates/h.j2").write_bytes("{{ product }}\n湯気が立つ\n".encode("shift_jis"))
    assert_user_error(
        kling("validate", path, cwd=path.parent),
        "templates/h.j2:2:1: not UTF-8: byte 0x93 cannot be decoded; it looks like Shift-JIS "
        "(Japanese); save it as UTF-8",
    )


def test_an_undefined_template_variable_gets_its_column_and_a_did_you_mean(
    write_manifest: Write,
) -> None:
    path = write_manifest(MANIFEST.replace("{{ product }}", "{{ prodcut }}"))
    assert_user_error(
        kling("validate", path),
        f"{path}:13:19: shots[0].prompt: undefined variable 'prodcut'; did you mean 'product'? "
        "(job hero/us/16x9)",
    )


def test_an_undefined_variable_in_a_template_file_points_into_that_file(
    write_manifest: Write,
) -> None:
    path = write_manifest(
        MANIFEST.replace("A {{ product }} on a table", "{% include 'h.j2' %}"),
        files={"templates/h.j2": "Close-up.\nA {{ prodcut }} pouring\n"},
    )
    assert_user_error(
        kling("validate", path, cwd=path.parent),
        "templates/h.j2:2:6: shots[0].prompt: undefined variable 'prodcut'; did you mean "
        f"'product'? (included at {path}:13:13) (job hero/us/16x9)",
    )


EXCLUDE_AT = '  aspect_ratio: ["16:9", "9:16"]\n'


def test_an_exclude_that_matches_nothing_is_a_warning_and_an_error_with_strict(
    write_manifest: Write,
) -> None:
    path = write_manifest(
        MANIFEST.replace(EXCLUDE_AT, EXCLUDE_AT + '  exclude: [{aspect_ratio: "1:1"}]\n')
    )
    warning = (
        f"{path}:11:28: warning: matrix.exclude[0].aspect_ratio: this exclude matches no "
        "combination: '1:1' is not a value of aspect_ratio ('16:9', '9:16')"
    )
    relaxed = kling("validate", path)
    assert relaxed.returncode == 0, relaxed.stderr
    assert warning in relaxed.stderr.splitlines()
    assert_user_error(
        kling("validate", "--strict", path),
        warning,
        f"{path}: failed: 1 warning is an error with --strict (listed above)",
    )


def test_an_exclude_naming_an_unknown_market_suggests_the_market(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST.replace(EXCLUDE_AT, EXCLUDE_AT + "  exclude: [{market: jpn}]\n"))
    assert_user_error(
        kling("validate", path),
        f"{path}:11:22: matrix.exclude[0].market: unknown market 'jpn' (markets: us, jp); "
        "did you mean 'jp'?",
    )


def test_validate_strict_counts_the_warnings_that_failed_it(write_manifest: Write) -> None:
    text = MANIFEST.replace(EXCLUDE_AT, EXCLUDE_AT + '  exclude: [{aspect_ratio: "1:1"}]\n')
    path = write_manifest(
        text.replace('"A {{ product }} on a table"', "'A {{ product }}, a voice says \"hi there\"'")
    )
    result = kling("validate", "--strict", path)
    assert_user_error(result, f"{path}: failed: 2 warnings are errors with --strict (listed above)")
    assert sum("warning:" in line for line in result.stderr.splitlines()) == 2
    assert "0 error(s)" not in result.stderr


def test_error_text_is_printed_verbatim_without_emoji_or_markup(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST.replace("  - id: hero", '  - id: ":x: [red]hero[/red]"'))
    result = kling("validate", path)
    assert_user_error(result)
    assert "got ':x: [red]hero[/red]'" in result.stderr
    assert "❌" not in result.stderr


def test_plan_table_shows_statuses_and_user_values_verbatim(write_manifest: Write) -> None:
    path = write_manifest(MANIFEST)
    campaign = Campaign.open(path)
    job = campaign.job_plan.jobs[0]
    material = job.key_material()
    material["inputs"] = {**material["inputs"], "aspect_ratio": ":x: [bold]y[/]"}
    lock = LockFile(
        manifest=campaign.name, jobs={job.id: LockEntry(key="0" * 64, material=material)}
    )
    write_lock(campaign.lock_path, lock)
    result = kling("plan", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("│ new ") == 3
    assert "│ changed │" in result.stdout
    assert "aspect_ratio ':x: [bold]y[/]' → '16:9'" in result.stdout


def test_version_prints_the_installed_version() -> None:
    from importlib.metadata import version

    result = kling("--version")
    assert result.returncode == 0
    assert result.stdout == f"kling-pipe {version('kling-pipe')}\n"


def test_init_writes_the_schema_locally_and_the_starter_points_at_it(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = kling("init", tmp_path)
    assert result.returncode == 0, result.stderr
    starter = tmp_path / "pipelines/starter.yaml"
    first_line = starter.read_text("utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first_line.startswith(prefix)
    schema_file = (starter.parent / first_line.removeprefix(prefix)).resolve()
    assert schema_file == (tmp_path / "manifest.schema.json").resolve()
    assert schema_file.read_text("utf-8") == kling("schema").stdout
    schema = json.loads(schema_file.read_text("utf-8"))
    jsonschema.validate(yaml.safe_load(starter.read_text("utf-8")), schema)
