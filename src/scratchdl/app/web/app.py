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

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scratchdl.app.classify import Classifier
from scratchdl.app.commands.common import describe
from scratchdl.app.web_common import EXCEPTION_HANDLERS, error, page, read_body
from scratchdl.runtime.errors import ImageError
from scratchdl.runtime.threads import workers

MAX_UPLOAD = 5 * 1024 * 1024
"""Largest request body accepted, in bytes (5 MiB: a phone photo; a canvas PNG is ~10 kB)."""


def create_app(classifier: Classifier, name: str) -> Starlette:
    """The app serving `classifier` (loaded from the file called `name`), one thread per CPU."""
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

    async def model(request: Request) -> JSONResponse:
        return JSONResponse(info)

    async def predict(request: Request) -> JSONResponse:
        data = await read_body(request, MAX_UPLOAD, "image")
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
        Route("/", page("scratchdl.app.web"), methods=["GET"]),
        Route("/api/model", model, methods=["GET"]),
        Route("/api/predict", predict, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
