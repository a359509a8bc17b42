"""Made cuts remembered: a cut whose inputs are unchanged and whose file is intact is kept.

Each finished cut leaves one small JSON record in the intermediates cache (`cuts/<hash of the
output path>.json`): the key of everything that decides the cut (see `stitch.cut_key`), the
output's and the SRT's size and sha256, and the result to hand back. A later stitch with the same
key and intact files returns that result without probing a clip or running ffmpeg. The record is
the one place this is kept; the output file carries no extra metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kling_pipe.canonical import canonical_json, file_sha256, sha256_hex
from kling_pipe.durable import write_atomically


@dataclass(frozen=True)
class FileStamp:
    """A file's size and content hash, to tell whether it is still the file that was made."""

    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        """The stamp of the file at `path` as it is now."""
        return cls(path.stat().st_size, file_sha256(path))

    def matches(self, path: Path) -> bool:
        """Whether `path` still holds exactly this file (size first: it costs no read)."""
        try:
            if path.stat().st_size != self.size:
                return False
        except OSError:
            return False
        return file_sha256(path) == self.sha256


@dataclass(frozen=True)
class CutRecord:
    """What is remembered of a made cut: its key, its files' stamps, its result as plain data."""

    key: str
    output: FileStamp
    srt: FileStamp
    result: dict[str, Any]


def record_path(cache_dir: Path, out_path: Path) -> Path:
    """Where the record of the cut written to `out_path` lives in `cache_dir`."""
    # Named by the output's absolute path: one record per cut file, replaced when it is re-made.
    return cache_dir / "cuts" / f"{sha256_hex(str(out_path.resolve()))}.json"


def load_record(cache_dir: Path, out_path: Path) -> CutRecord | None:
    """The record of the cut at `out_path`, or None when there is none or it cannot be read."""
    try:
        data = json.loads(record_path(cache_dir, out_path).read_text("utf-8"))
        return CutRecord(
            key=str(data["key"]),
            output=FileStamp(int(data["output"]["size"]), str(data["output"]["sha256"])),
            srt=FileStamp(int(data["srt"]["size"]), str(data["srt"]["sha256"])),
            result=dict(data["result"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        # A missing or damaged record only costs a re-made cut.
        return None


def reusable(record: CutRecord | None, key: str, out_path: Path, srt_path: Path) -> bool:
    """Whether the recorded cut is the one `key` asks for and both its files are intact."""
    return (
        record is not None
        and record.key == key
        and record.output.matches(out_path)
        and record.srt.matches(srt_path)
    )


def save_record(
    cache_dir: Path, out_path: Path, srt_path: Path, key: str, result: dict[str, Any]
) -> CutRecord:
    """Stamp the freshly made cut's files and write its record (atomically)."""
    record = CutRecord(key, FileStamp.of(out_path), FileStamp.of(srt_path), result)
    data = {
        "key": record.key,
        "output": {"size": record.output.size, "sha256": record.output.sha256},
        "srt": {"size": record.srt.size, "sha256": record.srt.sha256},
        "result": record.result,
    }
    write_atomically(record_path(cache_dir, out_path), canonical_json(data).encode("utf-8"))
    return record
