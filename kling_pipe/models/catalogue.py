"""The Kling models on Replicate that kling-pipe knows without any network.

The descriptions follow Replicate's published schemas for the Kling models (see the project's
notes). Sources of the v3 and lip-sync entries, read on 2026-11-25:

- kwaivgi/kling-v3-video, version 4a8ba274… (updated 2026-02-26):
  replicate.com/kwaivgi/kling-v3-video/versions/4a8ba274…/api. `mode` is standard (720p) or
  pro (1080p); no 4k mode is published on Replicate, so none is offered here.
- kwaivgi/kling-v3-omni-video, version 1d449e25…:
  replicate.com/kwaivgi/kling-v3-omni-video/versions/1d449e25…/api. Reference images "Max 7
  without video, 4 with video"; generate_audio "Mutually exclusive with reference video";
  modes standard/pro as above.
- kwaivgi/kling-lip-sync, versions bdb264e4… and 8311467f…: replicate.com/kwaivgi/
  kling-lip-sync/versions/bdb264e4…/api, and a code dump of 8311467f's schema for the 46
  `voice_id` choices. The 120-character limit on `text` is not in Replicate's schema; it is
  Kling's own API limit (its lip-sync docs: "max length 120"), enforced here because Kling
  fails the prediction otherwise.

Prices: Replicate publishes them on model pages, not in the API, so they are kept here with the
date they were read (`prices_as_of`). Where a price could not be read from Replicate it is the
conservative (higher) figure from the sources named beside it: an estimate that errs towards
stopping a budget early rather than overspending it.
"""

from __future__ import annotations

from typing import Any

from kling_pipe.models.spec import (
    InputSpec,
    InputVideo,
    MaxItems,
    MaxLength,
    ModelRegistry,
    ModelSpec,
    NotWith,
    OneOf,
    PromptReferences,
    Requires,
    Storyboard,
)

PRICE_TABLE_AS_OF = "2026-11-25"
"""When this price table was compiled and its sources read."""

# Replicate's kling-v3-video page as listed by lumenfall.ai "as of Mar 13, 2026": $0.168/s and
# $0.252/s with audio, which match Kling 3.0 standard elsewhere (krea.ai lists 5% over these).
# The pro rates (0.224, 0.336) are krea.ai's less 5%: NOT verified on Replicate. Omni's prices
# could not be found for Replicate at all: it is priced like v3 video (unverified).
_V3_PRICES_AS_OF = "2026-03-13"
_V3_PRICES = {"standard": 0.168, "pro": 0.224}
_V3_AUDIO_PRICES = {"standard": 0.252, "pro": 0.336}
# Lip-sync: $0.014 per second of video, the figure a public Replicate client README gives for
# kwaivgi/kling-lip-sync and fal.ai's list price for Kling lip-sync; NOT read from replicate.com.
# Billed on the input video's seconds; planned at 10 s (the longest it takes) when unknown.
_LIP_SYNC_PRICE = 0.014
_LIP_SYNC_PRICES_AS_OF = PRICE_TABLE_AS_OF

LIP_SYNC_VOICES = (
    "en_AOT", "en_oversea_male1", "en_girlfriend_4_speech02", "en_chat_0407_5-1",
    "en_uk_boy1", "en_PeppaPig_platform", "en_ai_huangzhong_712", "en_calm_story1",
    "en_uk_man2", "en_reader_en_m-v1", "en_commercial_lady_en_f-v1", "zh_genshin_vindi2",
    "zh_zhinen_xuesheng", "zh_tiyuxi_xuedi", "zh_ai_shatang", "zh_genshin_klee2",
    "zh_genshin_kirara", "zh_ai_kaiya", "zh_tiexin_nanyou", "zh_ai_chenjiahao_712",
    "zh_girlfriend_1_speech02", "zh_chat1_female_new-3", "zh_girlfriend_2_speech02",
    "zh_cartoon-boy-07", "zh_cartoon-girl-01", "zh_ai_huangyaoshi_712", "zh_you_pingjing",
    "zh_ai_laoguowang_712", "zh_chengshu_jiejie", "zh_zhuxi_speech02", "zh_uk_oldman3",
    "zh_laopopo_speech02", "zh_heainainai_speech02", "zh_dongbeilaotie_speech02",
    "zh_chongqingxiaohuo_speech02", "zh_chuanmeizi_speech02", "zh_chaoshandashu_speech02",
    "zh_ai_taiwan_man2_speech02", "zh_xianzhanggui_speech02", "zh_tianjinjiejie_speech02",
    "zh_diyinnansang_DB_CN_M_04-v2", "zh_yizhipiannan-v1", "zh_guanxiaofang-v2",
    "zh_tianmeixuemei-v1", "zh_daopianyansang-v1", "zh_mengwa-v1",
)  # fmt: skip
"""kwaivgi/kling-lip-sync's `voice_id` choices (version 8311467f…)."""

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
    kw.setdefault("prices_as_of", PRICE_TABLE_AS_OF)
    return ModelSpec(ref=ref, inputs={i.name: i for i in inputs}, summary=summary, **kw)


_V3_MODE = InputSpec(
    "mode",
    "string",
    "standard generates 720p, pro 1080p.",
    default="pro",
    choices=("standard", "pro"),
)
_V3_DURATION = InputSpec(
    "duration", "integer", "Video duration in seconds.", default=5, minimum=3, maximum=15
)
_MULTI_PROMPT = InputSpec(
    "multi_prompt",
    "string",
    'JSON array of shots [{"prompt": "...", "duration": N}]: at most 6, each at least 1 s, '
    "summing to duration. Write it as a shot's `storyboard:` in the manifest.",
)


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
        "Text/image to video, 3–15 s, multi-shot storyboards, optional audio.",
        [
            _prompt(2500),
            _NEG,
            _START,
            InputSpec("end_image", "uri", "Last frame image. Requires start_image."),
            _V3_MODE,
            _ratio(),
            _V3_DURATION,
            InputSpec("generate_audio", "boolean", "Generate native audio.", default=False),
            _MULTI_PROMPT,
        ],
        price_per_second=_V3_PRICES["pro"],
        price_per_second_with_audio=_V3_AUDIO_PRICES["pro"],
        mode_prices=_V3_PRICES,
        mode_prices_with_audio=_V3_AUDIO_PRICES,
        ignores_aspect_ratio_with_start_image=True,
        rules=(Requires("end_image", "start_image"), Storyboard()),
        prices_as_of=_V3_PRICES_AS_OF,
    ),
    _spec(
        "kwaivgi/kling-v3-omni-video",
        "Video from reference images or a reference video, 3–15 s, storyboards, optional audio.",
        [
            InputSpec(
                "prompt",
                "string",
                "Text prompt; <<<image_N>>> and <<<video_1>>> name the references.",
                required=True,
                max_length=2500,
            ),
            _START,
            InputSpec("end_image", "uri", "Last frame image. Requires start_image."),
            InputSpec(
                "reference_images",
                "uri_list",
                "Reference images for elements, scenes or styles: at most 7, 4 with a video.",
            ),
            InputSpec("reference_video", "uri", "Reference video (.mp4/.mov), 3–10 s."),
            InputSpec(
                "video_reference_type",
                "string",
                "feature: style/camera reference; base: edit the video.",
                default="feature",
                choices=("feature", "base"),
            ),
            InputSpec(
                "keep_original_sound",
                "boolean",
                "Keep the reference video's sound.",
                default=True,
            ),
            InputSpec(
                "generate_audio",
                "boolean",
                "Generate native audio; not with a reference video.",
                default=False,
            ),
            _V3_MODE,
            _ratio(),
            _V3_DURATION,
            _MULTI_PROMPT,
        ],
        price_per_second=_V3_PRICES["pro"],
        price_per_second_with_audio=_V3_AUDIO_PRICES["pro"],
        mode_prices=_V3_PRICES,
        mode_prices_with_audio=_V3_AUDIO_PRICES,
        ignores_aspect_ratio_with_start_image=True,
        rules=(
            Requires("end_image", "start_image"),
            MaxItems("reference_images", 7, with_input="reference_video", limit_with=4),
            NotWith("generate_audio", True, "reference_video"),
            PromptReferences({"image": "reference_images", "video": "reference_video"}),
            Storyboard(),
        ),
        prices_as_of=_V3_PRICES_AS_OF,
    ),
    _spec(
        "kwaivgi/kling-lip-sync",
        "Re-voice a 2–10 s, 720–1080p video from text (a Kling voice) or an audio file.",
        [
            InputSpec(
                "video_url",
                "uri",
                "The video to lip-sync: .mp4/.mov under 100 MB, 2–10 s, 720–1920 px a side.",
            ),
            InputSpec("audio_file", "uri", "Audio to lip-sync to: .mp3/.wav/.m4a/.aac, < 5 MB."),
            InputSpec("text", "string", "Text to speak (when not using audio_file)."),
            InputSpec(
                "voice_id",
                "string",
                "Kling voice speaking `text`; en_* English, zh_* Chinese.",
                default="en_AOT",
                choices=LIP_SYNC_VOICES,
            ),
            InputSpec(
                "voice_speed",
                "number",
                "Speech rate for `text`.",
                default=1,
                minimum=0.8,
                maximum=2,
            ),
            InputSpec("video_id", "string", "A Kling-generated video's id, instead of video_url."),
        ],
        price_per_second=_LIP_SYNC_PRICE,
        rules=(
            OneOf(("video_url", "video_id"), "the video to re-voice"),
            OneOf(("text", "audio_file"), "what the video says"),
            MaxLength("text", 120),
            InputVideo("video_url", min_seconds=2, max_seconds=10, min_side=720, max_side=1920),
        ),
        seconds_from="video_url",
        prices_as_of=_LIP_SYNC_PRICES_AS_OF,
    ),
]


def bundled_registry() -> ModelRegistry:
    """The Kling models on Replicate that kling-pipe knows without any network."""
    return ModelRegistry(_BUNDLED)
