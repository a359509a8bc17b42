"""`kling-pipe models pull` reads a model's schema from the API into the store's registry."""

from __future__ import annotations

from pathlib import Path

from kling_pipe.emulator import Emulator, EmulatorConfig
from kling_pipe.models.catalogue import bundled_registry
from kling_pipe.models.spec import InputSpec, ModelSpec
from tests.conftest import kling
from tests.emulated import TOKEN, env_for

NEW_MODEL = ModelSpec(
    ref="kwaivgi/kling-v9",
    inputs={
        "prompt": InputSpec("prompt", "string", required=True),
        "duration": InputSpec("duration", "integer", default=5, minimum=3, maximum=20),
        "style": InputSpec("style", "string", default="film", choices=("film", "anime")),
    },
    price_per_second=0.2,
)

MANIFEST = """
version: 1
name: future
model: kwaivgi/kling-v9
shots:
  - id: one
    prompt: a kettle
    inputs: {style: anime, duration: 12}
"""


def test_a_pulled_model_validates_without_a_new_release(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "future.yaml").write_text(MANIFEST)
    before = kling("plan", "future.yaml", cwd=tmp_path)
    assert before.returncode == 2
    assert "unknown model 'kwaivgi/kling-v9'" in before.stderr

    registry = bundled_registry().with_specs([NEW_MODEL])
    with Emulator(EmulatorConfig(token=TOKEN), registry=registry) as emu:
        pulled = kling(
            "models",
            "pull",
            "kwaivgi/kling-v9",
            "--price-per-second",
            "0.2",
            cwd=tmp_path,
            env=env_for(emu),
        )
    assert pulled.returncode == 0, pulled.stderr
    assert "prompt, duration, style" in pulled.stdout

    after = kling("plan", "future.yaml", "--json", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert '"cost_usd": 2.4' in after.stdout  # 12 s at the pulled price

    bad = tmp_path / "bad.yaml"
    bad.write_text(MANIFEST.replace("anime", "cartoon"))
    refused = kling("validate", "bad.yaml", cwd=tmp_path)
    assert refused.returncode == 2
    assert "'cartoon' is not allowed; use one of 'film', 'anime'" in refused.stderr


def test_pulling_an_unknown_model_without_a_price_is_refused(tmp_path: Path) -> None:
    result = kling("models", "pull", "someone/else", cwd=tmp_path)
    assert result.returncode == 2
    assert "--price-per-second" in result.stderr


STILLS = ModelSpec(
    ref="acme/stills",
    inputs={
        "prompt": InputSpec("prompt", "string", required=True),
        "aspect_ratio": InputSpec("aspect_ratio", "string", default="1:1", choices=("1:1", "16:9")),
    },
    price_per_second=0.0,
    output_kind="image",
)


def test_a_pulled_image_model_is_known_to_make_images_and_priced_per_image(
    tmp_path: Path,
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "keys.yaml").write_text(
        "version: 1\nname: keys\nmodel: acme/stills\nshots:\n"
        "  - id: key\n    prompt: a kettle on white\n    inputs: {aspect_ratio: '16:9'}\n"
    )
    registry = bundled_registry().with_specs([STILLS])
    with Emulator(EmulatorConfig(token=TOKEN), registry=registry) as emu:
        pulled = kling(
            "models", "pull", "acme/stills", "--price-per-image", "0.03",
            cwd=tmp_path, env=env_for(emu),
        )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert "makes images" in pulled.stdout

    plan = kling("plan", "keys.yaml", "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert '"cost_usd": 0.03' in plan.stdout

    listed = kling("models", "list", cwd=tmp_path)
    row = next(line for line in listed.stdout.splitlines() if "acme/stills" in line)
    assert "image" in row and "0.030/image" in row
