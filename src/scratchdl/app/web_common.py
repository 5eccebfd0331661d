"""What scratchdl's web apps (`serve`, `lab`) share: one page with nothing loaded from
elsewhere, JSON error answers, and request bodies read up to a limit."""

from __future__ import annotations

from importlib.resources import files

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PAGE_HEADERS = {
    # The page loads nothing from anywhere: its script and style are inline, and it
    # talks only to this server.
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src blob: data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def page(package: str, name: str = "index.html"):
    """A handler answering with the package's HTML file `name`, read once, under PAGE_HEADERS."""
    body = files(package).joinpath(name).read_bytes()

    async def index(request: Request) -> Response:
        return Response(body, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    return index


def error(status: int, message: str, headers: dict | None = None, **fields) -> JSONResponse:
    """A JSON error answer: {"error": message, **fields}."""
    return JSONResponse({"error": message, **fields}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int, what: str) -> bytes:
    """The request's body, refused with 413 as soon as it is known to exceed `limit` bytes;
    `what` names what to send instead ("image")."""
    size = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit // 2**10} KiB"
    too_large = f"the body is over {limit} bytes ({size}); send a smaller {what}"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, too_large)
    return bytes(body)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's own 404 and 405, and our 413, as JSON."""
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette lists a route's methods in set order
        headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
    messages = {
        404: f"no such page: {request.url.path}; the page is at /",
        405: f"{request.method} is not allowed on {request.url.path}; "
        f"use {headers.get('Allow', 'another method')}",
    }
    return error(exc.status_code, messages.get(exc.status_code, exc.detail), headers)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything unforeseen: a JSON 500 (the server's log has the details)."""
    return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")


EXCEPTION_HANDLERS = {HTTPException: http_error, Exception: internal_error}
"""Every error as JSON: give to `Starlette(exception_handlers=...)`."""
