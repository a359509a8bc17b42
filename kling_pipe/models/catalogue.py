"""The Kling models on Replicate that kling-pipe knows without any network.

The descriptions follow Replicate's published schemas for the Kling models (see the project's
notes).
"""

from __future__ import annotations

from typing import Any

from kling_pipe.models.spec import InputSpec, ModelRegistry, ModelSpec

_ASPECT = ("16:9", "9:16", "1:1")
_NEG = InputSpec("negative_prompt", "string", "Things you do not want to see.", default="")
_START = InputSpec("start_image", "uri", "First frame of the video (image-to-video).")
_END = InputSpec("end_image", "uri", "Last frame of the video.")


def _prompt(max_length: int | None = None) -> InputSpec:
    return InputSpec(
        "prompt",
        "string",
        "Text prompt for video generation.",
        required=True,
        max_length=max_length,
    )


def _ratio() -> InputSpec:
    return InputSpec(
        "aspect_ratio",
        "string",
        "Aspect ratio; ignored when start_image is set.",
        default="16:9",
        choices=_ASPECT,
    )


def _spec(ref: str, summary: str, inputs: list[InputSpec], **kw: Any) -> ModelSpec:
    return ModelSpec(ref=ref, inputs={i.name: i for i in inputs}, summary=summary, **kw)


_BUNDLED = [
    _spec(
        "kwaivgi/kling-v2.6",
        "Text/image to video with native audio and lip-synced dialogue.",
        [
            _prompt(2500),
            _NEG,
            _START,
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, choices=(5, 10)),
            InputSpec("generate_audio", "boolean", "Generate audio and dialogue.", default=True),
        ],
        price_per_second=0.07,
        price_per_second_with_audio=0.14,
        ignores_aspect_ratio_with_start_image=True,
    ),
    _spec(
        "kwaivgi/kling-v2.5-turbo-pro",
        "Fast text/image to video, no audio.",
        [
            _prompt(2500),
            _NEG,
            _START,
            _END,
            InputSpec("image", "uri", "Deprecated: use start_image.", deprecated=True),
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, choices=(5, 10)),
        ],
        price_per_second=0.07,
        ignores_aspect_ratio_with_start_image=True,
    ),
    _spec(
        "kwaivgi/kling-v2.1",
        "Image to video; 720p standard or 1080p pro.",
        [
            _prompt(2500),
            InputSpec("start_image", "uri", "First frame of the video.", required=True),
            InputSpec("end_image", "uri", "Last frame (pro mode only)."),
            InputSpec(
                "mode",
                "string",
                "standard (720p) or pro (1080p).",
                default="standard",
                choices=("standard", "pro"),
            ),
            InputSpec("duration", "integer", "Seconds of video.", default=5, choices=(5, 10)),
            _NEG,
        ],
        price_per_second=0.05,
        mode_prices={"standard": 0.05, "pro": 0.09},
    ),
    _spec(
        "kwaivgi/kling-v3-video",
        "Text/image to video, 3–15 s, multi-shot prompts, optional audio.",
        [
            _prompt(2500),
            _NEG,
            _START,
            _END,
            InputSpec(
                "mode", "string", "Quality mode.", default="pro", choices=("standard", "pro")
            ),
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, minimum=3, maximum=15),
            InputSpec("generate_audio", "boolean", "Generate audio.", default=False),
            InputSpec("multi_prompt", "string", "JSON list of up to 6 shots summing to duration."),
        ],
        price_per_second=0.10,
        price_per_second_with_audio=0.15,
        ignores_aspect_ratio_with_start_image=True,
    ),
    _spec(
        "kwaivgi/kling-v3-omni-video",
        "Video from references (images, a video), 3–15 s, optional audio.",
        [
            _prompt(2500),
            _START,
            _END,
            InputSpec("reference_images", "uri_list", "Up to 7 reference images.", max_items=7),
            InputSpec("reference_video", "uri", "A reference video."),
            InputSpec(
                "video_reference_type",
                "string",
                "How the reference video is used.",
                choices=("feature", "base"),
            ),
            InputSpec("keep_original_sound", "boolean", "Keep the reference video's sound."),
            InputSpec("generate_audio", "boolean", "Generate audio.", default=False),
            InputSpec(
                "mode", "string", "Quality mode.", default="pro", choices=("standard", "pro")
            ),
            _ratio(),
            InputSpec("duration", "integer", "Seconds of video.", default=5, minimum=3, maximum=15),
            InputSpec("multi_prompt", "string", "JSON list of up to 6 shots summing to duration."),
        ],
        price_per_second=0.10,
        price_per_second_with_audio=0.15,
        ignores_aspect_ratio_with_start_image=True,
    ),
]


def bundled_registry() -> ModelRegistry:
    """The Kling models on Replicate that kling-pipe knows without any network."""
    return ModelRegistry(_BUNDLED)
