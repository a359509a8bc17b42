"""report.html from a Gallery: one self-contained page that works from disk. Pure.

Inline CSS, JS and font only (no CDN, nothing to fetch): the CJK characters the page shows are
embedded as a font subset, so Japanese and Chinese never render as boxes. Clips and posters are
referenced by paths relative to the page, which lives beside them in `out/<name>/` (clips may
instead be signed URLs of the bucket store: `report --link-store`). Every text from the
manifest, the run or the server is HTML-escaped.

The page stays as quick to open with 10,000 jobs as with 24: cards are written in blocks (a
market's row of a shot, at most a few cards of each cell across, a few variations, a few cuts),
each an empty placeholder of about its height; the blocks' HTML travels once, gzip-compressed,
in one inert `<script>` (see `pack_blocks`). The page's script inflates it, inserts a block's
cards when it comes near the screen (IntersectionObserver) and takes them out again when it
leaves, so only what is on screen is ever laid out; videos load nothing until played
(`preload="none"`, a poster frame). Filters read a compact index of every card's values, not the
cards themselves.
"""

from __future__ import annotations

import base64
import gzip
import json
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from kling_pipe.reporting.contents import (
    NOT_RUN,
    ClipCard,
    CutCard,
    Gallery,
    Media,
    NotGenerated,
    ShotGrid,
    TakeCard,
    UpstreamClip,
)
from kling_pipe.reporting.typeface import font_face_css, wide_characters

_Item = TypeVar("_Item")

FACETS = (("market", "Market"), ("ratio", "Ratio"), ("status", "Status"))
PROMPT_PREVIEW_CHARS = 110
MEDIA_LONG_SIDE = 356  # px: a vertical clip is as tall as a horizontal one is wide
CARD_TEXT_HEIGHT = 190  # px below the media, for a placeholder's first guess
VARIATIONS_PER_BLOCK = 4
CARDS_PER_BLOCK = 8
CUTS_PER_BLOCK = 4
PROBLEMS_PER_BLOCK = 40
PROBLEM_HEIGHT = 24  # px of one line of the problems list, for a placeholder's first guess
CELL_CARDS_ACROSS = 4  # cards of one grid cell side by side, at most


@cache
def _static(name: str) -> str:
    return (files("kling_pipe.reporting") / "static" / name).read_text("utf-8")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _href(relative: str) -> str:
    if relative.startswith(("https://", "http://")):
        return _e(relative)  # a signed link: already a URL, its query is its signature
    return _e(quote(relative, safe="/"))


def _slug(status: str) -> str:
    return status.replace(" ", "-")


def media_size(ratio: str | None) -> tuple[int, int]:
    """Width and height in px of a clip's frame on its card: the long side is the same for every
    ratio, so a vertical clip is shown as large as a horizontal one."""
    try:
        width, height = (float(n) for n in (ratio or "16:9").split(":"))
    except ValueError:
        width, height = 16.0, 9.0
    if width <= 0 or height <= 0:
        width, height = 16.0, 9.0
    if width >= height:
        return MEDIA_LONG_SIDE, round(MEDIA_LONG_SIDE * height / width)
    return round(MEDIA_LONG_SIDE * width / height), MEDIA_LONG_SIDE


def _card_width(ratio: str | None, takes: int) -> int:
    width, _ = media_size(ratio)
    return max(220, takes * width + (takes - 1) * 6 + 18)


def _filter_attrs(
    market: str | None, ratio: str | None, status: str, axes: Sequence[tuple[str, str]] = ()
) -> str:
    extra = "".join(f' data-axis-{_e(_axis_slug(a))}="{_e(v)}"' for a, v in axes)
    return (
        f'data-market="{_e(market or "")}" data-ratio="{_e(ratio or "")}" '
        f'data-status="{_e(status)}"{extra}'
    )


def _axis_slug(axis: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in axis.lower())


_STILLS = (".png", ".jpg", ".webp")


def _player(media: Media, label: str, status: str, take: TakeCard | None = None) -> str:
    classes = "take"
    badges = ""
    if take is not None and take.picked:
        classes += " picked"
        badges += '<span class="badge rv-picked">picked</span>'
    if take is not None and take.rejected:
        classes += " rejected"
        badges += '<span class="badge rv-rejected">rejected</span>'
    name = f"take {take.number}" if take is not None else ""
    if media.video is None:
        text = "not run yet" if status == NOT_RUN else f"no clip: {status}"
        return (
            f'<div class="{classes}"><div class="frame placeholder" role="img" '
            f'aria-label="{_e(label)}">{_e(text)}</div></div>'
        )
    if media.video.endswith(_STILLS):  # an image model's output: a still, nothing to play
        return (
            f'<div class="{classes}"><img class="frame" src="{_href(media.video)}" '
            f'alt="{_e(label)}"><div class="controls"><span>{_e(name)}</span>{badges}'
            "</div></div>"
        )
    poster = f' poster="{_href(media.poster)}"' if media.poster else ""
    return (
        f'<div class="{classes}"><video class="frame" preload="none" playsinline{poster} '
        f'src="{_href(media.video)}" aria-label="{_e(label)}"></video>'
        '<div class="controls"><button type="button" class="play">▶ play</button>'
        f'<input class="seek" type="range" min="0" max="1000" value="0" '
        f'aria-label="seek {_e(label)}"><span>{_e(name)}</span>{badges}</div></div>'
    )


def _prompt(text: str, negative: str) -> str:
    if not text:
        return ""
    short = text if len(text) <= PROMPT_PREVIEW_CHARS else text[: PROMPT_PREVIEW_CHARS - 1] + "…"
    negative_html = f"<p><b>Negative:</b> {_e(negative)}</p>" if negative else ""
    return (
        f'<details class="prompt"><summary>{_e(short)}</summary>'
        f"<p>{_e(text)}</p>{negative_html}</details>"
    )


def _upstream(up: UpstreamClip) -> str:
    """The clip a downstream job was made from, beside it: its poster, linked to its card."""
    picture = (
        f'<img src="{_href(up.media.poster)}" alt="{_e(up.job_id)}">' if up.media.poster else ""
    )
    return (
        f'<div class="upstream">{_e(up.input)} from <a href="#job-{_e(up.job_id)}">'
        f"{picture}<code>{_e(up.job_id)}</code></a></div>"
    )


def _takes(card: ClipCard) -> str:
    takes = card.takes or (TakeCard(1, card.media),)
    players = "".join(
        _player(
            t.media,
            card.job_id if t.number == 1 else f"{card.job_id} take {t.number}",
            card.status,
            t if len(takes) > 1 or t.picked or t.rejected else None,
        )
        for t in takes
    )
    return f'<div class="takes">{players}</div>'


def _clip_card(card: ClipCard) -> str:
    parts: list[str] = []
    if card.caption is not None:
        details = "".join(f"<dt>{_e(k)}:</dt> <dd>{_e(v)}</dd>" for k, v in card.caption.details)
        parts.append(
            f'<div class="caption">{_e(card.caption.title)}'
            + (f"<dl>{details}</dl>" if details else "")
            + "</div>"
        )
    parts.append(_takes(card))
    if card.line:
        lang = f' lang="{_e(card.locale)}"' if card.locale else ""
        parts.append(f'<p class="line"{lang}>{_e(card.line)}</p>')
    cost = (
        f"${card.cost_usd:.2f} spent · est. ${card.estimate_usd:.2f}"
        if card.cost_usd is not None
        else f"est. ${card.estimate_usd:.2f}"
    )
    review = (
        f'<span class="badge rv-{_e(card.review)}">{_e(card.review)}</span>' if card.review else ""
    )
    parts.append(
        '<div class="meta">'
        f'<span class="badge st-{_slug(card.status)}">{_e(card.status)}</span>'
        f'<span class="badge ch-{_e(card.change)}">{_e(card.change)}</span>{review}'
        f"<span>{_e(card.duration)} s</span><span>{_e(cost)}</span></div>"
    )
    prediction = (
        f' · <code title="prediction id">{_e(card.prediction_id)}</code>'
        if card.prediction_id
        else ""
    )
    attempts = f" · {card.attempts} attempts" if card.attempts > 1 else ""
    parts.append(f'<div class="meta"><code>{_e(card.job_id)}</code>{prediction}{attempts}</div>')
    if card.note:
        parts.append(f'<p class="note">{_e(card.note)}</p>')
    if card.reason:
        parts.append(f'<div class="reason">{_e(card.change)}: {_e(card.reason)}</div>')
    if card.error:
        parts.append(f'<p class="error">{_e(card.error)}</p>')
    parts.extend(_upstream(up) for up in card.upstream)
    parts.append(_prompt(card.prompt, card.negative_prompt))
    attrs = _filter_attrs(card.market, card.aspect_ratio, card.status, card.axes)
    if card.review:
        attrs += f' data-review="{_e(card.review)}"'
    width, height = media_size(card.aspect_ratio)
    style = (
        f"--w:{_card_width(card.aspect_ratio, len(card.takes) or 1)}px;"
        f"--mw:{width}px;--mh:{height}px"
    )
    return (
        f'<article class="card" id="job-{_e(card.job_id)}" style="{style}" {attrs}>'
        + "".join(parts)
        + "</article>"
    )


@dataclass(frozen=True)
class _Block:
    """Cards written together and shown together, with the values the filters read."""

    html: str
    values: tuple[dict[str, str], ...]
    height: int


def _values(card: ClipCard, status: str | None = None) -> dict[str, str]:
    return {
        "market": card.market or "",
        "ratio": card.aspect_ratio,
        "status": card.status if status is None else status,
        "review": card.review,
        **{f"axis-{_axis_slug(a)}": v for a, v in card.axes},
    }


def _card_height(ratio: str | None) -> int:
    return media_size(ratio)[1] + CARD_TEXT_HEIGHT


def _chunks(items: Sequence[_Item], size: int) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _shot_blocks(grid: ShotGrid) -> tuple[str, Iterator[_Block]]:
    """The shot's grid head and its blocks, made as they are placed (not all at once)."""
    if len(grid.markets) == 1 and len(grid.ratios) == 1:
        # One market and ratio: the cards are variations of each other (previs), side by side.
        variations = (
            _Block(
                '<div class="cards variations">' + "".join(_clip_card(c) for c in chunk) + "</div>",
                tuple(_values(c) for c in chunk),
                _card_height(grid.ratios[0]),
            )
            for chunk in _chunks(grid.cards, VARIATIONS_PER_BLOCK)
        )
        return "", variations
    by_cell: dict[tuple[str | None, str], list[ClipCard]] = {}
    for card in grid.cards:  # one pass: a shot of 10,000 jobs has thousands of cells
        by_cell.setdefault((card.market, card.aspect_ratio), []).append(card)
    # A cell shows at most `across` cards side by side; the rest go on further rows of the same
    # market, each its own block, so that a cell of hundreds of cards (a third matrix axis) is
    # neither one block of hundreds of cards nor a column hundreds of cards wide.
    across = max(1, min(CELL_CARDS_ACROSS, CARDS_PER_BLOCK // len(grid.ratios)))
    widths = []
    for ratio in grid.ratios:
        widest = max(
            (
                sum(_card_width(ratio, len(c.takes) or 1) + 10 for c in part)
                for m in grid.markets
                for part in _chunks(by_cell.get((m, ratio), []), across)
            ),
            default=0,
        )
        widths.append(max(_card_width(ratio, 1), widest))
    columns = "6rem " + " ".join(f"{w}px" for w in widths)
    head = (
        f'<div class="grid-head" style="--cols:{columns}"><div></div>'
        + "".join(f"<div>{_e(r)}</div>" for r in grid.ratios)
        + "</div>"
    )
    return head, _rows_together(_grid_rows(grid, by_cell, across, columns))


def _grid_rows(
    grid: ShotGrid,
    by_cell: dict[tuple[str | None, str], list[ClipCard]],
    across: int,
    columns: str,
) -> Iterator[_Block]:
    for market in grid.markets:
        cells = [by_cell.get((market, ratio), []) for ratio in grid.ratios]
        deepest = max((len(cell) for cell in cells), default=0)
        for start in range(0, max(deepest, 1), across):
            parts = [cell[start : start + across] for cell in cells]
            more = ' class="market more"' if start else ' class="market"'
            html = (
                f'<div class="grid-row" data-group style="--cols:{columns}">'
                f"<div{more}>{_e(market or '—')}</div>"
                + "".join(
                    '<div class="cell">' + "".join(_clip_card(c) for c in part) + "</div>"
                    for part in parts
                )
                + "</div>"
            )
            cards = [c for part in parts for c in part]
            height = max((_card_height(c.aspect_ratio) for c in cards), default=200)
            yield _Block(html, tuple(_values(c) for c in cards), height)


def _rows_together(rows: Iterable[_Block]) -> Iterator[_Block]:
    """Rows joined into blocks of about CARDS_PER_BLOCK cards: fewer placeholders to parse and
    observe, while a block still holds only what a screen or two shows."""
    pending: list[_Block] = []
    for row in rows:
        pending.append(row)
        if sum(len(r.values) for r in pending) >= CARDS_PER_BLOCK:
            yield _join(pending)
            pending = []
    if pending:
        yield _join(pending)


def _join(rows: list[_Block]) -> _Block:
    return _Block(
        "".join(r.html for r in rows),
        tuple(v for r in rows for v in r.values),
        sum(r.height for r in rows),
    )


def _cut_card(cut: CutCard) -> str:
    parts = [
        f'<div class="caption">{_e(cut.id)}</div>',
        f'<div class="takes">{_player(cut.media, cut.id, cut.status)}</div>',
    ]
    seconds = f"<span>{cut.seconds:.1f} s</span>" if cut.seconds is not None else ""
    srt = f'<a href="{_href(cut.srt)}">captions (.srt)</a>' if cut.srt else ""
    parts.append(
        f'<div class="meta"><span class="badge st-{_slug(cut.status)}">{_e(cut.status)}</span>'
        f"{seconds}{srt}</div>"
    )
    if cut.error:
        parts.append(f'<p class="error">{_e(cut.error)}</p>')
    attrs = _filter_attrs(cut.market, cut.aspect_ratio, cut.status)
    width, height = media_size(cut.aspect_ratio)
    style = f"--w:{_card_width(cut.aspect_ratio, 1)}px;--mw:{width}px;--mh:{height}px"
    return f'<article class="card cut" style="{style}" {attrs}>{"".join(parts)}</article>'


def _cut_values(cut: CutCard) -> dict[str, str]:
    return {"market": cut.market or "", "ratio": cut.aspect_ratio or "", "status": cut.status}


class _Page:
    """Blocks numbered in page order, each with a placeholder; their inert sources go
    straight into the packed text (`_Packer`), none kept."""

    def __init__(self) -> None:
        self.values: list[list[dict[str, str]]] = []
        self.packer = _Packer()
        self.uncounted: list[int] = []  # blocks listing cards shown elsewhere (problems)

    def place(self, block: _Block, *, counted: bool = True) -> str:
        number = len(self.values)
        if not counted:
            self.uncounted.append(number)
        self.values.append(list(block.values))
        self.packer.add(block.html)
        return (
            f'<div class="block" data-block="{number}" style="min-height:{block.height}px"></div>'
        )


_PACK_LEVEL = 6
_GZIP_HEADER = gzip.compress(b"", compresslevel=_PACK_LEVEL, mtime=0)[:10]


class _Packer:
    """`pack_blocks`, a source at a time: the JSON array is compressed as it is written, so
    the HTML of 10,000 cards is never whole in memory."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(_PACK_LEVEL, zlib.DEFLATED, -15)  # gzip's raw deflate
        self._packed: list[bytes] = [_GZIP_HEADER]
        self._crc = 0
        self._size = 0

    def add(self, source: str) -> None:
        """The next block's HTML."""
        self._feed(("," if self._size else "[") + json.dumps(source, ensure_ascii=False))

    def text(self) -> str:
        """What `pack_blocks` gives for every source added."""
        self._feed("]" if self._size else "[]")
        self._packed.append(self._deflate.flush())
        self._packed.append(struct.pack("<LL", self._crc, self._size & 0xFFFFFFFF))
        return base64.b64encode(b"".join(self._packed)).decode("ascii")

    def _feed(self, text: str) -> None:
        data = text.encode("utf-8")
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._packed.append(self._deflate.compress(data))


def pack_blocks(sources: Iterable[str]) -> str:
    """The blocks' HTML as one gzip-compressed JSON array, in base64 (deterministic: no time in
    the gzip header). Cards repeat the same markup, so 10,000 of them shrink tenfold, and the
    browser reads one short text instead of parsing megabytes; it inflates them natively
    (DecompressionStream)."""
    packer = _Packer()
    for source in sources:
        packer.add(source)
    return packer.text()


def unpack_blocks(packed: str) -> list[str]:
    """The blocks' HTML from `pack_blocks`' text (for tests and tools reading a report)."""
    sources: list[str] = json.loads(gzip.decompress(base64.b64decode(packed)))
    return sources


def _shot(grid: ShotGrid, page: _Page) -> str:
    title = f'<h2 id="shot-{_e(grid.shot)}">Shot <code>{_e(grid.shot)}</code></h2>'
    head, blocks = _shot_blocks(grid)
    placed = "".join(page.place(b) for b in blocks)
    return f'<section class="shot" data-group>{title}{head}{placed}</section>'


def _cuts(cuts: tuple[CutCard, ...], page: _Page) -> str:
    if not cuts:
        return ""
    names = list(dict.fromkeys(c.cut for c in cuts))
    sections: list[str] = []
    for name in names:
        mine = [c for c in cuts if c.cut == name]
        placed = "".join(
            page.place(
                _Block(
                    '<div class="cards">' + "".join(_cut_card(c) for c in chunk) + "</div>",
                    tuple(_cut_values(c) for c in chunk),
                    max(_card_height(c.aspect_ratio) for c in chunk),
                )
            )
            for chunk in (mine[i : i + CUTS_PER_BLOCK] for i in range(0, len(mine), CUTS_PER_BLOCK))
        )
        sections.append(
            f'<div data-group class="cut-group"><h3>Cut <code>{_e(name)}</code></h3>{placed}</div>'
        )
    heading = '<h2 id="cuts">Rough cuts</h2>'
    return f'<section class="cuts" data-group>{heading}{"".join(sections)}</section>'


def _problem(problem: NotGenerated) -> str:
    card = problem.card
    return (
        f"<li {_filter_attrs(card.market, card.aspect_ratio, problem.status, card.axes)}>"
        f'<a href="#job-{_e(card.job_id)}"><code>{_e(problem.label)}</code></a> '
        f'<span class="badge st-{_slug(problem.status)}">{_e(problem.status)}</span> '
        f'<span class="error">{_e(problem.error or "no reason given")}</span></li>'
    )


def _problems(gallery: Gallery, page: _Page) -> str:
    problems = gallery.problems
    if not problems:
        return ""
    # Listed in blocks like the cards: a run where thousands failed lists thousands.
    placed = "".join(
        page.place(
            _Block(
                "<ul>" + "".join(_problem(c) for c in chunk) + "</ul>",
                tuple(_values(p.card, p.status) for p in chunk),
                PROBLEM_HEIGHT * len(chunk),
            ),
            counted=False,
        )
        for chunk in _chunks(problems, PROBLEMS_PER_BLOCK)
    )
    return (
        f'<section class="problems" data-group><h2 id="problems">Not generated '
        f"({len(problems)})</h2>{placed}</section>"
    )


def _facets(gallery: Gallery) -> list[tuple[str, str, tuple[str, ...]]]:
    facets = [(facet, label, gallery.choices(facet)) for facet, label in FACETS]
    if reviewed := gallery.choices("review"):
        facets.append(("review", "Review", reviewed))
    facets += [
        (f"axis-{_axis_slug(axis)}", axis, values) for axis, values in gallery.axes().items()
    ]
    return facets


def _filters(facets: list[tuple[str, str, tuple[str, ...]]]) -> str:
    controls: list[str] = []
    for facet, label, values in facets:
        options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)
        controls.append(
            f'<label>{_e(label)} <select id="filter-{_e(facet)}" data-facet="{_e(facet)}">'
            f'<option value="">all</option>{options}</select></label>'
        )
    return f'<nav class="filters">{"".join(controls)}<span id="filter-count"></span></nav>'


def _header(gallery: Gallery) -> str:
    lines = [f"<h1>{_e(gallery.manifest)}</h1>"]
    if gallery.run is not None:
        run = gallery.run
        badge = "done" if run.status == "ok" else "failed"
        lines.append(
            f'<p class="facts">Run: <span class="badge st-{badge}">{_e(run.status)}</span> '
            f"on the <b>{_e(run.backend)}</b> backend: {_e(run.summary)}</p>"
        )
        lines += [f'<p class="facts warnings">warning: {_e(w)}</p>' for w in run.warnings]
    else:
        lines.append('<p class="facts">Not run yet: the cards show the plan only.</p>')
    lines.append(f'<p class="facts">Plan against the lock: {_e(gallery.plan_summary)}</p>')
    if gallery.removed:
        removed = ", ".join(f"<code>{_e(r)}</code>" for r in gallery.removed)
        lines.append(f'<p class="facts">Gone from the manifest: {removed}</p>')
    return "<header>" + "".join(lines) + "</header>"


def _shown_texts(gallery: Gallery) -> Iterator[str]:
    yield gallery.manifest
    for card in gallery.cards:
        yield from (card.line, card.prompt, card.negative_prompt, card.note, card.error or "")
        yield from (card.market or "", card.job_id)
        if card.caption is not None:
            yield card.caption.title
            yield from (v for _, v in card.caption.details)
        yield from (v for _, v in card.axes)


def render_gallery(gallery: Gallery, fonts: Path | None = None) -> str:
    """The complete report.html for `gallery`; `fonts`: a folder keeping font subsets."""
    return "".join(gallery_pieces(gallery, fonts))


def gallery_pieces(gallery: Gallery, fonts: Path | None = None) -> Iterator[str]:
    """report.html for `gallery` (`render_gallery`) in pieces, to write without joining."""
    page = _Page()
    facets = _facets(gallery)
    body = (
        _header(gallery)
        + _filters(facets)
        + _problems(gallery, page)
        + "".join(_shot(g, page) for g in gallery.shots)
        + _cuts(gallery.cuts, page)
    )
    names = [facet for facet, _, _ in facets]
    index = {
        "facets": [_dataset(name) for name in names],
        "selects": [f"filter-{name}" for name in names],
        "blocks": [[[v.get(name, "") for name in names] for v in block] for block in page.values],
        "uncounted": page.uncounted,
    }
    page.values.clear()
    index_json = json.dumps(index, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    del index
    font = font_face_css(wide_characters(_shown_texts(gallery)), kept_in=fonts)
    yield (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(gallery.manifest)} · kling-pipe report</title>"
        f"<style>{font}{_static('gallery.css')}</style></head>"
    )
    yield f"<body>{body}"
    yield f'<script type="application/json" id="gallery-index">{index_json}</script>'
    yield f'<script type="application/gzip;base64" id="gallery-blocks">{page.packer.text()}'
    yield f"</script><script>{_static('gallery.js')}</script></body></html>\n"


def _dataset(attribute: str) -> str:
    """`axis-variant` → `axisVariant`: how JS's `dataset` names a `data-axis-variant`."""
    head, *rest = attribute.split("-")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
