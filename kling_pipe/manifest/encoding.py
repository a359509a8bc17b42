"""Reading manifest and template bytes as UTF-8, and saying what a file is when it is not.

Files saved by Windows editors or older tools arrive as UTF-16, Windows-1252, Shift-JIS or GBK.
A decode error alone ("invalid start byte at 412") leaves the user guessing; this names the line
and column of the first byte that is not UTF-8 and the encoding the file most likely has.
"""

from __future__ import annotations

import codecs

from kling_pipe.errors import ManifestError, Problem, SourceLocation

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def decode_source(raw: bytes, file: str) -> str:
    """`raw` as text (UTF-8, a UTF-8 BOM dropped); ManifestError at the first byte that is not."""
    bom = next((name for mark, name in _BOMS if raw.startswith(mark)), None)
    if bom is not None:
        raise ManifestError(
            [
                Problem(
                    f"the file is {bom} (it starts with a {bom} byte order mark); save it as UTF-8",
                    SourceLocation(file, 1, 1),
                )
            ]
        )
    wide = _utf16_without_bom(raw)
    if wide is not None:
        raise ManifestError(
            [Problem(f"the file looks like {wide}; save it as UTF-8", SourceLocation(file, 1, 1))]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
    line_start = raw.rfind(b"\n", 0, start) + 1
    line = raw.count(b"\n", 0, start) + 1
    column = len(raw[line_start:start].decode("utf-8", errors="replace")) + 1
    guess = likely_encoding(raw)
    likely = f"; it looks like {guess}" if guess else ""
    raise ManifestError(
        [
            Problem(
                f"not UTF-8: byte 0x{raw[start]:02X} cannot be decoded{likely}; save it as UTF-8",
                SourceLocation(file, line, column),
            )
        ]
    )


def likely_encoding(raw: bytes) -> str | None:
    """The legacy encoding `raw` most likely is, by which decodes give text of one script."""
    shift_jis = _decode(raw, "shift_jis")
    if shift_jis is not None and any("\u3040" <= c <= "\u30ff" for c in shift_jis):
        return "Shift-JIS (Japanese)"
    if _decode(raw, "gbk") is not None and _only_paired_high_bytes(raw):
        return "GBK (Chinese)"
    if _decode(raw, "cp1252") is not None:
        return "Windows-1252 (Western European)"
    return "Latin-1 (ISO-8859-1)"


def _decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _only_paired_high_bytes(raw: bytes) -> bool:
    """Chinese text in GBK comes as pairs of bytes >= 0xA1; Latin text has lone accented bytes."""
    run = 0
    for byte in raw:
        if byte >= 0x80:
            if byte < 0xA1:
                return False
            run += 1
        elif run % 2:
            return False
        else:
            run = 0
    return run % 2 == 0


def _utf16_without_bom(raw: bytes) -> str | None:
    """ASCII-heavy UTF-16 has a zero byte in every other position: valid UTF-8, but not text."""
    sample = raw[:4096]
    if len(sample) < 2 or b"\x00" not in sample:
        return None
    odd = sample[1::2].count(0)
    even = sample[0::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and odd > even:
        return "UTF-16 (little-endian, without a byte order mark)"
    if even > half * 0.3:
        return "UTF-16 (big-endian, without a byte order mark)"
    return None
