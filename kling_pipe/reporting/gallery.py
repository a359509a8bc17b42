"""report.html from a Gallery: one self-contained page that works from disk. Pure.

Inline CSS and JS only (no CDN, no fonts to fetch); clips and posters are referenced by paths
relative to the page, which lives beside them in `out/<name>/`. Every text from the manifest,
the run or the server is HTML-escaped. Filters are plain JS over `data-` attributes.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from kling_pipe.reporting.contents import (
    NOT_RUN,
    ClipCard,
    CutCard,
    Gallery,
    Media,
    ShotGrid,
    UpstreamClip,
)

FACETS = (("market", "Market"), ("ratio", "Ratio"), ("status", "Status"))
PROMPT_PREVIEW_CHARS = 110

_CSS = """
:root { color-scheme: light dark; --bg: #f5f5f3; --card: #fff; --ink: #1d1d1f; --dim: #6b6b70;
  --line: #dcdcd8; --ok: #1f7a3a; --bad: #b3261e; --warn: #9a6700; --new: #0b5cad; }
@media (prefers-color-scheme: dark) { :root { --bg: #16171a; --card: #212226; --ink: #ececec;
  --dim: #a0a0a8; --line: #34353a; --ok: #5bc27a; --bad: #ff6b60; --warn: #e0b341;
  --new: #6aa8ff; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.2rem 1.6rem 3rem; background: var(--bg); color: var(--ink);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK JP",
  "Hiragino Sans", "WenQuanYi Micro Hei", sans-serif; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .5rem; }
.facts { color: var(--dim); margin: .15rem 0; }
.filters { position: sticky; top: 0; z-index: 2; display: flex; gap: 1rem; align-items: center;
  flex-wrap: wrap; padding: .6rem 0; background: var(--bg); border-bottom: 1px solid var(--line); }
.filters label { display: flex; gap: .35rem; align-items: center; }
.filters select { font: inherit; padding: .15rem .3rem; }
table.grid { border-collapse: collapse; }
table.grid th { text-align: left; font-weight: 600; color: var(--dim); padding: .3rem .5rem;
  vertical-align: top; } table.grid tbody th { padding-top: 1.2rem; }
table.grid td { vertical-align: top; padding: .3rem; }
.cards.variations { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); }
.variations .card { width: auto; }
.cards { display: flex; flex-wrap: wrap; gap: .6rem; align-items: flex-start; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  width: 240px; padding: .5rem; display: flex; flex-direction: column; gap: .3rem; }
/* One height for every ratio keeps a grid row level; tall clips are pillarboxed. */
.card video, .card .placeholder { width: 100%; height: 170px; object-fit: contain;
  background: #000; border-radius: 4px; display: block; }
.placeholder { display: flex !important; align-items: center;
  justify-content: center; color: #bbb; font-size: .9rem; text-align: center; padding: .4rem; }
.caption { font-weight: 600; } .caption dl { margin: .1rem 0 0; font-weight: 400; }
.caption dt { display: inline; color: var(--dim); } .caption dd { display: inline; margin: 0; }
.caption dd::after { content: ""; display: block; }
.meta { display: flex; flex-wrap: wrap; gap: .3rem; font-size: .8rem; color: var(--dim); }
.badge { border-radius: 99px; padding: 0 .5rem; font-size: .78rem; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.st-done, .st-cached { color: var(--ok); } .st-failed, .st-refused, .st-canceled,
.st-missing { color: var(--bad); } .st-not-run { color: var(--dim); }
.ch-new, .ch-changed { color: var(--new); } .ch-unchanged { color: var(--dim); }
.reason { font-size: .8rem; color: var(--new); }
.error { color: var(--bad); font-size: .85rem; margin: 0; overflow-wrap: anywhere; }
.prompt { font-size: .82rem; } .prompt summary { cursor: pointer; color: var(--ink); }
.prompt p { margin: .3rem 0 0; white-space: pre-wrap; }
code { font-size: .78rem; overflow-wrap: anywhere; }
.problems li { margin: .25rem 0; } .warnings { color: var(--warn); }
.filtered { display: none !important; }
.upstream { font-size: .8rem; color: var(--dim); } .upstream img { height: 48px;
  vertical-align: middle; margin: 0 .3rem; border-radius: 3px; background: #000; }
"""

_JS = """
(() => {
  const facets = ["market", "ratio", "status"];
  const selects = facets.map((f) => document.getElementById("filter-" + f));
  function apply() {
    for (const el of document.querySelectorAll("[data-status]")) {
      const shown = facets.every((f, i) => !selects[i].value || el.dataset[f] === selects[i].value);
      el.classList.toggle("filtered", !shown);
    }
    for (const group of document.querySelectorAll("[data-group]")) {
      group.classList.toggle("filtered", !group.querySelector("[data-status]:not(.filtered)"));
    }
    const shown = document.querySelectorAll(".card:not(.filtered)").length;
    document.getElementById("filter-count").textContent = shown + " shown";
  }
  for (const select of selects) select.addEventListener("change", apply);
  apply();
})();
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _href(relative: str) -> str:
    return _e(quote(relative, safe="/"))


def _slug(status: str) -> str:
    return status.replace(" ", "-")


def _filter_attrs(market: str | None, ratio: str | None, status: str) -> str:
    return (
        f'data-market="{_e(market or "")}" data-ratio="{_e(ratio or "")}" '
        f'data-status="{_e(status)}"'
    )


def _player(media: Media, label: str, status: str) -> str:
    if media.video is None:
        text = "not run yet" if status == NOT_RUN else f"no clip: {status}"
        return f'<div class="placeholder" role="img" aria-label="{_e(label)}">{_e(text)}</div>'
    poster = f' poster="{_href(media.poster)}"' if media.poster else ""
    return (
        f'<video controls preload="metadata" playsinline{poster} src="{_href(media.video)}" '
        f'aria-label="{_e(label)}"></video>'
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


def _clip_card(card: ClipCard) -> str:
    parts: list[str] = []
    if card.caption is not None:
        details = "".join(f"<dt>{_e(k)}:</dt> <dd>{_e(v)}</dd>" for k, v in card.caption.details)
        parts.append(
            f'<div class="caption">{_e(card.caption.title)}'
            + (f"<dl>{details}</dl>" if details else "")
            + "</div>"
        )
    parts.append(_player(card.media, card.job_id, card.status))
    cost = (
        f"${card.cost_usd:.2f} spent · est. ${card.estimate_usd:.2f}"
        if card.cost_usd is not None
        else f"est. ${card.estimate_usd:.2f}"
    )
    parts.append(
        '<div class="meta">'
        f'<span class="badge st-{_slug(card.status)}">{_e(card.status)}</span>'
        f'<span class="badge ch-{_e(card.change)}">{_e(card.change)}</span>'
        f"<span>{_e(card.duration)} s</span><span>{_e(cost)}</span></div>"
    )
    prediction = (
        f' · <code title="prediction id">{_e(card.prediction_id)}</code>'
        if card.prediction_id
        else ""
    )
    attempts = f" · {card.attempts} attempts" if card.attempts > 1 else ""
    parts.append(f'<div class="meta"><code>{_e(card.job_id)}</code>{prediction}{attempts}</div>')
    if card.reason:
        parts.append(f'<div class="reason">{_e(card.change)}: {_e(card.reason)}</div>')
    if card.error:
        parts.append(f'<p class="error">{_e(card.error)}</p>')
    parts.extend(_upstream(up) for up in card.upstream)
    parts.append(_prompt(card.prompt, card.negative_prompt))
    attrs = _filter_attrs(card.market, card.aspect_ratio, card.status)
    return (
        f'<article class="card" id="job-{_e(card.job_id)}" {attrs}>' + "".join(parts) + "</article>"
    )


def _shot(grid: ShotGrid) -> str:
    title = f'<h2 id="shot-{_e(grid.shot)}">Shot <code>{_e(grid.shot)}</code></h2>'
    if len(grid.markets) == 1 and len(grid.ratios) == 1:
        # One market and ratio: the cards are variations of each other (previs), side by side.
        cards = "".join(_clip_card(c) for c in grid.cards)
        return (
            f'<section class="shot" data-group>{title}'
            f'<div class="cards variations">{cards}</div></section>'
        )
    head = "".join(f"<th>{_e(r)}</th>" for r in grid.ratios)
    rows: list[str] = []
    for market in grid.markets:
        cells = "".join(
            '<td><div class="cards">'
            + "".join(_clip_card(c) for c in grid.at(market, ratio))
            + "</div></td>"
            for ratio in grid.ratios
        )
        rows.append(f'<tr data-group><th scope="row">{_e(market or "—")}</th>{cells}</tr>')
    return (
        f'<section class="shot" data-group>{title}<table class="grid"><thead><tr><th></th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _cut_card(cut: CutCard) -> str:
    parts = [f'<div class="caption">{_e(cut.id)}</div>', _player(cut.media, cut.id, cut.status)]
    seconds = f"<span>{cut.seconds:.1f} s</span>" if cut.seconds is not None else ""
    srt = f'<a href="{_href(cut.srt)}">captions (.srt)</a>' if cut.srt else ""
    parts.append(
        f'<div class="meta"><span class="badge st-{_slug(cut.status)}">{_e(cut.status)}</span>'
        f"{seconds}{srt}</div>"
    )
    if cut.error:
        parts.append(f'<p class="error">{_e(cut.error)}</p>')
    attrs = _filter_attrs(cut.market, cut.aspect_ratio, cut.status)
    return f'<article class="card cut" {attrs}>{"".join(parts)}</article>'


def _cuts(cuts: tuple[CutCard, ...]) -> str:
    if not cuts:
        return ""
    names = list(dict.fromkeys(c.cut for c in cuts))
    sections = "".join(
        f'<div data-group><h3>Cut <code>{_e(name)}</code></h3><div class="cards">'
        + "".join(_cut_card(c) for c in cuts if c.cut == name)
        + "</div></div>"
        for name in names
    )
    return f'<section class="cuts" data-group><h2 id="cuts">Rough cuts</h2>{sections}</section>'


def _problems(gallery: Gallery) -> str:
    problems = gallery.problems
    if not problems:
        return ""
    items = "".join(
        f"<li {_filter_attrs(c.market, c.aspect_ratio, c.status)}>"
        f'<a href="#job-{_e(c.job_id)}"><code>{_e(c.job_id)}</code></a> '
        f'<span class="badge st-{_slug(c.status)}">{_e(c.status)}</span> '
        f'<span class="error">{_e(c.error or "no reason given")}</span></li>'
        for c in problems
    )
    return (
        f'<section class="problems" data-group><h2 id="problems">Not generated '
        f"({len(problems)})</h2><ul>{items}</ul></section>"
    )


def _filters(gallery: Gallery) -> str:
    controls: list[str] = []
    for facet, label in FACETS:
        options = "".join(
            f'<option value="{_e(v)}">{_e(v)}</option>' for v in gallery.choices(facet)
        )
        controls.append(
            f'<label>{label} <select id="filter-{facet}" data-facet="{facet}">'
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


def render_gallery(gallery: Gallery) -> str:
    """The complete report.html for `gallery`."""
    body = (
        _header(gallery)
        + _filters(gallery)
        + _problems(gallery)
        + "".join(_shot(g) for g in gallery.shots)
        + _cuts(gallery.cuts)
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(gallery.manifest)} · kling-pipe report</title>"
        f"<style>{_CSS}</style></head>"
        f"<body>{body}<script>{_JS}</script></body></html>\n"
    )
