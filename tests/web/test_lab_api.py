"""`scratchdl lab`'s API against the real command: `python -m scratchdl lab --port 0` in a
child process, trained on real MNIST and the toy sets.

Each endpoint, bad configurations (400 naming the field), the cap on runs at once (429),
pause, step, resume and delete, the watching rule, the event stream, a spiral run and an
MNIST run that learn, and a run's losses equal to a plain `Trainer`'s, bit for bit.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import sys
import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from helpers import run_cli
from serving import need, start_lab, stop_server

MAX_RUNS = 3
IDLE_SECONDS = 3
LONG = {"iters": 100_000, "speed": 50}
"""A run that outlasts any test (50 iterations a second)."""


class Lab:
    """A client of the lab at `url`, deleting the runs it started when `close`d."""

    def __init__(self, url: str) -> None:
        self.url = urlsplit(url)
        self.started: list[str] = []

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=60)

    def call(self, method: str, path: str, body=None, raw: bytes | None = None,
             headers: dict | None = None) -> tuple[int, object, object]:
        conn = self.connect()
        try:
            data = raw if raw is not None else None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers=headers or {})
            response = conn.getresponse()
            payload = response.read()
            kind = response.getheader("Content-Type", "")
            answer = json.loads(payload) if "json" in kind and payload else payload
            return response.status, answer, response.headers
        finally:
            conn.close()

    def start(self, **config) -> str:
        status, answer, headers = self.call("POST", "/api/runs", config)
        assert status == 201, answer
        assert headers["Location"] == f"/api/runs/{answer['id']}"
        self.started.append(answer["id"])
        return answer["id"]

    def snapshot(self, run_id: str, **query) -> dict:
        path = f"/api/runs/{run_id}" + ("?" + "&".join(f"{k}={v}" for k, v in query.items())
                                        if query else "")
        status, answer, _ = self.call("GET", path)
        assert status == 200, answer
        return answer

    def wait(self, run_id: str, until, timeout: float = 60) -> dict:
        """Poll the run's snapshot until `until(snapshot)`; the snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot(run_id)
            if until(snap):
                return snap
            assert time.monotonic() < deadline, f"timed out; last snapshot: {snap}"
            time.sleep(0.1)

    def finished(self, run_id: str, timeout: float = 60) -> dict:
        snap = self.wait(run_id, lambda s: s["state"] not in ("running", "paused"), timeout)
        assert snap["state"] == "finished", snap
        return snap

    def close(self) -> None:
        for run_id in self.started:
            self.call("DELETE", f"/api/runs/{run_id}")


@pytest.fixture(scope="module")
def lab_url(mnist_dir) -> str:
    proc, url = start_lab("--max-runs", str(MAX_RUNS), "--idle-seconds", str(IDLE_SECONDS))
    yield url
    status, out, err = stop_server(proc)  # Ctrl-C, with runs still training
    assert (status, out.strip(), err) == (0, "scratchdl lab: stopped", "")


@pytest.fixture
def lab(lab_url):
    client = Lab(lab_url)
    yield client
    client.close()


def events(lab: Lab, path: str, until, timeout: float = 60) -> list[dict]:
    """Read the server-sent events at `path` until `until(events so far)`."""
    conn = lab.connect()
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(got):
            assert time.monotonic() < deadline, got[-1:]
            line = response.readline().decode()
            assert line, "the stream ended"
            if line.startswith("data: "):
                got.append(json.loads(line[len("data: "):]))
    finally:
        conn.close()
    return got


def test_the_page_loads_nothing_from_elsewhere(lab):
    from scratchdl.app.web_common import PAGE_HEADERS

    status, page, headers = lab.call("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == PAGE_HEADERS["Content-Security-Policy"]
    text = page.decode()
    assert "<script>" in text and "src=" not in text and "http://" not in text.split("<script>")[0]


def test_lab_describes_its_fields_defaults_and_limits(lab):
    from scratchdl.app.recipe import DEFAULTS

    status, about, _ = lab.call("GET", "/api/lab")
    assert status == 200
    assert about["defaults"]["two-layer"] == DEFAULTS["two-layer"]
    assert about["limits"]["max_runs"] == MAX_RUNS
    assert about["choices"]["dataset"] == ["mnist", "fashion-mnist", "spiral", "circles", "xor"]
    assert "train_size" in about["fields"] and "lr" in about["fields"]


def test_toy_points_and_image_sets_are_described(lab):
    from scratchdl.data import load_spiral

    status, spiral, _ = lab.call("GET", "/api/datasets/spiral")
    x, t = load_spiral()
    assert status == 200 and spiral["classes"] == 3 and spiral["train_size"] == 300
    np.testing.assert_array_equal(np.float32(spiral["x"]), x)
    assert spiral["t"] == t.tolist()
    status, mnist, _ = lab.call("GET", "/api/datasets/fashion-mnist")
    assert (status, mnist["inputs"], mnist["classes"]) == (200, 784, 10)
    assert lab.call("GET", "/api/datasets/cifar")[0] == 404


@pytest.mark.parametrize("config, field, words", [
    ({"lr": -1}, "lr", "must be a positive number"),
    ({"optimizer": "lbfgs"}, "optimizer", "one of sgd, momentum"),
    ({"learning_rate": 0.1}, "learning_rate", "unknown field"),
    ({"dataset": "cifar"}, "dataset", "unknown data set"),
    ({"model": "simple-conv"}, "model", "two-layer and multi-layer"),
    ({"train_size": 10}, "train_size", "from 1,000 to 60,000"),
    ({"train_size": 70_000}, "train_size", "at most 60,000"),
    ({"dataset": "spiral", "train_size": 1000}, "train_size", "300 points"),
    ({"dataset": "spiral", "batch_size": 500}, "batch_size", "at most the training-set size"),
    ({"hidden": 5000}, "hidden", "allows 2,000"),
    ({"iters": 1_000_000}, "iters", "allows 100,000"),
    ({"epochs": 200}, "epochs", "120,000 iterations"),
    ({"gradient": "numerical", "hidden": 100}, "gradient", "79,510 parameters"),
    ({"dropout": 0.5}, "dropout", "multi-layer"),
    ({"seed": -1}, "seed", "must be an integer >= 0"),
    ({"paused": "yes"}, "paused", "true or false"),
    ({"speed": -5}, "speed", ">= 0"),
])
def test_a_bad_configuration_gets_400_naming_the_field(lab, config, field, words):
    status, answer, _ = lab.call("POST", "/api/runs", config)
    assert status == 400, answer
    assert answer["field"] == field and words in answer["error"], answer
    assert answer["valid"], answer
    assert "--" not in answer["error"]  # JSON fields, not the command line's flags


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"adam"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_gets_400(lab, raw):
    status, answer, _ = lab.call("POST", "/api/runs", raw=raw)
    assert status == 400 and "JSON" in answer["error"], answer


def test_an_oversize_body_gets_413(lab):
    status, answer, _ = lab.call("POST", "/api/runs", raw=b" " * (65 * 1024))
    assert status == 413 and "64 KiB" in answer["error"]


def test_missing_fields_take_trains_defaults_and_the_seed_network_may_be_numerical(lab):
    """No field: the seed recipe on all 60,000 images. Its TwoLayerNet (39,760 parameters)
    may train with numerical gradients, in float64 like `train --gradient numerical`."""
    from scratchdl.app.recipe import resolve

    status, answer, _ = lab.call("POST", "/api/runs", {"paused": True})
    assert status == 201
    lab.started.append(answer["id"])
    assert answer["config"] == {**resolve({}), "train_size": 60_000}
    run = lab.start(gradient="numerical", paused=True)
    assert lab.snapshot(run)["config"]["dtype"] == "float64"


def test_an_unknown_run_is_404_everywhere(lab):
    for method, path in [("GET", ""), ("GET", "/views"), ("GET", "/events"), ("POST", "/pause"),
                         ("POST", "/resume"), ("POST", "/step"), ("DELETE", "")]:
        status, answer, _ = lab.call(method, f"/api/runs/no-such-run{path}")
        assert status == 404 and "no run 'no-such-run'" in answer["error"], (method, path)
    assert lab.call("GET", "/api/events?runs=no-such-run")[0] == 404
    assert lab.call("GET", "/api/events")[0] == 400


def test_a_wrong_method_gets_405_naming_the_path_s_methods(lab):
    status, answer, headers = lab.call("PUT", "/api/runs")
    assert status == 405 and headers["Allow"] == "GET, HEAD, POST", answer
    status, answer, headers = lab.call("POST", "/api/runs/any")
    assert status == 405 and headers["Allow"] == "DELETE, GET, HEAD", answer
    assert lab.call("HEAD", "/api/runs")[0] == 200


def test_pause_step_resume_and_delete(lab):
    run = lab.start(train_size=1000, iters=100_000, paused=True)
    snap = lab.snapshot(run)
    assert (snap["state"], snap["iteration"], snap["loss"]) == ("paused", 0, [])
    for n in (1, 2, 3):
        status, answer, _ = lab.call("POST", f"/api/runs/{run}/step")
        assert status == 200 and answer["iteration"] == n and answer["state"] == "paused"
    snap = lab.snapshot(run)
    assert len(snap["loss"]) == 3 and snap["iteration"] == 3
    status, answer, _ = lab.call("GET", f"/api/runs/{run}/views")
    assert status == 200 and answer["iteration"] == 3
    assert [n["name"] for n in answer["gradient_norms"]] == ["W1", "W2"]
    assert len(answer["histograms"][0]["counts"]) == 30 and answer["weights"]["count"] == 50

    assert lab.call("POST", f"/api/runs/{run}/resume")[1]["state"] == "running"
    assert lab.call("POST", f"/api/runs/{run}/step")[0] == 409  # running: pause first
    lab.wait(run, lambda s: s["iteration"] > 50)
    assert lab.call("POST", f"/api/runs/{run}/pause")[1]["state"] == "paused"
    time.sleep(0.2)  # the step under way when it paused
    held = lab.snapshot(run)["iteration"]
    time.sleep(0.5)
    assert lab.snapshot(run)["iteration"] == held

    status, body, _ = lab.call("DELETE", f"/api/runs/{run}")
    assert (status, body) == (204, b"")
    assert lab.call("GET", f"/api/runs/{run}")[0] == 404
    assert run not in [r["id"] for r in lab.call("GET", "/api/runs")[1]["runs"]]


def test_one_run_more_than_the_cap_gets_429(lab):
    runs = [lab.start(dataset="spiral", paused=True) for _ in range(MAX_RUNS)]
    status, answer, _ = lab.call("POST", "/api/runs", {"dataset": "spiral"})
    assert status == 429 and answer["max_runs"] == MAX_RUNS and "at once" in answer["error"]
    assert lab.call("GET", "/api/runs")[1]["alive"] == MAX_RUNS
    lab.call("DELETE", f"/api/runs/{runs[0]}")
    lab.start(dataset="spiral", paused=True)


def test_a_finished_run_no_longer_counts_against_the_cap(lab):
    runs = [lab.start(dataset="xor", iters=20) for _ in range(MAX_RUNS)]
    for run in runs:
        lab.finished(run)
    lab.start(dataset="xor", iters=20)


def test_a_run_nobody_watches_stops_and_one_that_is_watched_goes_on(lab):
    """Watching is a request about the run, or its event stream open, within IDLE_SECONDS."""
    forgotten = lab.start(dataset="spiral", **LONG)
    polled = lab.start(dataset="spiral", **LONG)
    followed = lab.start(dataset="spiral", **LONG)
    conn = lab.connect()
    conn.request("GET", f"/api/runs/{followed}/events")
    assert conn.getresponse().status == 200
    for _ in range(int(2.5 * IDLE_SECONDS)):
        assert lab.snapshot(polled)["state"] == "running"
        time.sleep(1)
    assert lab.call("GET", f"/api/runs/{forgotten}")[0] == 404
    before = lab.snapshot(followed)
    conn.close()
    time.sleep(0.5)
    assert lab.snapshot(followed)["iteration"] > before["iteration"]  # asked just now
    for _ in range(IDLE_SECONDS + 2):
        assert lab.snapshot(polled)["state"] == "running"
        time.sleep(1)
    assert lab.call("GET", f"/api/runs/{followed}")[0] == 404


def test_the_event_stream_carries_every_loss_evaluation_and_view(lab):
    run = lab.start(dataset="circles", hidden=8, activation="relu", weight_init_std="he",
                    lr=0.5, batch_size=20, iters=600, speed=1000)
    got = events(lab, f"/api/runs/{run}/events", lambda e: e and e[-1]["state"] == "finished")
    snap = lab.snapshot(run, since=0)
    losses = [x for e in got for x in e["loss"]]
    assert [e["loss_from"] for e in got] == list(np.cumsum([0] + [len(e["loss"]) for e in got]
                                                           )[:-1])
    assert losses == snap["loss"] and len(losses) == 600
    evals = [e["evals"] for e in got if "evals" in e]
    assert [i for ev in evals for i in ev["iters"]] == snap["eval_iters"]
    assert [a for ev in evals for a in ev["test_acc"]] == snap["test_acc"]
    boundary = [e["views"]["boundary"] for e in got if "views" in e]
    assert len(boundary) >= 2 and boundary[0]["side"] == 64
    assert got[-1]["final"]["train_acc"] > 0.9


def test_one_stream_follows_several_runs(lab):
    a = lab.start(dataset="xor", iters=200, speed=500)
    b = lab.start(dataset="xor", iters=100, speed=500)
    got = events(lab, f"/api/events?runs={a},{b}",
                 lambda e: {x["id"] for x in e if x.get("state") == "finished"} == {a, b})
    assert {e["id"] for e in got} == {a, b}
    assert sum(len(e["loss"]) for e in got if e["id"] == a) == 200
    again = events(lab, f"/api/events?runs={a}", bool)
    assert again[0]["loss_from"] == 0 and len(again[0]["loss"]) == 200  # a new stream: all


def test_a_deleted_run_s_stream_says_it_is_gone_and_ends(lab):
    run = lab.start(dataset="xor", **LONG)
    conn = lab.connect()
    conn.request("GET", f"/api/runs/{run}/events")
    response = conn.getresponse()
    assert json.loads(response.readline().decode().removeprefix("data: "))["id"] == run
    assert lab.call("DELETE", f"/api/runs/{run}")[0] == 204
    rest = [json.loads(line.decode().removeprefix("data: ")) for line in response.read()
            .splitlines() if line.startswith(b"data: ")]  # read() returns once the stream ends
    conn.close()
    assert rest[-1] == {"id": run, "gone": True}


def test_a_spiral_run_learns_its_training_set(lab):
    """DeZero's step 48 on its spiral: one hidden layer of 10 sigmoid units, SGD lr 1.0,
    batches of 30 (here 3,000 iterations, its 300 epochs)."""
    run = lab.start(dataset="spiral", hidden=10, activation="sigmoid", weight_init_std="xavier",
                    lr=1.0, batch_size=30, iters=3000)
    snap = lab.finished(run)
    assert snap["final"]["train_acc"] > 0.9, snap["final"]
    views = lab.call("GET", f"/api/runs/{run}/views")[1]
    classes = np.frombuffer(base64.b64decode(views["boundary"]["classes"]), np.uint8)
    assert classes.size == 64 * 64 and set(classes) == {0, 1, 2}


def test_an_mnist_run_passes_85_percent_within_2000_iterations(lab):
    run = lab.start(activation="relu", iters=2000)
    snap = lab.finished(run)
    assert snap["iteration"] == 2000 and snap["final"]["test_acc"] > 0.85, snap["final"]
    assert max(snap["test_acc"]) > 0.85 and snap["eval_iters"][-1] <= 2000


def test_numerical_gradients_draw_the_curve_of_backprop(lab):
    """The seed's point: the seed recipe with numerical gradients (float64) follows the
    backprop run (float32) loss for loss, at the numerical engine's speed."""
    backprop = lab.start(iters=300)
    numerical = lab.start(iters=300, gradient="numerical")
    a = lab.finished(backprop)
    b = lab.finished(numerical)
    a_loss = lab.snapshot(backprop, since=0)["loss"]
    b_loss = lab.snapshot(numerical, since=0)["loss"]
    assert len(a_loss) == len(b_loss) == 300
    assert np.abs(np.subtract(a_loss, b_loss)).max() < 1e-3
    assert b_loss[-1] < 0.8 * b_loss[0]
    assert abs(a["final"]["test_acc"] - b["final"]["test_acc"]) < 0.005


def test_a_fashion_mnist_run_learns(lab):
    run = lab.start(dataset="fashion-mnist", train_size=5000, activation="relu", iters=300)
    snap = lab.finished(run)
    assert snap["final"]["test_acc"] > 0.6, snap["final"]  # chance: 0.1


@pytest.mark.parametrize("config", [
    {"dataset": "mnist", "train_size": 2000, "model": "multi-layer", "hidden": "40,20",
     "batchnorm": True, "dropout": 0.2, "weight_decay": 1e-4, "optimizer": "adam",
     "lr": 0.001, "iters": 150, "seed": 7, "speed": 150},
    {"dataset": "spiral", "hidden": 6, "gradient": "numerical", "lr": 1.0, "batch_size": 30,
     "iters": 120, "seed": 3, "speed": 150},
], ids=["mnist-multi-layer-dropout", "spiral-numerical"])
def test_a_lab_run_gives_the_losses_of_a_plain_trainer(lab, mnist, config):
    """The same recipe and seed through `Trainer` in this process: the same losses and
    accuracies, bit for bit (the lab's views, taken while it trains, change nothing)."""
    from scratchdl.data import load_spiral
    from scratchdl.models import MultiLayerNetExtend, TwoLayerNet
    from scratchdl.runtime.threads import blas_threads
    from scratchdl.train import Trainer

    run = lab.start(**config)
    snap = lab.finished(run)
    assert lab.call("GET", f"/api/runs/{run}/views")[1]["iteration"] == config["iters"]
    lab_losses = lab.snapshot(run, since=0)["loss"]

    rng = np.random.default_rng(config["seed"])
    if config["dataset"] == "mnist":
        (x, t), (x_test, t_test) = mnist
        x, t = x[:2000], t[:2000]
        net = MultiLayerNetExtend(784, [40, 20], 10, activation="relu", weight_init_std="he",
                                  weight_decay_lambda=1e-4, use_dropout=True, dropout_ration=0.2,
                                  use_batchnorm=True, rng=rng, dtype=np.float32)
        options = {"optimizer": "adam", "optimizer_param": {"lr": 0.001}}
    else:
        (x, t), (x_test, t_test) = load_spiral(True), load_spiral(False)
        x, x_test = x.astype(np.float64), x_test.astype(np.float64)
        net = TwoLayerNet(2, 6, 3, weight_init_std=0.01, activation="sigmoid", rng=rng,
                          dtype=np.float64)
        options = {"optimizer": "sgd", "optimizer_param": {"lr": 1.0}, "gradient": "numerical",
                   "mini_batch_size": 30}
    trainer = Trainer(net, x, t, x_test, t_test, iters=config["iters"], rng=rng, verbose=False,
                      **options)
    with blas_threads(1):
        final = trainer.train()
    assert lab_losses == trainer.history.train_loss
    assert snap["test_acc"] == trainer.history.test_acc
    assert (snap["final"]["train_acc"], snap["final"]["test_acc"]) == final


def test_lab_without_the_extra_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, out, err = run_cli(["lab"], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert 'pip install -e ".[web]"' in err


def test_lab_bad_flags_and_a_taken_port(capsys):
    """Bad flags exit 2, a port already taken exits 1; one line each."""
    need("uvicorn")
    for flags, words in [(["--port", "70000"], "port number from 0 to 65535"),
                         (["--max-runs", "0"], "positive integer"),
                         (["--idle-seconds", "soon"], "positive integer")]:
        code, _, err = run_cli(["lab", *flags], capsys)
        assert code == 2 and words in err and len(err.splitlines()) == 1, err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_cli(["lab", "--port", port], capsys)
    assert code == 1 and f"cannot listen on 127.0.0.1 port {port}" in err


def test_a_watcher_joining_a_long_run_catches_up_in_pieces():
    """Events carry at most LOSSES_PER_EVENT losses each; the rest follows, in order."""
    from scratchdl.app.lab.config import Limits, configure
    from scratchdl.app.lab.datasets import DataSets
    from scratchdl.app.lab.runs import LOSSES_PER_EVENT, Run
    from scratchdl.app.lab.turns import Turns
    from scratchdl.train import History

    run = Run("r", configure({"dataset": "xor"}, Limits(max_runs=1)), DataSets(), Turns(1))
    run.history = History(train_loss=[float(i) for i in range(2 * LOSSES_PER_EVENT + 5)])
    run.version = 1
    cursor: dict = {}
    got = [run.news(cursor) for _ in range(4)]
    assert [len(e["loss"]) for e in got[:3]] == [LOSSES_PER_EVENT, LOSSES_PER_EVENT, 5]
    assert [e["loss_from"] for e in got[:3]] == [0, LOSSES_PER_EVENT, 2 * LOSSES_PER_EVENT]
    assert got[3] is None  # caught up, nothing new
    run.history.train_loss.append(-1.0)
    run.version += 1
    assert run.news(cursor)["loss"] == [-1.0]


def test_the_mmap_threshold_is_fixed_where_the_c_library_is_glibc():
    import platform

    from scratchdl.app.lab.memory import keep_large_arrays_mapped

    assert keep_large_arrays_mapped() == (platform.libc_ver()[0] == "glibc")
