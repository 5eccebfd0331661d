"""`scratchdl serve`'s HTTP API, through real connections to the real command.

Real MNIST test digits written as PNG files must be read as their labels, with
exactly the numbers `scratchdl predict` gives for the same files; every bad
request gets a JSON error with the right status and leaves the server answering.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import numpy as np
import pytest
from helpers import run_cli
from serving import BOOK_ACCURACY, need, png, start_server, stop_server
from test_fuzz import declaring

from scratchdl.app.classify import Classifier
from scratchdl.app.commands.common import describe


def request(url: str, method: str, path: str, body=None, headers=None):
    """One HTTP/1.1 request on a fresh connection: (status, headers, body bytes)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def predict(url: str, body: bytes) -> dict:
    """POST /api/predict; the JSON answer of a 200."""
    status, headers, data = request(url, "POST", "/api/predict", body,
                                    {"Content-Type": "image/png"})
    assert status == 200, data
    assert headers["Content-Type"] == "application/json"
    return json.loads(data)


def test_page_and_model_description(server, served_model):
    """GET / is the page, loading nothing from elsewhere; GET /api/model describes the model."""
    status, headers, page = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<canvas id="pad"' in page and b"/api/predict" in page
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert b"http://" not in page and b"https://" not in page and b"src=" not in page
    status, headers, data = request(server, "GET", "/api/model")
    assert status == 200
    info = json.loads(data)
    model = Classifier.load(served_model).model
    assert info["description"] == describe(model)
    assert info["description"].startswith("SimpleConvNet (")
    assert info["test_acc"] == BOOK_ACCURACY
    assert info["file"] == served_model.name
    assert info["classes"] == [str(k) for k in range(10)]
    assert info["max_upload_bytes"] == 5 * 1024 * 1024


def test_real_digits_are_read_as_their_labels(server, digit_files):
    """Two real MNIST test digits of each class, as PNG: each read as its label."""
    wrong = []
    for label, path in digit_files:
        answer = predict(server, path.read_bytes())
        assert set(answer) == {"digit", "label", "probabilities", "input"}
        assert len(answer["probabilities"]) == 10
        assert abs(sum(answer["probabilities"]) - 1) < 1e-9
        assert np.array(answer["input"]).shape == (28, 28)
        assert answer["label"] == str(answer["digit"])
        if answer["digit"] != label:
            wrong.append((label, answer["digit"]))
    assert not wrong, f"(label, read) {wrong}"


def test_the_numbers_are_those_of_predict(server, served_model, digit_files):
    """The JSON holds exactly the input and probabilities `predict` computes for the file,
    and the probabilities `scratchdl predict` prints for it."""
    classifier = Classifier.load(served_model)
    for _, path in digit_files:
        answer = predict(server, path.read_bytes())
        reading = classifier.classify(path)
        assert np.array_equal(np.array(answer["input"], dtype=np.float32), reading.input)
        assert np.array_equal(answer["probabilities"], reading.probabilities)
    for _, path in digit_files[::7]:
        printed = subprocess.run([sys.executable, "-m", "scratchdl", "predict", str(served_model),
                                  str(path)], capture_output=True, text=True, timeout=120)
        assert printed.returncode == 0, printed.stderr
        answer = predict(server, path.read_bytes())
        lines = printed.stdout.splitlines()
        assert lines[0].startswith(f"predicted: {answer['digit']} (probability ")
        assert [line.split(":")[1].strip() for line in lines[1:]] == [
            f"{p:.4f}" for p in answer["probabilities"]]


def test_concurrent_requests_get_the_sequential_answers(server, digit_files):
    """Forty requests from eight threads at once: each answer is that digit's own."""
    bodies = [path.read_bytes() for _, path in digit_files]
    alone = [predict(server, body) for body in bodies]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda body: predict(server, body), bodies * 2))
    assert together == alone * 2


def truncated_png(digits) -> bytes:
    data = png(np.kron(digits[0][1], np.ones((10, 10), np.uint8)))
    return data[: len(data) // 2]


BAD_BODIES = {
    "text": (lambda digits: b"a seven, honestly\n", "is not an image PIL can read"),
    "empty": (lambda digits: b"", "the body is empty"),
    "truncated-png": (truncated_png, "cannot decode the image"),
    "model-file": (lambda digits: b"PK\x03\x04" + bytes(100), "is not an image PIL can read"),
    "png-declaring-100000x100000": (lambda digits: declaring("PNG", 100_000, 100_000),
                                    "decompression bomb"),
}


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_not_an_image_is_400(kind, server, digits, digit_files):
    """400 with a one-line JSON error; the server answers the next request as before."""
    make, words = BAD_BODIES[kind]
    status, headers, data = request(server, "POST", "/api/predict", make(digits))
    assert status == 400 and headers["Content-Type"] == "application/json"
    error = json.loads(data)["error"]
    assert words in error and "\n" not in error and "Traceback" not in error
    label, path = digit_files[0]
    assert predict(server, path.read_bytes())["digit"] == label


LIMIT = 5 * 1024 * 1024


def test_declared_oversize_body_is_413_before_it_is_sent(server):
    """A Content-Length over 5 MiB is refused from the headers alone."""
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.putrequest("POST", "/api/predict")
    conn.putheader("Content-Length", str(10**12))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert "5 MiB" in json.loads(response.read())["error"]
    conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversize_body_is_413(chunked, server, digit_files):
    """A body one byte over the limit, sent whole (or in chunks without a length): 413."""
    body = digit_files[0][1].read_bytes()
    body += bytes(LIMIT + 1 - len(body))
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    if chunked:
        conn.request("POST", "/api/predict", body=iter([body[:LIMIT], body[LIMIT:]]),
                     encode_chunked=True)
    else:
        conn.request("POST", "/api/predict", body=body)
    response = conn.getresponse()
    assert response.status == 413
    assert "over 5242880 bytes" in json.loads(response.read())["error"]
    conn.close()
    status, _, _ = request(server, "POST", "/api/predict", body[:LIMIT])  # at the limit: read
    assert status == 200


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/predict", 405), ("PUT", "/api/predict", 405), ("POST", "/", 405),
    ("DELETE", "/api/model", 405), ("GET", "/nope", 404), ("GET", "/index.html", 404),
    ("GET", "/web/index.html", 404), ("GET", "/../../../etc/passwd", 404),
    ("GET", "/%2e%2e/%2e%2e/etc/passwd", 404), ("GET", "/api/model/../../io.py", 404),
])
def test_wrong_method_or_path(method, path, status, server):
    """405 (with Allow) or 404, as JSON; no path from a request reaches the file system."""
    code, headers, data = request(server, method, path)
    assert code == status and headers["Content-Type"] == "application/json"
    error = json.loads(data)["error"]
    assert ("is not allowed" if status == 405 else "no such page") in error
    if status == 405:
        assert headers["Allow"] in ("POST", "GET, HEAD")  # in the same order every time
        assert f"use {headers['Allow']}" in error


def test_ctrl_c_stops_the_server_cleanly(served_model, digit_files):
    """SIGINT after real and bad requests: exit status 0, "stopped", nothing on stderr."""
    proc, url = start_server(served_model)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert predict(url, digit_files[0][1].read_bytes())["digit"] == digit_files[0][0]
        assert request(url, "POST", "/api/predict", b"junk")[0] == 400
    finally:
        code, out, err = stop_server(proc)
    assert code == 0 and out.strip() == "scratchdl serve: stopped" and err == ""


class GatedClassifier(Classifier):
    """A classifier whose readings wait until the test opens the gate."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.entered, self.gate = threading.Event(), threading.Event()

    def classify(self, source):
        self.entered.set()
        assert self.gate.wait(60)
        return super().classify(source)


def test_inference_does_not_block_the_event_loop(served_model, digit_files):
    """While a reading is in progress, the server still answers other requests."""
    uvicorn = need("uvicorn")
    from scratchdl.app.commands.serve import listen, url
    from scratchdl.app.web.app import create_app
    from scratchdl.io import load_model

    classifier = GatedClassifier(*load_model(served_model))
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(classifier, "m.npz"), log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        address = url(sock)
        label, path = digit_files[0]
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(predict, address, path.read_bytes())
            assert classifier.entered.wait(60)
            assert request(address, "GET", "/api/model")[0] == 200
            assert request(address, "GET", "/")[0] == 200
            assert not slow.done()
            classifier.gate.set()
            assert slow.result(timeout=60)["digit"] == label
    finally:
        classifier.gate.set()
        server.should_exit = True
        thread.join(60)
        sock.close()


def test_serve_without_a_model_says_how_to_get_one(capsys):
    code, out, err = run_cli(["serve"], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "scratchdl train --save model.npz" in err and "scratchdl import-book" in err


def test_serve_without_the_extra_says_what_to_install(served_model, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    code, out, err = run_cli(["serve", served_model], capsys)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert 'pip install -e ".[web]"' in err


def test_serve_a_bad_model_file(tmp_path, capsys):
    need("uvicorn")
    bad = tmp_path / "notes.npz"
    bad.write_text("not a model\n")
    code, out, err = run_cli(["serve", bad], capsys)
    assert code == 1 and out == "" and len(err.splitlines()) == 1
    assert err.startswith(f"scratchdl: error: {bad} is not a scratchdl model file")
    code, _, err = run_cli(["serve", tmp_path / "missing.npz"], capsys)
    assert code == 1 and "no such file" in err


def test_serve_bad_addresses(served_model, capsys):
    """A bad --port or --host exits 2; a port already taken exits 1; one line each."""
    need("uvicorn")
    for port in ("70000", "-1", "http"):
        code, _, err = run_cli(["serve", served_model, "--port", port], capsys)
        assert code == 2 and "port number from 0 to 65535" in err and len(err.splitlines()) == 1
    code, _, err = run_cli(["serve", served_model, "--host", "no.such.host.invalid"], capsys)
    assert code == 2 and "not an address of this machine" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_cli(["serve", served_model, "--port", port], capsys)
    assert code == 1 and f"cannot listen on 127.0.0.1 port {port}" in err
    assert "choose another --port" in err and len(err.splitlines()) == 1
