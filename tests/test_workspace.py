"""One object owns every place, and gives the same answer from any working directory."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from kling_pipe.errors import InputError
from kling_pipe.workspace import Workspace, store_for_folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pipelines/launch").mkdir(parents=True)
    return root


def locate(manifest: Path, **kwargs: object) -> Workspace:
    return Workspace.locate(manifest, "demo", environ={}, **kwargs)  # type: ignore[arg-type]


def test_defaults_are_found_from_the_manifest_not_the_working_directory(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = repo / "pipelines/launch/demo.yaml"
    seen = set()
    for cwd in (repo, manifest.parent, tmp_path):
        monkeypatch.chdir(cwd)
        ws = locate(Path(os.path.relpath(manifest, cwd)))
        seen.add((ws.store, ws.output_dir, ws.lock_path))
    assert seen == {(repo / ".kling-pipe", repo / "out/demo", manifest.with_name("demo.lock.json"))}


def test_the_nearest_existing_store_between_the_manifest_and_the_root_wins(repo: Path) -> None:
    (repo / "pipelines/.kling-pipe").mkdir()
    ws = locate(repo / "pipelines/launch/demo.yaml")
    assert ws.store == repo / "pipelines/.kling-pipe"


def test_without_a_repository_the_manifests_folder_is_the_project(tmp_path: Path) -> None:
    ws = locate(tmp_path / "demo.yaml")
    if any((p / ".git").exists() for p in tmp_path.parents):
        pytest.skip("the temporary folder is inside a repository")
    assert ws.store == tmp_path / ".kling-pipe" and ws.output_dir == tmp_path / "out/demo"


def test_options_beat_the_environment_which_beats_the_manifest(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = repo / "pipelines/launch/demo.yaml"
    declared = locate(manifest, manifest_store="../../shared-store", manifest_output="renders")
    assert declared.store == repo / "shared-store"  # relative to the manifest's folder
    assert declared.output_dir == manifest.parent / "renders/demo"
    env = {"KLING_PIPE_STORE": str(tmp_path / "env-store"), "KLING_PIPE_OUT": "/srv/out"}
    from_env = Workspace.locate(manifest, "demo", manifest_store="x", environ=env)
    assert from_env.store == tmp_path / "env-store" and from_env.output_root == Path("/srv/out")
    monkeypatch.chdir(tmp_path)
    flagged = Workspace.locate(
        manifest, "demo", store=Path("flag-store"), output=Path("o"), environ=env
    )
    assert flagged.store == tmp_path / "flag-store" and flagged.output_dir == tmp_path / "o/demo"


def test_every_place_the_run_writes_is_inside_its_folder(repo: Path) -> None:
    ws = locate(repo / "pipelines/launch/demo.yaml")
    assert ws.clip_path("hero/jp/9x16") == repo / "out/demo/hero/jp/9x16.mp4"
    assert ws.object_path("ab" * 32).parent == ws.store / "objects/ab"
    for escape in ("../../etc/passwd", "/etc/passwd", "cuts/../../x.mp4"):
        with pytest.raises(InputError):
            ws.inside_output(PurePosixPath(escape))
    with pytest.raises(InputError):
        ws.clip_path("s/../../../PWNED")


def test_commands_without_a_manifest_find_the_same_store(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KLING_PIPE_STORE", raising=False)
    assert store_for_folder(repo / "pipelines/launch") == repo / ".kling-pipe"


@pytest.mark.parametrize("declared", ["/etc", "../../../elsewhere", "../../../../tmp"])
def test_a_manifest_cannot_point_writes_outside_its_repository(repo: Path, declared: str) -> None:
    manifest = repo / "pipelines/launch/demo.yaml"
    with pytest.raises(InputError, match="outside the repository"):
        locate(manifest, manifest_store=declared)
    with pytest.raises(InputError, match="outside the repository"):
        locate(manifest, manifest_output=declared)


def test_a_store_url_is_a_bucket_and_the_local_parts_stay_in_the_default_folder(
    repo: Path,
) -> None:
    manifest = repo / "pipelines/launch/demo.yaml"
    for ws in (
        locate(manifest, store="s3://team-bucket/campaigns/"),
        Workspace.locate(
            manifest, "demo", environ={"KLING_PIPE_STORE": "s3://team-bucket/campaigns"}
        ),
        locate(manifest, manifest_store="s3://team-bucket/campaigns"),
    ):
        assert ws.store_url == "s3://team-bucket/campaigns"
        assert ws.store == repo / ".kling-pipe"  # journal, tmp, run.lock, the cache
        assert ws.remote_object("ab" + "0" * 62) == (
            "s3://team-bucket/campaigns/objects/ab/ab" + "0" * 62 + ".mp4"
        )


def test_a_folder_given_first_hides_a_url_given_later(repo: Path, tmp_path: Path) -> None:
    manifest = repo / "pipelines/launch/demo.yaml"
    ws = locate(manifest, store=tmp_path / "mine", manifest_store="s3://team-bucket/x")
    assert ws.store_url is None and ws.store == tmp_path / "mine"
    with pytest.raises(ValueError, match="not a bucket"):
        ws.remote_object("ab" * 32)


def test_commands_without_a_manifest_keep_a_bucket_stores_local_part(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLING_PIPE_STORE", "s3://team-bucket/x")
    assert store_for_folder(repo / "pipelines") == repo / ".kling-pipe"
