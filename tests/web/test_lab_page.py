"""`scratchdl lab`'s page in a real browser: Debian's Chromium, headless, driven by Playwright,
against the real command (`python -m scratchdl lab --port 0`).

A spiral run draws its loss and decision boundary, an MNIST run its first layer's weights,
two runs go side by side, the URL restores the knobs, the language switches (and follows
the browser's), a step is one iteration, and closing the page stops its runs on the
server. The page runs under its own Content Security Policy; any script error fails.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from serving import ARGS, CHROMIUM, need_chromium, start_lab, stop_server

IDLE_SECONDS = 2
REFUSED = ("status of 400 (Bad Request)", "status of 429 (Too Many Requests)")
"""The browser's console notes of answers the tests ask for."""

COLORS = """(selector) => {
    const c = document.querySelector(selector);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = {};
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] < 200) continue;
        const key = [data[i], data[i + 1], data[i + 2]].map(v => Math.round(v / 32)).join(',');
        seen[key] = (seen[key] || 0) + 1;
    }
    return seen;
}"""
"""The colours a canvas shows (each channel in steps of 32), with their pixel counts."""


@pytest.fixture(scope="module")
def lab_url(mnist_dir) -> str:
    proc, url = start_lab("--max-runs", "4", "--idle-seconds", str(IDLE_SECONDS))
    yield url
    status, _, err = stop_server(proc)
    assert status == 0, err


@pytest.fixture(scope="module")
def chromium():
    sync_api = need_chromium()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, lab_url):
    """Open the page (with a query, in a browser locale) in a context of its own; every page
    must end with no script error."""
    from playwright.sync_api import expect

    opened = []

    def open_page(query: str = "", locale: str = "en-US"):
        context = chromium.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not
                m.text.endswith(REFUSED) else None)
        page.goto(lab_url + query)
        expect(page.locator("body")).to_have_attribute("data-ready", "1")
        opened.append((context, errors))
        return page

    yield open_page
    for context, errors in opened:
        context.close()
        assert not errors, errors


def server_runs(lab_url: str) -> dict:
    with urllib.request.urlopen(lab_url + "api/runs") as response:
        return json.loads(response.read())


def hex_rgb(color: str) -> str:
    """'#2457c5' as COLORS keys it: '1,3,6'."""
    return ",".join(str(round(int(color[k:k + 2], 16) / 32)) for k in (1, 3, 5))


def query_of(page) -> str:
    """The page's query string now (Playwright's `page.url` learns of replaceState later)."""
    return page.evaluate("location.search").removeprefix("?")


def finished(page, count: int = 1, timeout: float = 60_000) -> None:
    from playwright.sync_api import expect

    expect(page.locator(".run[data-state=finished]")).to_have_count(count, timeout=timeout)


def start_spiral_runs(page, iters: str, speed: str, vary: str, values: str) -> None:
    """The spiral preset, then runs side by side with `vary` taking `values`, started."""
    page.click("[data-preset=preset_spiral]")
    page.fill("[name=iters]", iters)
    page.select_option("[name=speed]", speed)
    page.select_option("[name=vary]", vary)
    page.fill("[name=values]", values)
    page.click("#start")


def screenshot(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=shot, full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SCRATCHDL_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["SCRATCHDL_SCREENSHOTS"]) / name)
    return shot


def test_a_spiral_run_draws_its_loss_and_decision_boundary(open_page, tmp_path):
    page = open_page()
    page.click("[data-preset=preset_spiral]")
    page.select_option("[name=speed]", "0")
    page.click("#start")
    finished(page)
    loss = page.locator("#loss")
    assert loss.get_attribute("data-points") == "3000" and loss.get_attribute("data-lines") == "1"
    assert page.evaluate(COLORS, "#loss").get(hex_rgb("#2457c5"), 0) > 300  # the run's line
    assert int(page.locator("#accuracy").get_attribute("data-points")) > 100
    boundary = page.locator(".run [data-view=boundary] canvas")
    assert boundary.get_attribute("data-points") == "300"
    assert boundary.get_attribute("data-classes") == "3"
    colors = page.evaluate(COLORS, ".run [data-view=boundary] canvas")
    assert sum(n > 2000 for n in colors.values()) >= 3  # three class regions, each large
    facts = page.locator(".run .facts").inner_text()
    train = float(facts.split("final: training data ")[1].split(" %")[0])
    assert train > 90, facts
    screenshot(page, tmp_path, "lab-spiral.png")


def test_an_mnist_run_shows_its_first_layer_weights(open_page, tmp_path):
    page = open_page()
    page.fill("[name=train_size]", "1000")
    page.fill("[name=iters]", "300")
    page.select_option("[name=activation]", "relu")
    page.click("#start")
    finished(page)
    weights = page.locator(".run [data-view=weights] canvas")
    assert weights.get_attribute("data-images") == "50"
    colors = page.evaluate(COLORS, ".run [data-view=weights] canvas")
    reds = sum(n for k, n in colors.items() if k.startswith("8,") and k != "8,8,8")
    blues = sum(n for k, n in colors.items() if k.endswith(",8") and k != "8,8,8")
    assert reds > 1000 and blues > 1000, colors
    assert page.locator(".run [data-view=histograms] canvas").get_attribute("data-layers") == "1"
    assert page.locator(".run [data-view=norms] canvas").get_attribute("data-bars") == "2"
    assert "test data" in page.locator(".run .facts").inner_text()
    screenshot(page, tmp_path, "lab-mnist.png")


def test_two_runs_side_by_side(open_page, tmp_path):
    """The book's optimizer comparison, in small: the same data and seed, one knob changed."""
    page = open_page()
    start_spiral_runs(page, "600", "0", "optimizer", "sgd, adam lr=0.01")
    finished(page, 2)
    legend = page.locator("#legend li").all_inner_texts()
    assert legend == ["optimizer SGD, learning rate 1", "optimizer Adam, learning rate 0.01"]
    assert page.locator("#loss").get_attribute("data-lines") == "2"
    colors = page.evaluate(COLORS, "#loss")
    assert colors.get(hex_rgb("#2457c5"), 0) > 100 and colors.get(hex_rgb("#d1495b"), 0) > 100
    assert page.locator(".run [data-view=boundary] canvas").count() == 2
    screenshot(page, tmp_path, "lab-side-by-side.png")


def test_the_url_holds_the_knobs(open_page):
    page = open_page()
    page.select_option("[name=model]", "multi-layer")
    page.fill("[name=hidden]", "64,32")
    page.select_option("[name=optimizer]", "adam")
    page.fill("[name=lr]", "0.005")
    page.check("[name=batchnorm]")
    page.fill("[name=seed]", "3")
    page.select_option("[name=vary]", "weight_init_std")
    page.fill("[name=values]", "0.01, he")
    query = parse_qs(query_of(page))
    assert query["model"] == ["multi-layer"] and query["hidden"] == ["64,32"]
    assert query["batchnorm"] == ["true"] and query["values"] == ["0.01, he"]
    knobs = """() => Object.fromEntries([...document.getElementById('knobs').elements]
        .filter(e => e.name).map(e => [e.name, e.type === 'checkbox' ? e.checked : e.value]))"""
    shown = page.evaluate(knobs)
    again = open_page("?" + query_of(page))
    assert again.evaluate(knobs) == shown
    assert shown["optimizer"] == "adam" and shown["lr"] == "0.005" and shown["batchnorm"]


def test_the_language_switches_and_follows_the_browser(open_page):
    page = open_page()
    assert page.locator("#start").inner_text() == "Start"
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click("#lang")
    assert page.locator("#start").inner_text() == "시작"
    assert page.evaluate("document.documentElement.lang") == "ko"
    assert page.locator("[data-t=lr]").inner_text() == "학습률"
    assert page.locator("[name=gradient] option[value=numerical]").inner_text() == "수치 미분"
    assert parse_qs(query_of(page))["lang"] == ["ko"]
    page.click("#lang")
    assert page.locator("[data-t=weight_decay]").inner_text() == "weight decay λ"
    korean = open_page(locale="ko-KR")
    assert korean.locator("#start").inner_text() == "시작"
    assert korean.locator("[data-t=batchnorm]").inner_text() == "배치 정규화"


def test_step_is_one_iteration_and_pause_resumes(open_page, lab_url):
    page = open_page()
    page.click("[data-preset=preset_spiral]")
    page.click("#step")
    run = page.locator(".run")
    from playwright.sync_api import expect

    expect(run).to_have_attribute("data-iteration", "1")
    assert run.get_attribute("data-state") == "paused"
    page.click("#step")
    expect(run).to_have_attribute("data-iteration", "2")
    expect(page.locator("#pause")).to_have_text("Resume")
    page.click("#pause")
    expect(run).to_have_attribute("data-state", "running")
    page.click("#reset")
    expect(page.locator(".run")).to_have_count(0)
    deadline = time.monotonic() + 5
    while server_runs(lab_url)["runs"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server_runs(lab_url)["runs"] == []


def test_closing_the_page_stops_its_runs(open_page, lab_url):
    from playwright.sync_api import expect

    page = open_page()
    start_spiral_runs(page, "100000", "30", "seed", "1, 2")
    expect(page.locator(".run[data-state=running]")).to_have_count(2)
    ids = {r["id"] for r in server_runs(lab_url)["runs"]}
    assert len(ids) == 2 and server_runs(lab_url)["alive"] == 2
    time.sleep(IDLE_SECONDS + 1)
    assert server_runs(lab_url)["alive"] == 2  # the open page watches them
    page.context.close()
    closed = time.monotonic()
    while server_runs(lab_url)["runs"] and time.monotonic() - closed < IDLE_SECONDS + 5:
        time.sleep(0.1)
    assert server_runs(lab_url) == {"runs": [], "alive": 0, "max_runs": 4}
    assert time.monotonic() - closed < IDLE_SECONDS + 3


def test_refusals_are_shown_with_the_knob_at_fault(open_page, lab_url):
    from playwright.sync_api import expect

    page = open_page()
    page.fill("[name=lr]", "-1")
    page.click("#start")
    expect(page.locator("#status")).to_have_text("lr: must be a positive number, got -1")
    assert page.locator("#status").get_attribute("class") == "error"
    assert "bad" in page.locator("label:has([name=lr])").get_attribute("class")
    page.fill("[name=lr]", "0.1")
    page.click("[data-preset=preset_spiral]")
    page.select_option("[name=vary]", "seed")
    page.fill("[name=values]", "1, 2, 3, 4, 5")
    page.click("#start")
    expect(page.locator("#status")).to_contain_text("at most 4 runs at once")
    assert page.locator(".run").count() == 4
    page.click("#reset")
    expect(page.locator(".run")).to_have_count(0)
