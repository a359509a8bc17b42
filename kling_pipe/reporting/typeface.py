"""The CJK typeface pages embed, cut down to the characters they show.

Japanese and Chinese lines must never render as boxes, whatever fonts the viewer's machine has.
The package already ships WenQuanYi Micro Hei (Apache-2.0) for preview renders; a page embeds
a subset of it holding only the characters outside Latin-1 that it shows (a few kilobytes for
a campaign's lines), as an inline `@font-face` that the page's font stack names first (a system font
named before it may claim every character and draw boxes), for those characters only
(`unicode-range`), so Latin text keeps the system font.
"""

from __future__ import annotations

import base64
import contextlib
import io
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from kling_pipe.canonical import sha256_hex
from kling_pipe.durable import write_atomically
from kling_pipe.media.preview import CJK_FONT_FILE

FAMILY = "kling-cjk"
"""The family name pages use for the embedded subset."""

_FIRST_WIDE = 0x2E80  # CJK radicals; everything a Latin system font covers lies below
CJK_RANGES = "U+2E80-9FFF, U+AC00-D7AF, U+F900-FAFF, U+FE30-FE4F, U+FF00-FFEF"
"""The blocks the whole face is declared for (ideographs, kana, hangul, full-width forms)."""


def wide_characters(texts: Iterable[str]) -> str:
    """The distinct CJK-range characters of `texts`, sorted: what the subset must hold."""
    found: set[str] = set()
    for text in texts:
        found.update(ch for ch in text if ord(ch) >= _FIRST_WIDE)
    return "".join(sorted(found))


@lru_cache(maxsize=16)
def font_subset(characters: str) -> bytes:
    """A TrueType font holding the glyphs of `characters` (those the font has)."""
    # fontTools costs a run about 13 MB: imported only for a page that shows CJK text.
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(CJK_FONT_FILE, fontNumber=0, lazy=True)
    if "FFTM" in font:  # a FontForge timestamp fontTools cannot subset (and warns about)
        del font["FFTM"]
    options = subset.Options()
    options.layout_features = []
    options.hinting = False
    options.name_IDs = [1, 2]
    options.notdef_outline = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=characters)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def kept_font_subset(characters: str, folder: Path) -> bytes:
    """`font_subset(characters)`, kept in `folder` by the face and the characters: a page made
    again with the same lines (after every `stitch` and `run`) does not subset the face again,
    which costs about half a second."""
    face = Path(CJK_FONT_FILE)
    key = sha256_hex(f"{face.name}:{face.stat().st_size}:{characters}")
    kept = folder / f"{key}.ttf"
    with contextlib.suppress(OSError):
        return kept.read_bytes()
    data = font_subset(characters)
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        write_atomically(kept, data)
    return data


@lru_cache(maxsize=1)
def whole_font() -> bytes:
    """The whole CJK face as one TrueType font (about 5 MB), for a page that may show text
    not known when it was made (a reviewer's note)."""
    from fontTools.ttLib import TTFont

    font = TTFont(CJK_FONT_FILE, fontNumber=0)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _unicode_range(characters: str) -> str:
    return ",".join(f"U+{ord(ch):X}" for ch in characters)


def font_face_css(
    characters: str, whole_font_url: str | None = None, kept_in: Path | None = None
) -> str:
    """An inline `@font-face` rule for `characters` (empty when there are none), and with
    `whole_font_url` one for the whole face, which a browser fetches only when it must draw a
    CJK character the subset lacks. (Of faces whose ranges overlap the one declared last is
    tried first: the subset.) `kept_in`: a folder keeping subsets made before."""
    rules = []
    if whole_font_url is not None:
        rules.append(
            f"@font-face {{ font-family: {FAMILY}; font-display: swap; "
            f"src: url({whole_font_url}) format('truetype'); unicode-range: {CJK_RANGES}; }}"
        )
    if characters:
        subset = (
            font_subset(characters) if kept_in is None else kept_font_subset(characters, kept_in)
        )
        data = base64.b64encode(subset).decode("ascii")
        rules.append(
            f"@font-face {{ font-family: {FAMILY}; font-display: block; "
            f"src: url(data:font/ttf;base64,{data}) format('truetype'); "
            f"unicode-range: {_unicode_range(characters)}; }}"
        )
    return "\n".join(rules)
