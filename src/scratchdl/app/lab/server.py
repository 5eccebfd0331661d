"""The ASGI app of `scratchdl lab`: the page, and an API to start, watch and steer runs.

    GET    /                          the page (index.html: its script and style inline)
    GET    /api/lab                   the fields' defaults and choices, the server's limits
    GET    /api/datasets/{name}       a data set: a toy set's points, an image set's sizes
    GET    /api/runs                  every run: {"runs": [...], "alive", "max_runs"}
    POST   /api/runs                  a JSON configuration -> 201 {"id", "config"}; it trains
    GET    /api/runs/{id}             a snapshot ({"state", "iteration", "loss", ...});
                                      ?since=K: the exact losses from iteration K on
    GET    /api/runs/{id}/views       the views: activation histograms, gradient norms, and
                                      first-layer weights or the decision boundary
    GET    /api/runs/{id}/events      server-sent events: what changes, as it changes
    GET    /api/events?runs=ID,ID     the same for several runs on one stream (the page's)
    POST   /api/runs/{id}/pause, /resume, /step
    DELETE /api/runs/{id}             stop the run and forget it

Errors are JSON {"error": ...}; a bad configuration gets 400 with "field" and "valid", a
start beyond the server's runs 429, an unknown run 404. Training runs on the runs' own
threads: a handler only reads what they recorded, or asks them to pause, step or stop.

A run lives while someone watches it: an event stream open on it, or a request about it
(snapshot, views, pause, resume, step) within the last `idle_seconds`. A run nobody
watches for longer is stopped and forgotten, finished or not: a closed page's runs go
within seconds, while a script that polls a run's snapshot keeps it training.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from scratchdl.app.lab.config import (
    DATASETS,
    FIELDS,
    IMAGE_SETS,
    OPTIONS,
    Limits,
    configure,
    data_shape,
    run_options,
)
from scratchdl.app.lab.datasets import DataSets, toy_points
from scratchdl.app.lab.runs import Run, Runs, TooManyRuns
from scratchdl.app.recipe import COMMON, DEFAULTS, FULLY_CONNECTED, RecipeError
from scratchdl.app.web_common import EXCEPTION_HANDLERS, error, page, read_body
from scratchdl.models.base import INIT_GAINS
from scratchdl.models.two_layer_net import ACTIVATIONS
from scratchdl.optim import OPTIMIZERS
from scratchdl.runtime.threads import workers
from scratchdl.train import GRADIENTS

MAX_BODY = 64 * 1024
"""Largest configuration accepted, in bytes."""
EVENT_SECONDS = 0.25
"""How often an event stream looks for news."""
KEEP_ALIVE_SECONDS = 15.0
STEP_TIMEOUT = 30.0
"""Seconds a step request waits for its iteration."""
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(data: dict) -> str:
    """One server-sent event carrying `data` as JSON."""
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n"


def route(path: str, **handlers) -> Route:
    """A route calling one handler per HTTP method (`GET=...`, `POST=...`): one route per
    path, so that a 405 names every method the path takes."""
    async def dispatch(request: Request) -> Response:  # HEAD is GET without the body
        return await handlers["GET" if request.method == "HEAD" else request.method](request)
    return Route(path, dispatch, methods=list(handlers))


def create_app(limits: Limits, data: DataSets | None = None, idle_seconds: float = 5.0,
               turns: int | None = None) -> Starlette:
    """The lab's app: runs within `limits`, stopped after `idle_seconds` unwatched, `turns`
    of them stepping at once (default: one per CPU)."""
    runs = Runs(limits, data or DataSets(), idle_seconds, turns or workers())
    about = {
        "fields": FIELDS, "options": OPTIONS,
        "defaults": {model: DEFAULTS[model] for model in FULLY_CONNECTED},
        "common": COMMON,
        "choices": {"dataset": DATASETS, "model": FULLY_CONNECTED,
                    "activation": list(ACTIVATIONS), "optimizer": list(OPTIMIZERS),
                    "gradient": GRADIENTS, "weight_init_std": list(INIT_GAINS)},
        "limits": vars(limits), "idle_seconds": idle_seconds,
    }

    def find(request: Request) -> Run | Response:
        run_id = request.path_params["run_id"]
        run = runs.get(run_id)
        if run is None:
            return error(404, f"no run {run_id!r}: it was deleted, or stopped after "
                         f"{idle_seconds:g} s with nobody watching; start one with POST /api/runs")
        return run

    async def lab(request: Request) -> JSONResponse:
        return JSONResponse(about)

    async def dataset(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in DATASETS:
            return error(404, f"no data set {name!r}; the lab has {', '.join(DATASETS)}")
        samples, inputs, classes = data_shape(name)
        answer = {"name": name, "train_size": samples, "inputs": inputs, "classes": classes}
        if name in IMAGE_SETS:
            return JSONResponse({**answer, "test_size": 10_000})
        points = toy_points(name)
        return JSONResponse({**answer, "test_size": len(points["x_test"]), **points})

    async def list_runs(request: Request) -> JSONResponse:
        return JSONResponse({"runs": [run.summary() for run in runs.runs.values()],
                             "alive": runs.alive(), "max_runs": limits.max_runs})

    async def start(request: Request) -> Response:
        body = await read_body(request, MAX_BODY, "configuration")
        try:
            given = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return error(400, f"the body is not JSON ({e}); send an object such as "
                         '{"optimizer": "adam", "lr": 0.001}', field=None)
        if not isinstance(given, dict):
            return error(400, "the body must be a JSON object of fields, such as "
                         '{"optimizer": "adam"}', field=None)
        options = {k: given.pop(k) for k in OPTIONS if k in given}
        try:
            paused, speed = run_options(options)
            recipe = configure(given, limits)
            run = runs.start(recipe, paused, speed)
        except RecipeError as e:
            return error(400, str(e), field=e.field, valid=e.valid)
        except TooManyRuns as e:
            return error(429, str(e), max_runs=limits.max_runs)
        return JSONResponse({"id": run.id, "config": recipe}, status_code=201,
                            headers={"Location": f"/api/runs/{run.id}"})

    async def snapshot(request: Request) -> Response:
        run = find(request)
        if not isinstance(run, Run):
            return run
        since = request.query_params.get("since")
        if since is not None and not since.isdigit():
            return error(400, f"since must be an iteration number (0 or more), got {since!r}")
        return JSONResponse(run.snapshot(None if since is None else int(since)))

    async def run_views(request: Request) -> Response:
        run = find(request)
        if not isinstance(run, Run):
            return run
        return JSONResponse({"id": run.id, "iteration": run.iteration, **(run.views or {})})

    async def delete(request: Request) -> Response:
        run = find(request)
        if not isinstance(run, Run):
            return run
        runs.delete(run.id)
        return Response(status_code=204)

    async def pause(request: Request) -> Response:
        return await steer(request, Run.pause)

    async def resume(request: Request) -> Response:
        return await steer(request, Run.resume)

    async def steer(request: Request, action) -> Response:
        run = find(request)
        if not isinstance(run, Run):
            return run
        if not run.alive:
            return error(409, f"the run has {run.state}; start another with POST /api/runs")
        action(run)
        return JSONResponse(run.summary())

    async def step(request: Request) -> Response:
        run = find(request)
        if not isinstance(run, Run):
            return run
        if run.state != "paused":
            what = "is running: pause it first" if run.state == "running" else \
                f"has {run.state}"
            return error(409, f"the run {what}; a step is one iteration of a paused run")
        target = run.iteration + 1
        run.step()
        deadline = time.monotonic() + STEP_TIMEOUT
        while run.iteration < target and run.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return JSONResponse(run.summary())

    async def follow(watched: dict[str, Run]) -> AsyncIterator[str]:
        """The event stream of `watched` runs: news of each, a "gone" event for a run that is
        deleted or forgotten; it ends when none is left."""
        cursors: dict[str, dict] = {run_id: {} for run_id in watched}
        for run in watched.values():
            run.watchers += 1
        quiet_since = time.monotonic()
        try:
            while watched:
                out = []
                for run_id, run in list(watched.items()):
                    if runs.runs.get(run_id) is not run:
                        out.append(event({"id": run_id, "gone": True}))
                        del watched[run_id]
                        run.watchers -= 1
                        continue
                    news = run.news(cursors[run_id])
                    if news is not None:
                        out.append(event(news))
                now = time.monotonic()
                if out:
                    yield "".join(out)
                    quiet_since = now
                elif now - quiet_since > KEEP_ALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = now
                await asyncio.sleep(EVENT_SECONDS)
        finally:
            for run in watched.values():
                run.watchers -= 1
                run.last_seen = time.monotonic()

    def stream(watched: dict[str, Run]) -> StreamingResponse:
        return StreamingResponse(follow(watched), media_type="text/event-stream",
                                 headers=SSE_HEADERS)

    async def run_events(request: Request) -> Response:
        run = find(request)
        if not isinstance(run, Run):
            return run
        return stream({run.id: run})

    async def events(request: Request) -> Response:
        ids = [i for i in request.query_params.get("runs", "").split(",") if i]
        if not ids:
            return error(400, "name the runs to follow: /api/events?runs=ID,ID")
        missing = [i for i in ids if runs.get(i) is None]
        if missing:
            return error(404, f"no run {', '.join(map(repr, missing))}: deleted, or stopped "
                         f"after {idle_seconds:g} s with nobody watching")
        return stream({i: runs.runs[i] for i in ids})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async def reap() -> None:
            while True:
                runs.reap()
                await asyncio.sleep(0.5)

        reaper = asyncio.create_task(reap())
        yield
        reaper.cancel()
        runs.stop_all()

    routes = [
        Route("/", page("scratchdl.app.lab"), methods=["GET"]),
        Route("/api/lab", lab, methods=["GET"]),
        Route("/api/datasets/{name}", dataset, methods=["GET"]),
        route("/api/runs", GET=list_runs, POST=start),
        route("/api/runs/{run_id}", GET=snapshot, DELETE=delete),
        Route("/api/runs/{run_id}/views", run_views, methods=["GET"]),
        Route("/api/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/api/runs/{run_id}/pause", pause, methods=["POST"]),
        Route("/api/runs/{run_id}/resume", resume, methods=["POST"]),
        Route("/api/runs/{run_id}/step", step, methods=["POST"]),
        Route("/api/events", events, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=EXCEPTION_HANDLERS)
    app.state.runs = runs
    return app
