"""The ASGI app of `scratchdl serve`: the page, the model's description, and readings.

    GET  /             the page (index.html: its script and style inline)
    GET  /api/model    {"file", "description", "test_acc", "dataset", "classes",
                        "max_upload_bytes"}
    POST /api/predict  the image's bytes (PNG from the canvas, or any file PIL reads)
                       -> {"digit", "label", "probabilities": [10], "input": [28][28]}

Every error is JSON, {"error": "..."}: 400 not an image, 413 a body over MAX_UPLOAD,
404 unknown path, 405 wrong method, 500 anything unforeseen (never a traceback).
No path from a request reaches the file system: the page is read once, from the
package. Readings run on a pool of one thread per CPU, off the event loop, so a slow
image does not hold up the other requests, and at most that many images are being
decoded (and held in memory) at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib.resources import files

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scratchdl.app.classify import Classifier
from scratchdl.app.commands.common import describe
from scratchdl.runtime.errors import ImageError
from scratchdl.runtime.threads import workers

MAX_UPLOAD = 5 * 1024 * 1024
"""Largest request body accepted, in bytes (5 MiB: a phone photo; a canvas PNG is ~10 kB)."""

PAGE_HEADERS = {
    # The page loads nothing from anywhere: its script and style are inline, and it
    # talks only to this server.
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src blob: data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """A JSON error answer: {"error": message}."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_body(request: Request) -> bytes:
    """The request's body, refused with 413 as soon as it is known to exceed MAX_UPLOAD."""
    too_large = f"the body is over {MAX_UPLOAD} bytes (5 MiB); send a smaller image"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD:
        raise HTTPException(413, too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD:
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


def create_app(classifier: Classifier, name: str) -> Starlette:
    """The app serving `classifier` (loaded from the file called `name`), one thread per CPU."""
    page = files("scratchdl.app.web").joinpath("index.html").read_bytes()
    pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="serve")
    test_acc = classifier.header.get("metrics", {}).get("test_acc")
    info = {
        "file": name,
        "description": describe(classifier.model),
        "test_acc": test_acc if isinstance(test_acc, (int, float)) else None,
        "dataset": classifier.dataset,
        "classes": classifier.names,
        "max_upload_bytes": MAX_UPLOAD,
    }

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def model(request: Request) -> JSONResponse:
        return JSONResponse(info)

    async def predict(request: Request) -> JSONResponse:
        data = await read_body(request)
        if not data:
            return error(400, "the body is empty; send an image's bytes (PNG, JPEG, ...)")
        try:
            reading = await asyncio.get_running_loop().run_in_executor(
                pool, classifier.classify, data)
        except ImageError as e:
            return error(400, str(e))
        except MemoryError:
            return error(413, "the image is too large to convert in memory; send a smaller one")
        return JSONResponse({
            "digit": reading.digit,
            "label": classifier.names[reading.digit],
            "probabilities": reading.probabilities.tolist(),
            "input": reading.input.tolist(),
        })

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/model", model, methods=["GET"]),
        Route("/api/predict", predict, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: http_error, Exception: internal_error})
