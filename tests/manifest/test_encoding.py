"""Files that are not UTF-8: where the first bad byte is, and what the file most likely is."""

from __future__ import annotations

import codecs

import pytest

from kling_pipe.errors import ManifestError
from kling_pipe.manifest.encoding import decode_source


def problem_of(raw: bytes) -> str:
    with pytest.raises(ManifestError) as caught:
        decode_source(raw, "m.yaml")
    (problem,) = caught.value.problems
    return str(problem)


def test_utf8_with_or_without_a_bom_decodes() -> None:
    assert decode_source("name: ケトル\n".encode(), "m.yaml") == "name: ケトル\n"
    assert decode_source(codecs.BOM_UTF8 + b"name: x\n", "m.yaml") == "name: x\n"


@pytest.mark.parametrize(
    ("text", "encoding", "where", "likely"),
    [
        ("version: 1\nname: Café crème\n", "cp1252", "2:10: not UTF-8: byte 0xE9", "Windows-1252"),
        ("a: 1\nb: Größe über alles\n", "cp1252", "2:6: not UTF-8: byte 0xF6", "Windows-1252"),
        ("a: 1\nline: すぐ沸く。\n", "shift_jis", "2:7: not UTF-8: byte 0x82", "Shift-JIS"),
        ("a: 1\nline: 快速烧开水。\n", "gbk", "2:7: not UTF-8: byte 0xBF", "GBK"),
    ],
)
def test_legacy_encodings_give_the_first_bad_byte_and_the_likely_encoding(
    text: str, encoding: str, where: str, likely: str
) -> None:
    problem = problem_of(text.encode(encoding))
    assert problem.startswith(f"m.yaml:{where} cannot be decoded; it looks like {likely}")
    assert problem.endswith("save it as UTF-8")


@pytest.mark.parametrize(
    ("encoding", "name"), [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")]
)
def test_a_byte_order_mark_says_which_unicode_encoding_the_file_is(
    encoding: str, name: str
) -> None:
    raw = ("\ufeff" if encoding == "utf-16-be" else "") + "version: 1\n"
    assert problem_of(raw.encode(encoding)) == (
        f"m.yaml:1:1: the file is {name} (it starts with a {name} byte order mark); "
        "save it as UTF-8"
    )


@pytest.mark.parametrize(("encoding", "order"), [("utf-16-le", "little"), ("utf-16-be", "big")])
def test_utf16_without_a_bom_is_recognised(encoding: str, order: str) -> None:
    problem = problem_of("version: 1\nname: demo\n".encode(encoding))
    assert problem == (
        f"m.yaml:1:1: the file looks like UTF-16 ({order}-endian, without a byte order mark); "
        "save it as UTF-8"
    )
