"""Captions from each shot's quoted dialogue: where they sit in a cut, as SRT and as burned text.

Kling speaks quoted lines somewhere in its clip; we lay them across the clip the same way the
preview renderer lays out its dialogue tones, so a preview cut's captions land on its tones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kling_pipe.media.preview import font_for, layout_tones, wrap_text


@dataclass(frozen=True)
class Caption:
    """One caption: its text and when it shows, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class CaptionStyle:
    """How burned captions look at a given frame size (scaled to it, like libass would not)."""

    font_size: int
    columns: int
    bottom_margin: int
    max_lines: int = 2


def caption_style(width: int, height: int) -> CaptionStyle:
    """A caption style for a `width`×`height` frame: text about 1/18 of the shorter side."""
    font_size = max(10, round(min(width, height) / 18))
    columns = max(8, int(width * 0.9 / (font_size * 0.55)))
    return CaptionStyle(font_size=font_size, columns=columns, bottom_margin=round(height * 0.06))


def layout_captions(lines: Sequence[str], duration: float, offset: float = 0.0) -> list[Caption]:
    """Spread a clip's dialogue `lines` over its `duration`, shifted to start at `offset`."""
    return [
        Caption(
            text=span.line, start=round(offset + span.start, 3), end=round(offset + span.end, 3)
        )
        for span in layout_tones(list(lines), duration)
    ]


def caption_rows(caption: Caption, style: CaptionStyle) -> list[str]:
    """The caption's text wrapped into at most `style.max_lines` rows."""
    return wrap_text(caption.text, style.columns, style.max_lines)


def caption_font(text: str) -> str:
    """The shipped font file with glyphs for `text`."""
    return str(font_for(text))


def srt_timestamp(seconds: float) -> str:
    """SRT's `HH:MM:SS,mmm`."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def srt_text(captions: Sequence[Caption]) -> str:
    """The captions as an SRT document (empty string when there are none)."""
    blocks = [
        f"{index}\n{srt_timestamp(c.start)} --> {srt_timestamp(c.end)}\n{c.text}\n"
        for index, c in enumerate(sorted(captions, key=lambda c: c.start), start=1)
    ]
    return "\n".join(blocks)
