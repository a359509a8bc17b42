"""The bundled v3 and lip-sync models' rules, checked on inputs as the planner and emulator do."""

from __future__ import annotations

import json

import pytest

from kling_pipe.models import bundled_registry, check_inputs
from kling_pipe.models.checks import check_input_video
from kling_pipe.models.spec import ModelSpec

REGISTRY = bundled_registry()


def spec(ref: str) -> ModelSpec:
    found = REGISTRY.get(ref)
    assert found is not None
    return found


V3 = spec("kwaivgi/kling-v3-video")
OMNI = spec("kwaivgi/kling-v3-omni-video")
LIP = spec("kwaivgi/kling-lip-sync")


def problems(model: ModelSpec, inputs: dict[str, object]) -> list[tuple[str, str]]:
    return [(i.field, i.message) for i in check_inputs(model, inputs) if i.kind != "deprecated"]


def test_v3_modes_are_the_published_standard_and_pro() -> None:
    assert V3.inputs["mode"].choices == ("standard", "pro")
    assert OMNI.inputs["mode"].choices == ("standard", "pro")
    ((field, message),) = problems(V3, {"prompt": "x", "mode": "4k"})
    assert field == "mode" and "'standard', 'pro'" in message


@pytest.mark.parametrize("model", [V3, OMNI])
def test_end_image_without_start_image_is_refused(model: ModelSpec) -> None:
    ((field, message),) = problems(model, {"prompt": "x", "end_image": "https://x/e.png"})
    assert field == "end_image"
    assert "needs start_image" in message
    assert (
        problems(
            model, {"prompt": "x", "end_image": "https://x/e.png", "start_image": "https://x/s.png"}
        )
        == []
    )


@pytest.mark.parametrize("duration", [2, 16])
def test_v3_durations_are_3_to_15(duration: int) -> None:
    ((field, _),) = problems(V3, {"prompt": "x", "duration": duration})
    assert field == "duration"


def test_omni_takes_seven_reference_images_or_four_with_a_video() -> None:
    images = [f"https://x/{i}.png" for i in range(8)]
    ((field, message),) = problems(OMNI, {"prompt": "x", "reference_images": images})
    assert field == "reference_images" and "has 8 items" in message and "at most 7" in message
    assert problems(OMNI, {"prompt": "x", "reference_images": images[:7]}) == []
    with_video = {"prompt": "x", "reference_images": images[:5], "reference_video": "https://v"}
    ((field, message),) = problems(OMNI, with_video)
    assert "at most 4 with a reference_video" in message


def test_omni_generates_no_audio_with_a_reference_video() -> None:
    inputs = {"prompt": "x", "reference_video": "https://x/v.mp4", "generate_audio": True}
    ((field, message),) = problems(OMNI, inputs)
    assert field == "generate_audio" and "reference_video" in message


def test_omni_prompt_references_are_checked_against_the_inputs() -> None:
    inputs = {
        "prompt": "<<<image_1>>> meets <<<image_3>>> in <<<video_1>>>",
        "reference_images": ["https://x/a.png", "https://x/b.png"],
    }
    found = problems(OMNI, inputs)
    assert [f for f, _ in found] == ["prompt", "prompt"]
    assert "<<<image_3>>> names image 3 but reference_images has 2" in found[0][1]
    assert "<<<video_1>>> names video 1 but reference_video has none" in found[1][1]
    ((_, message),) = problems(OMNI, {"prompt": "<<<element_1>>> walks"})
    assert "not a reference" in message


def test_raw_multi_prompt_is_checked_like_a_storyboard() -> None:
    board = json.dumps([{"prompt": "a", "duration": 3}, {"prompt": "b", "duration": 3}])
    ((field, message),) = problems(V3, {"prompt": "x", "duration": 5, "multi_prompt": board})
    assert field == "multi_prompt" and "last 6 s in all" in message and "is 5 s" in message
    seven = json.dumps([{"prompt": "a", "duration": 1}] * 7)
    messages = [m for _, m in problems(V3, {"prompt": "x", "duration": 7, "multi_prompt": seven})]
    assert messages == ["shot 7 is one too many: kwaivgi/kling-v3-video takes at most 6"]
    ((_, message),) = problems(V3, {"prompt": "x", "multi_prompt": "not json"})
    assert "JSON list" in message


def test_lip_sync_needs_text_or_audio_not_both() -> None:
    ((field, message),) = problems(LIP, {"video_url": "https://x/v.mp4"})
    assert field == "text" and "needs one of text or audio_file" in message
    both = {"video_url": "https://x/v.mp4", "text": "Hi", "audio_file": "https://x/a.mp3"}
    ((field, message),) = problems(LIP, both)
    assert field == "audio_file" and "not both" in message


def test_lip_sync_text_is_at_most_120_characters() -> None:
    line = "x" * 121
    ((field, message),) = problems(LIP, {"video_url": "https://x/v.mp4", "text": line})
    assert field == "text" and "is 121 characters long" in message and "at most 120" in message
    assert problems(LIP, {"video_url": "https://x/v.mp4", "text": "x" * 120}) == []


def test_lip_sync_voice_and_speed_follow_the_schema() -> None:
    found = problems(
        LIP,
        {"video_url": "https://x/v.mp4", "text": "Hi", "voice_id": "de_bob", "voice_speed": 3},
    )
    assert [f for f, _ in found] == ["voice_id", "voice_speed"]


def test_lip_sync_input_video_is_2_to_10_seconds_at_720_to_1080p() -> None:
    assert check_input_video(LIP, 5.0, 1280, 720) == []
    long, small = check_input_video(LIP, 11.0, 640, 360)
    assert "lasts 11.00 s" in long.message and "2–10 s" in long.message
    assert "640x360" in small.message
