"""The review app's HTTP layer: aiohttp on one event loop, the session's work in threads.

aiohttp is already a dependency (the emulator serves Replicate's API with it) and its
`FileResponse` answers Range requests, which a video element needs to seek; the standard
library's http.server does not. Served: the page, its JSON, and the campaign's media by name
(see `files`). Refused: any other path (404); a request without the token when one is set
(403); a Host other than the one bound, which defeats DNS rebinding (403); a decision without
the page's own header, which a cross-site form cannot send (403).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from aiohttp import web

from kling_pipe.errors import KlingPipeError
from kling_pipe.reporting.typeface import font_face_css, whole_font, wide_characters
from kling_pipe.review.files import media_type
from kling_pipe.review.session import ReviewSession

TOKEN_COOKIE = "kling_review"
WHOLE_FONT = "/font/cjk.ttf"
DECISION_HEADER = "X-Kling-Review"
_SESSION = web.AppKey("session", ReviewSession)
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "font-src data: 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the app on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def page_html(session: ReviewSession) -> str:
    """The page: the static HTML with its CSS, script and the CJK font subset inline."""
    static = files("kling_pipe.review") / "static"
    html = (static / "review.html").read_text("utf-8")
    font = font_face_css(
        wide_characters(session.texts()),
        whole_font_url=WHOLE_FONT,
        kept_in=session.campaign.workspace.fonts,
    )
    return (
        html.replace("/*FONT*/", font)
        .replace("/*CSS*/", (static / "review.css").read_text("utf-8"))
        .replace("/*JS*/", (static / "review.js").read_text("utf-8"))
    )


def _take_name(rest: str) -> tuple[str, int] | None:
    job_id, _, number = rest.rpartition("/")
    return (job_id, int(number)) if job_id and number.isdigit() else None


async def _in_thread(work: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(work)


def build_app(session: ReviewSession, *, token: str | None, hosts: set[str]) -> web.Application:
    """The aiohttp application for `session`; `hosts` are the Host headers accepted (filled in
    once the port is bound; empty accepts any, for a bind to every address)."""
    page = page_html(session)

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if hosts and request.host not in hosts:
            raise web.HTTPForbidden(text="unknown Host")
        if token is not None:
            given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden(text="this review app needs the token printed at start")
        if request.method == "POST" and request.headers.get(DECISION_HEADER) != "1":
            raise web.HTTPForbidden(text="decisions come from the review page only")
        response = await handler(request)
        response.headers.update(_SECURITY_HEADERS)
        if token is not None and request.query.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def board(request: web.Request) -> web.Response:
        data = await _in_thread(request.app[_SESSION].board_json)
        return web.Response(body=data, content_type="application/json", charset="utf-8")

    async def decide(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            job, action = str(body["job"]), str(body["action"])
            take = int(body["take"]) if body.get("take") is not None else None
            note = str(body.get("note") or "")
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text="a decision is {job, action, take?, note?}") from None
        try:
            decided = await _in_thread(
                lambda: request.app[_SESSION].decide(job, action, take, note)
            )
        except KlingPipeError as exc:
            return web.json_response({"error": str(exc)}, status=409)
        return web.json_response(decided)

    async def take(request: web.Request) -> web.StreamResponse:
        name = _take_name(request.match_info["rest"])
        found = (
            None
            if name is None
            else await _in_thread(lambda: request.app[_SESSION].take_file(*name))
        )
        if found is None:
            raise web.HTTPNotFound()
        kind = await _in_thread(lambda: media_type(found))
        return web.FileResponse(found, headers={"Content-Type": kind})

    async def poster(request: web.Request) -> web.StreamResponse:
        name = _take_name(request.match_info["rest"])
        found = (
            None
            if name is None
            else await _in_thread(lambda: request.app[_SESSION].poster_file(*name))
        )
        if found is None:
            raise web.HTTPNotFound()
        return web.FileResponse(found, headers={"Content-Type": "image/jpeg"})

    async def font(request: web.Request) -> web.Response:
        data = await _in_thread(whole_font)
        return web.Response(body=data, content_type="font/ttf")

    async def cut(request: web.Request) -> web.StreamResponse:
        index = int(request.match_info["index"])
        found = await _in_thread(lambda: request.app[_SESSION].cut_file(index))
        if found is None:
            raise web.HTTPNotFound()
        return web.FileResponse(found, headers={"Content-Type": "video/mp4"})

    app = web.Application(middlewares=[guard])
    app[_SESSION] = session
    app.router.add_get("/", index)
    app.router.add_get("/api/board", board)
    app.router.add_post("/api/decide", decide)
    app.router.add_get("/take/{rest:.+}", take)
    app.router.add_get("/poster/{rest:.+}", poster)
    app.router.add_get(r"/cut/{index:\d+}", cut)
    app.router.add_get(WHOLE_FONT, font)
    return app


@dataclass
class RunningReview:
    """A review app being served; `url` is what to open (with the token, if any)."""

    url: str
    runner: web.AppRunner
    warming: asyncio.Future[bytes]

    async def close(self) -> None:
        """Stop serving."""
        await self.runner.cleanup()
        with contextlib.suppress(Exception):  # its failure shows on the page's own request
            await self.warming


async def start_review(
    session: ReviewSession, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None
) -> RunningReview:
    """Serve `session` on `host` (a free port unless `port` is given).

    A host that is not loopback needs a token: one is made when none is given.
    """
    if not is_loopback(host) and token is None:
        token = secrets.token_urlsafe(24)
    # The Host headers the app answers to are only known once the port is.
    accepted: set[str] = set()
    app = build_app(session, token=token, hosts=accepted)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    # The first page load finds the board made (it takes a while for thousands of jobs).
    warming = asyncio.ensure_future(asyncio.to_thread(session.board_json))
    bound = runner.addresses[0][1]
    names = {host, "127.0.0.1", "localhost", "[::1]"} if is_loopback(host) else {host}
    if host in ("0.0.0.0", "::"):
        names = set()  # any address of this machine: the token alone guards it
    accepted.update(f"{name}:{bound}" for name in names)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{bound}/"
    if token is not None:
        url += f"?token={quote(token)}"
    return RunningReview(url, runner, warming)
