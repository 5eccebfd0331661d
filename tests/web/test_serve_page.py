"""`scratchdl serve`'s page in a real browser: Debian's Chromium, headless, driven by Playwright.

Strokes are drawn with real pointer events (mouse, pen and touch); real MNIST test
digits are replayed as strokes, dropped as files and chosen with the file input,
and must be read as their labels. The page runs under its own Content Security
Policy (nothing loads from elsewhere); any script error fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from serving import ARGS, CHROMIUM, need_chromium

SUMMARY = """() => {
    const pad = document.getElementById('pad'), input = document.getElementById('input');
    const padPixels = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
    const seen = input.getContext('2d').getImageData(0, 0, 28, 28).data;
    let ink = 0;
    for (let i = 0; i < padPixels.length; i += 4) ink += padPixels[i] < 250;
    return {
        ink,
        preview: Array.from({length: 784}, (_, i) => seen[4 * i]),
        probabilities: [...document.querySelectorAll('#bars li')].map(li => Number(li.dataset.p)),
        widths: [...document.querySelectorAll('#bars .bar')].map(b => b.style.width),
        digit: document.getElementById('digit').textContent,
        status: document.getElementById('status').textContent,
        sent: Number(document.getElementById('result').dataset.sent),
    };
}"""
"""What the page shows: ink pixels on the pad, the preview's gray levels, the bars."""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with a fresh profile; touch enabled, so touch events reach it."""
    sync_api = need_chromium()
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM),
            headless=True, args=ARGS, has_touch=True, viewport={"width": 1100, "height": 760})
        yield context
        context.close()


@pytest.fixture
def page(browser, server):
    """The page, loaded, with the model's description shown; fails on any script error."""
    from playwright.sync_api import expect

    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.endswith("status of 400 (Bad Request)") else None)  # a bad file's
    page.goto(server)
    expect(page.locator("#model")).to_have_text(
        "SimpleConvNet (433,890 parameters) · test accuracy 98.90 % (simple-conv.npz)")
    yield page
    page.close()
    assert not errors, errors


def summary(page) -> dict:
    return page.evaluate(SUMMARY)


def settle(page, sent: int) -> dict:
    """Wait until `sent` readings were asked for and the last one is shown."""
    from playwright.sync_api import expect

    result = page.locator("#result")
    expect(result).to_have_attribute("data-sent", str(sent))
    expect(result).to_have_attribute("data-shown", str(sent))
    return summary(page)


def to_page(page, points) -> list[tuple[float, float]]:
    """Points given as fractions of the pad's width and height -> page coordinates."""
    box = page.locator("#pad").bounding_box()
    return [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in points]


def mouse_stroke(page, points) -> None:
    """One stroke with the mouse through `points` (fractions of the pad)."""
    first, *rest = to_page(page, points)
    page.mouse.move(*first)
    page.mouse.down()
    for point in rest or [first]:
        page.mouse.move(*point, steps=3)
    page.mouse.up()


def replay(page, digit: np.ndarray, threshold: float = 127) -> int:
    """Draw a 28x28 digit as strokes: each row's runs of dark pixels, left to right."""
    strokes = 0
    for r, row in enumerate(digit > threshold):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            v = (r + 0.5) / 28
            mouse_stroke(page, [((start + 0.5) / 28, v), ((stop - 0.5) / 28, v)])
            strokes += 1
    return strokes


def check_reading(shown: dict) -> None:
    """A reading on screen: ten bars summing to 1 with widths to match, a digit, a preview."""
    p = shown["probabilities"]
    assert len(p) == 10 and abs(sum(p) - 1) < 1e-9 and min(p) >= 0
    widths = [float(w.removesuffix("%")) for w in shown["widths"]]
    np.testing.assert_allclose(widths, 100 * np.array(p), rtol=1e-5, atol=1e-4)  # CSS rounds
    assert shown["digit"] == str(int(np.argmax(p)))
    assert max(shown["preview"]) > 200 and sum(v > 0 for v in shown["preview"]) >= 20
    assert shown["status"] == ""


def test_strokes_show_what_the_network_sees(page, server):
    """A 7 drawn in two mouse strokes: read as 7; the preview is the server's 28x28 input."""
    start = summary(page)["sent"]
    mouse_stroke(page, [(0.25, 0.2), (0.75, 0.2)])
    mouse_stroke(page, [(0.75, 0.2), (0.62, 0.5), (0.45, 0.85)])
    shown = settle(page, start + 2)
    check_reading(shown)
    assert shown["digit"] == "7"
    assert shown["ink"] > 5000
    pad_png = page.evaluate("""() => new Promise(done => document.getElementById('pad')
        .toBlob(b => b.arrayBuffer().then(a => done(Array.from(new Uint8Array(a))))))""")
    answer = page.evaluate("""async bytes => (await fetch('/api/predict', {method: 'POST',
        body: new Uint8Array(bytes)})).json()""", pad_png)
    expected = (np.array(answer["input"]) * 255).round().astype(int).ravel().tolist()
    assert shown["preview"] == expected
    assert shown["probabilities"] == answer["probabilities"]


def test_pen_and_touch_draw_like_the_mouse(page):
    """Real pen and touch input (Chrome's DevTools protocol) reach the pad as pointer events."""
    page.evaluate("""() => { window.kinds = [];
        document.getElementById('pad').addEventListener('pointerdown',
            e => window.kinds.push(e.pointerType)); }""")
    cdp = page.context.new_cdp_session(page)
    pen = {"button": "left", "pointerType": "pen"}
    start = summary(page)["sent"]
    (x0, y0), (x1, y1) = to_page(page, [(0.5, 0.15), (0.5, 0.85)])
    cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x0, "y": y0,
                                          "buttons": 1, "clickCount": 1, **pen})
    for t in np.linspace(0, 1, 8)[1:]:
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0,
                                              "y": y0 + t * (y1 - y0), "buttons": 1, **pen})
    cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x1, "y": y1,
                                          "buttons": 0, "clickCount": 1, **pen})
    shown = settle(page, start + 1)
    check_reading(shown)
    assert shown["digit"] == "1"
    page.click("#clear")
    start = summary(page)["sent"]
    (x0, y0), (x1, y1) = to_page(page, [(0.2, 0.5), (0.8, 0.5)])
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                          "touchPoints": [{"x": x0, "y": y0}]})
    for t in np.linspace(0, 1, 8)[1:]:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                 "touchPoints": [{"x": x0 + t * (x1 - x0), "y": y0}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    check_reading(settle(page, start + 1))
    assert page.evaluate("window.kinds") == ["pen", "touch"]


def test_replayed_mnist_digits_are_read_as_their_labels(page, digits, tmp_path):
    """One real MNIST test digit of each class, drawn stroke by stroke with the mouse."""
    wrong = []
    for label, digit in digits[::2]:
        page.click("#clear")
        start = summary(page)["sent"]
        shown = settle(page, start + replay(page, digit))
        check_reading(shown)
        if shown["digit"] != str(label):
            wrong.append((label, shown["digit"]))
    assert not wrong, f"(label, read) {wrong}"
    shot = tmp_path / "serve-page.png"
    page.screenshot(path=shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SCRATCHDL_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["SCRATCHDL_SCREENSHOTS"]) / shot.name)


def drop(page, name: str, data: bytes, kind: str = "image/png") -> None:
    """Drop a file with these bytes onto the pad, as a file dragged from the desktop."""
    transfer = page.evaluate_handle("""([bytes, name, kind]) => {
        const t = new DataTransfer();
        t.items.add(new File([new Uint8Array(bytes)], name, {type: kind}));
        return t; }""", [list(data), name, kind])
    page.dispatch_event("#pad", "drop", {"dataTransfer": transfer})


def test_dropped_and_chosen_files_are_read(page, digit_files):
    """Real MNIST test digits as PNG files, dropped or chosen: each read as its label,
    and shown on the pad."""
    wrong = []
    for n, (label, path) in enumerate(digit_files[1::2]):
        start = summary(page)["sent"]
        if n % 2:
            drop(page, path.name, path.read_bytes())
        else:
            page.set_input_files("#file", str(path))
        shown = settle(page, start + 1)
        check_reading(shown)
        assert shown["ink"] > 1000
        if shown["digit"] != str(label):
            wrong.append((label, shown["digit"]))
    assert not wrong, f"(label, read) {wrong}"


def test_clear_empties_the_pad_and_the_preview(page):
    start = summary(page)["sent"]
    mouse_stroke(page, [(0.3, 0.3), (0.7, 0.7)])
    check_reading(settle(page, start + 1))
    page.click("#clear")
    shown = summary(page)
    assert shown["ink"] == 0 and max(shown["preview"]) == 0
    assert shown["probabilities"] == [0] * 10 and shown["digit"] == "–"
    assert shown["widths"] == ["0px"] * 10


def test_bad_and_oversize_files_say_why(page):
    """Not an image: the server's error is shown, and no reading. Over 5 MiB: refused
    before sending."""
    from playwright.sync_api import expect

    start = summary(page)["sent"]
    mouse_stroke(page, [(0.5, 0.2), (0.5, 0.8)])
    check_reading(settle(page, start + 1))
    drop(page, "notes.txt", b"a seven, honestly\n", "text/plain")
    shown = settle(page, start + 2)
    assert max(shown["preview"]) == 0 and shown["digit"] == "–"
    assert shown["probabilities"] == [0] * 10
    status = page.locator("#status")
    expect(status).to_have_class("error")
    expect(status).to_contain_text("is not an image PIL can read")
    page.set_input_files("#file", files=[{"name": "huge.png", "mimeType": "image/png",
                                          "buffer": bytes(6 * 1024 * 1024)}])
    expect(status).to_have_text("huge.png is 6.0 MiB; the limit is 5 MiB")
    assert summary(page)["sent"] == start + 2
    info = json.loads(page.evaluate("async () => JSON.stringify(await (await fetch('/api/model'))"
                                    ".json())"))
    assert info["max_upload_bytes"] == 5 * 1024 * 1024
