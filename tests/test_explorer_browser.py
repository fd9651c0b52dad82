"""The gate explorer in a real browser: headless Chromium from Debian's packages, driven by Selenium.

One browser for the module. The page under test is the built-in model's (2 x 64, small and fast);
one test makes a pixel-level page (784 steps). What is checked, as the issue lists it: no console
or page errors after loading and interacting; no request but file:, data: or blob:; the numbers
shown equal ``trace_gates`` to the digits shown, the shown terms add up and c_t = f c_{t-1} + i g
holds for them; the page's forward equals PyTorch's to 1e-5 for every embedded digit, with and
without clamps; every control changes what is shown; the URL hash round-trips; a screenshot is not
blank (saved under pytest's temporary folder for a person to look at).

``.ci/run`` installs ``chromium`` and ``chromium-driver``; without them (or without selenium) the
module skips and says why, except under CI (``CI=true``), where that is a failure.
"""

import base64
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from scratch_lstm import GateClamp, trace_gates
from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint
from scratch_lstm.app.cli import main
from scratch_lstm.app.data import STATS, load_sample, pixel_permutation, sequence_view
from scratch_lstm.app.explorer import explore
from scratch_lstm.app.explorer.page import sample_checkpoint
from scratch_lstm.app.gates_report import fresh_model

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1440,1000"]
QUANTITIES = ("i", "f", "g", "o", "c", "h")
SHOWN = 0.5e-4  # the page shows 4 decimals: a shown number is within this of the number it stands for



def unavailable(reason: str, module_level: bool = False):
    """Skip, saying why; under CI (``CI=true``), where ``.ci/run`` installs everything, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module_level)


try:
    from selenium import webdriver
except ImportError:
    unavailable("selenium is not installed (pip install -e '.[test]')", module_level=True)
if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
    unavailable(f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver",
                module_level=True)


# ---- the clamps' meaning, in Python -------------------------------------------------------------------------
# scratch_lstm.GateClamp: a gate held at its value after it is computed, c_t and h_t following from it;
# "h" holds the unit's output. The page's clamps must mean exactly that.

def js(clamp: GateClamp) -> dict:
    """A clamp as the page's window.explorer API takes it."""
    units = None if clamp.units is None else list(clamp.units)
    return {"gate": clamp.gate, "value": clamp.value, "layer": clamp.layer, "units": units}


def clamped_reference(model, x: torch.Tensor, clamps: list[GateClamp]) -> dict:
    """The classifier on x (1, T, I) with the clamps held (trace_gates through the teaching path):
    per layer {q: (T, H)} and the logits (T, C), the head read after every step."""
    traces = trace_gates(model.rnn, x, clamps=clamps)
    layers = [{q: tr[q][0] for q in QUANTITIES} for tr in traces]
    return {"layers": layers, "logits": model.lin(layers[-1]["h"])}


def pytorch_reference(model, x: torch.Tensor) -> dict:
    """The same record with no clamp: the public trace_gates, the head read after every step."""
    return clamped_reference(model, x, [])


# ---- the browser ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never look for a browser or driver online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as e:  # a browser that cannot start here (no display libraries, a broken install)
        unavailable(f"headless Chromium did not start: {str(e).splitlines()[0]}")
    yield driver
    driver.quit()


@dataclass
class Page:
    path: Path
    models: dict  # "trained", "fresh" -> LSTMClassifier
    x: torch.Tensor  # (N, T, I) float32: the embedded digits as the model reads them
    x64: torch.Tensor  # the same in float64
    labels: list


def make_page(folder: Path, checkpoint=None) -> Page:
    page = explore(checkpoint, threads=1)
    path = page.save(folder / "explorer.html")
    ckpt = sample_checkpoint() if checkpoint is None else load_checkpoint(checkpoint)
    models = {"trained": model_from_checkpoint(ckpt, backend="scratch").eval(), "fresh": fresh_model(ckpt)}
    ds = load_sample()
    indices = [i for _, source in page.digits for i in [int(source.rsplit(" ", 1)[1])]]
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    images = ds.test_images[indices]
    x = sequence_view(images, sequence, *STATS["mnist"], perm)  # (N, T, I) float32, as training reads them
    mean, std = STATS["mnist"]
    x64 = ((images.double() / 255 - mean) / std).reshape(len(indices), 784)  # as the page computes them
    x64 = x64[:, perm] if perm is not None else x64
    x64 = x64.reshape(x.shape)
    return Page(path, models, x, x64, [label for label, _ in page.digits])


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Page:
    return make_page(tmp_path_factory.mktemp("explorer"))


def open_page(driver, path: Path, hash: str = "") -> None:
    """Load the page afresh (a new hash alone would keep the document) and wait for its first drawing."""
    driver.get("about:blank")
    driver.get(path.as_uri() + hash)
    wait_for(driver, "return window.explorer && window.explorer.ready && window.explorer.check !== null")


def wait_for(driver, script: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def problems(driver) -> list[str]:
    """Console errors and uncaught page errors since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def requested_urls(driver) -> list[str]:
    """Every URL the page requested since the last call (from Chromium's network log)."""
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def shown(driver, testid: str) -> float:
    """The number the element with this data-testid shows (a real minus sign read as '-')."""
    text = driver.execute_script("return window.explorer.text(arguments[0])", testid)
    assert text is not None, f"nothing shows {testid}"
    return float(text.replace("−", "-"))


def js_trace(driver, model: str, digit: int, clamps=(), T=None, H=None, K=None, C=10) -> dict:
    """The page's forward of one embedded digit, read back exactly (float64)."""
    raw = driver.execute_script("return window.explorer.trace(arguments[0], arguments[1], arguments[2])",
                                model, digit, [js(cl) for cl in clamps])
    values = np.frombuffer(base64.b64decode(raw), dtype="<f8")
    layers, at = [], 0
    for _ in range(K):
        layer = {}
        for q in QUANTITIES:
            layer[q] = torch.from_numpy(values[at : at + T * H].reshape(T, H).copy())
            at += T * H
        layers.append(layer)
    logits = torch.from_numpy(values[at:].reshape(T, C).copy())
    return {"layers": layers, "logits": logits}


def max_difference(a: dict, b: dict) -> float:
    diffs = [(la[q].double() - lb[q].double()).abs().max().item()
             for la, lb in zip(a["layers"], b["layers"]) for q in QUANTITIES]
    diffs.append((a["logits"].double() - b["logits"].double()).abs().max().item())
    return max(diffs)


def sizes(page: Page) -> dict:
    rnn = page.models["trained"].rnn
    return {"T": page.x.size(1), "H": rnn.hidden_size, "K": rnn.num_layers}


CLAMPS = [GateClamp("f", 0.0, 0, [1, 3]), GateClamp("o", 1.0), GateClamp("h", 0.0, 1, [2]),
          GateClamp("i", 1.0, 1, None)]


# ---- the tests -------------------------------------------------------------------------------------------------

def test_loads_offline_without_errors(browser, small):
    browser.get("about:blank")
    requested_urls(browser)  # forget the browser's own start page
    browser.get(small.path.as_uri())
    wait_for(browser, "return window.explorer && window.explorer.ready && window.explorer.check !== null")
    assert problems(browser) == []
    urls = requested_urls(browser)
    assert urls and all(u.split(":")[0] in ("file", "data", "blob") for u in urls), urls
    linked = browser.execute_script("return [...document.querySelectorAll('[src], [href]')]"
                                    ".map(e => e.getAttribute('src') || e.getAttribute('href'))")
    assert not [u for u in linked if u.lower().startswith(("http:", "https:", "//"))]
    check = browser.execute_script("return window.explorer.check")
    assert check["digits"] == 10 and check["maxDiff"] < 1e-5  # the page's own check against PyTorch's logits
    assert "Check: this page's forward gives PyTorch's logits" in browser.execute_script(
        "return window.explorer.text('check-line')")


def test_the_page_forward_equals_pytorch_for_every_digit(browser, small):
    open_page(browser, small.path)
    s = sizes(small)
    for model_name, model in small.models.items():
        model64 = type(model)(**{k: getattr(model, k) for k in ("input_size", "hidden_size", "num_classes")},
                              num_layers=s["K"], dtype=torch.float64).eval()
        model64.load_state_dict(model.state_dict())
        for n in range(len(small.labels)):
            page = js_trace(browser, model_name, n, **s)
            with torch.no_grad():
                ours32 = pytorch_reference(model, small.x[n : n + 1])
                ours64 = pytorch_reference(model64, small.x64[n : n + 1])
            assert max_difference(page, ours32) < 1e-5, (model_name, n)
            assert max_difference(page, ours64) < 1e-9, (model_name, n)  # the same equations, float64 alike
            with torch.no_grad():
                clamped32 = clamped_reference(model, small.x[n : n + 1], CLAMPS)
                clamped64 = clamped_reference(model64, small.x64[n : n + 1], CLAMPS)
            page = js_trace(browser, model_name, n, CLAMPS, **s)
            assert max_difference(page, clamped32) < 1e-5, (model_name, n, "clamped")
            assert max_difference(page, clamped64) < 1e-9, (model_name, n, "clamped")
            assert max_difference(page, ours64) > 1e-3  # the clamps do change the run
    assert problems(browser) == []


@pytest.mark.parametrize("where", [dict(digit=3, t=17, layer=1, unit=5), dict(digit=8, t=0, layer=0, unit=63)])
def test_shown_numbers_are_trace_gates_and_add_up(browser, small, where):
    open_page(browser, small.path)
    browser.execute_script("window.explorer.set(arguments[0])", where)
    n, t, k, j = where["digit"], where["t"], where["layer"], where["unit"]
    with torch.no_grad():
        traces = trace_gates(small.models["trained"].rnn, small.x[n : n + 1])
        fresh = trace_gates(small.models["fresh"].rnn, small.x[n : n + 1])
    for name, tr in (("trained", traces), ("fresh", fresh)):
        for q in QUANTITIES:
            expected = tr[k][q][0, t, j].item()
            assert abs(shown(browser, f"value-{name}-{q}") - expected) <= SHOWN + 1e-5, (name, q)
            if q in "ifgo":
                assert abs(shown(browser, f"eq-{name}-{q}") - expected) <= SHOWN + 1e-5, (name, q)
        rnn = small.models[name].rnn
        w_ih, w_hh, b_ih, b_hh, _ = rnn.direction_weights(k)
        x_t = small.x[n, t] if k == 0 else tr[k - 1].h[0, t]
        h_prev = tr[k].h[0, t - 1] if t > 0 else torch.zeros(rnn.hidden_size)
        H = rnn.hidden_size
        for g_index, q in enumerate("ifgo"):
            row = g_index * H + j
            terms = {"wx": (w_ih[row] @ x_t).item(), "wh": (w_hh[row] @ h_prev).item(), "bi": b_ih[row].item(),
                     "bh": b_hh[row].item()}
            for part, value in terms.items():
                assert abs(shown(browser, f"eq-{name}-{q}-{part}") - value) <= SHOWN + 1e-5, (name, q, part)
            total = sum(shown(browser, f"eq-{name}-{q}-{part}") for part in terms)  # the terms add up to z
            assert abs(total - shown(browser, f"eq-{name}-{q}-z")) <= 5 * SHOWN, (name, q)
        f, c_prev, i, g = (shown(browser, f"eq-{name}-c-{p}") for p in ("f", "cprev", "i", "g"))
        fc, ig, c = (shown(browser, f"eq-{name}-{p}") for p in ("c-fc", "c-ig", "c"))
        bound = SHOWN * (abs(f) + abs(c_prev) + SHOWN) + SHOWN  # rounding of both factors and of the product
        assert abs(f * c_prev - fc) <= bound and abs(i * g - ig) <= SHOWN * (abs(i) + abs(g) + SHOWN) + SHOWN
        assert abs(fc + ig - c) <= 3 * SHOWN  # c_t = f ⊙ c_{t-1} + i ⊙ g, for the numbers shown
        assert abs(f * c_prev + i * g - c) <= 4 * SHOWN * (1 + abs(f) + abs(c_prev) + abs(i) + abs(g))
        assert abs(c_prev - (tr[k].c[0, t - 1, j].item() if t > 0 else 0.0)) <= SHOWN + 1e-5
        o, tanh_c, h = (shown(browser, f"eq-{name}-{p}") for p in ("h-o", "h-tanhc", "h"))
        assert abs(o * tanh_c - h) <= SHOWN * (abs(o) + abs(tanh_c) + SHOWN) + SHOWN  # h_t = o ⊙ tanh(c_t)
    assert problems(browser) == []


def test_a_clamp_shows_the_held_gate_and_the_states_that_follow(browser, small):
    open_page(browser, small.path)
    where = dict(digit=2, t=20, layer=0, unit=7)
    browser.execute_script("window.explorer.set(arguments[0])", {**where, "clamps": [
        {"gate": "f", "value": 0, "layer": 0, "units": [7]}]})
    assert shown(browser, "eq-trained-f") == 0.0 and shown(browser, "value-trained-f") == 0.0
    assert shown(browser, "eq-trained-c-fc") == 0.0
    assert abs(shown(browser, "eq-trained-c") - shown(browser, "eq-trained-c-ig")) <= SHOWN  # c_t = i g: forgot c_{t-1}
    with torch.no_grad():
        ref = clamped_reference(small.models["trained"], small.x[2:3], [GateClamp("f", 0.0, 0, [7])])
    assert abs(shown(browser, "value-trained-c") - ref["layers"][0]["c"][20, 7].item()) <= SHOWN + 1e-5
    assert "With the clamps held" in browser.execute_script("return window.explorer.text('prediction')")
    assert problems(browser) == []


def canvas_data(driver, testid: str) -> str:
    return driver.execute_script(f"return document.querySelector('[data-testid=\"{testid}\"]').toDataURL()")


def test_every_control_changes_what_is_shown(browser, small):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    open_page(browser, small.path, "#digit=4&t=10&layer=0&unit=3")
    by = lambda testid: browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')  # noqa: E731
    text = lambda testid: browser.execute_script("return window.explorer.text(arguments[0])", testid)  # noqa: E731
    state = lambda: browser.execute_script("return window.explorer.state()")  # noqa: E731

    before = (text("t-label"), text("value-trained-f"), canvas_data(browser, "digit-canvas"))
    by("slider").send_keys(Keys.ARROW_RIGHT)  # the slider, from the keyboard
    assert state()["t"] == 11
    assert (text("t-label"), text("value-trained-f"), canvas_data(browser, "digit-canvas")) != before
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)  # the page's own keys
    assert state()["t"] == 10
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_UP)
    assert state()["unit"] == 4

    heat = canvas_data(browser, "heatmap-f")
    by("heat-fresh").click()  # the overview shows the fresh model
    assert state()["heat"] == "fresh" and canvas_data(browser, "heatmap-f") != heat
    fresh_heat = canvas_data(browser, "heatmap-f")
    Select(by("sort")).select_by_value("forgetting")  # sorting reorders the units
    assert canvas_data(browser, "heatmap-f") != fresh_heat
    by("heat-trained").click()
    for sort in ("saturation", "cend", "unit"):  # (the fresh model's gates hardly saturate: all would tie)
        shown_before = canvas_data(browser, "heatmap-f")
        Select(by("sort")).select_by_value(sort)
        assert state()["sort"] == sort and canvas_data(browser, "heatmap-f") != shown_before, sort

    prediction, value = text("prediction"), text("value-trained-c")
    Select(by("clamp-gate")).select_by_value("o")
    by("clamp-value").clear()
    by("clamp-value").send_keys("0")
    Select(by("clamp-scope")).select_by_value("layer")
    by("clamp-add").click()  # o = 0 for every unit of layer 0: layer 1 sees nothing of the digit
    assert state()["clamps"] == [{"gate": "o", "value": 0, "layer": 0, "units": None, "steps": None}]
    assert text("prediction") != prediction and "With the clamps held" in text("prediction")
    assert text("value-trained-h") == "0.0000" and text("value-trained-c") != value  # h = 0, so c runs otherwise
    assert "o held at 0" in text("clamp-list")

    by("eq-trained-f-wx").find_element(By.XPATH, "..").click()  # a term: what drove it
    assert "What drove" in text("drivers") and "pixel (10," in text("drivers")
    caption = browser.find_element(By.ID, "digit-caption").text
    by("digit-7").click()
    assert state()["digit"] == 7 and browser.find_element(By.ID, "digit-caption").text != caption
    ActionChains(browser).move_to_element(by("heatmap-i")).click().perform()  # a cell: its unit and step
    assert state()["t"] == 14 and state()["term"] is None
    by("unit-next").click()
    assert state()["unit"] != 4
    assert problems(browser) == []


def test_a_digit_drawn_with_the_pointer_is_read_step_by_step(browser, small):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    open_page(browser, small.path)
    state = lambda: browser.execute_script("return window.explorer.state()")  # noqa: E731
    browser.find_element(By.ID, "draw-open").click()
    canvas = browser.find_element(By.ID, "draw")
    (ActionChains(browser).move_to_element_with_offset(canvas, -60, -80).click_and_hold()  # a 7: the bar, the stem
     .move_by_offset(60, 0).move_by_offset(60, 0).move_by_offset(-30, 80).move_by_offset(-30, 80).release().perform())
    browser.find_element(By.ID, "draw-use").click()
    assert state()["digit"] == "drawn"
    assert browser.execute_script("return document.getElementById('draw-dialog').open") is False
    wait_for(browser, "return window.explorer.state().t >= 2", timeout=10)  # it plays: watch it read
    browser.find_element(By.ID, "play").click()  # pause
    paused = state()["t"]
    time.sleep(0.8)
    assert state()["t"] == paused
    assert "At the last step the trained model reads" in browser.execute_script(
        "return window.explorer.text('prediction')")
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="digit-drawn"]')
    assert problems(browser) == []


def test_the_url_hash_round_trips(browser, small):
    open_page(browser, small.path)
    sample = load_sample().test_images[123].flatten().tolist()
    browser.execute_script("window.explorer.draw(arguments[0])", sample)  # a drawn digit travels in the hash
    browser.execute_script("window.explorer.set(arguments[0])", {
        "t": 9, "layer": 1, "unit": 17, "heat": "fresh", "sort": "forgetting",
        "clamps": [{"gate": "f", "value": 1, "layer": None, "units": None},
                   {"gate": "h", "value": 0, "layer": 1, "units": [3, 4]}]})
    hash = browser.execute_script("return window.explorer.hash()")
    wait_for(browser, "return location.hash === window.explorer.hash()")  # written into the address
    expected = browser.execute_script("return window.explorer.state()")
    values = (browser.execute_script("return window.explorer.text('value-trained-h')"),
              browser.execute_script("return window.explorer.text('prediction')"))
    open_page(browser, small.path, hash)  # a link to that moment, opened afresh
    assert browser.execute_script("return window.explorer.state()") == expected
    assert browser.execute_script("return window.explorer.hash()") == hash
    assert (browser.execute_script("return window.explorer.text('value-trained-h')"),
            browser.execute_script("return window.explorer.text('prediction')")) == values
    open_page(browser, small.path, "#digit=99&t=-3&layer=7&unit=x&clamps=q9_1_1")  # out of range: the nearest
    state = browser.execute_script("return window.explorer.state()")
    assert (state["digit"], state["t"], state["layer"], state["unit"], state["clamps"]) == (9, 0, 1, 0, [])
    assert problems(browser) == []


def test_a_drawn_digit_is_read_as_pytorch_reads_it(browser, small):
    open_page(browser, small.path)
    image = load_sample().test_images[77] // 16 * 17  # a drawing is kept in 16 grey levels (it goes in the hash)
    browser.execute_script("window.explorer.draw(arguments[0])", image.flatten().tolist())
    assert browser.execute_script("return window.explorer.state()")["digit"] == "drawn"
    browser.execute_script("window.explorer.set({t: 27})")  # the answer: the probe at the last step
    with torch.no_grad():
        logits = small.models["trained"](sequence_view(image[None], "rows", *STATS["mnist"]))[0]
    probs = torch.softmax(logits.double(), 0)
    for k in range(10):
        assert abs(shown(browser, f"prob-trained-{k}") - probs[k].item()) <= 0.5e-3 + 1e-5
    assert "not for a drawing" in browser.execute_script("return document.getElementById('gradient-note').textContent")
    assert problems(browser) == []


def test_a_screenshot_is_not_blank(browser, small, tmp_path_factory, record_property):
    import matplotlib.image

    open_page(browser, small.path, "#digit=3&t=17&layer=0&unit=12&clamps=f0_0_12")
    folder = tmp_path_factory.mktemp("screenshots")
    shot = folder / "explorer.png"
    browser.save_screenshot(str(shot))
    pixels = matplotlib.image.imread(str(shot))[..., :3]
    assert pixels.shape[1] >= 1400 and pixels.std() > 0.1  # not one colour: text, digit, heatmaps
    size = small.path.stat().st_size
    (folder / "explorer.txt").write_text(f"{small.path.name}: {size:,} bytes; screenshot explorer.png\n")
    record_property("page_bytes", size)
    print(f"screenshot for a person to look at: {shot}; page size {size:,} bytes")


def test_the_page_shown_inline_in_a_notebook_runs(browser, small, tmp_path):
    page = explore(digits=[0], threads=1)
    holder = tmp_path / "notebook.html"
    holder.write_text(f"<!DOCTYPE html><html><body>{page._repr_html_()}</body></html>")
    browser.get(holder.as_uri())
    from selenium.webdriver.common.by import By

    browser.switch_to.frame(browser.find_element(By.TAG_NAME, "iframe"))
    try:
        wait_for(browser, "return window.explorer && window.explorer.ready && window.explorer.check !== null")
        assert browser.execute_script("return window.explorer.check.maxDiff") < 1e-5
    finally:
        browser.switch_to.default_content()
    assert problems(browser) == []


def test_a_pixel_level_page_reads_784_steps(browser, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist-sample", "--log-every", "0", "--train-subset", "20", "--batch-size",
                 "20", "--epochs", "1", "--threads", "1", "--sequence", "permuted", "--hidden-size", "5",
                 "--num-layers", "2", "--out", str(out)]) == 0
    page = make_page(tmp_path, out / "last.pt")
    open_page(browser, page.path)
    s = sizes(page)
    assert s["T"] == 784
    for n in (0, 9):
        with torch.no_grad():
            ours = pytorch_reference(page.models["trained"], page.x[n : n + 1])
            clamped = clamped_reference(page.models["fresh"], page.x[n : n + 1], CLAMPS[:2])
        assert max_difference(js_trace(browser, "trained", n, **s), ours) < 1e-5
        assert max_difference(js_trace(browser, "fresh", n, CLAMPS[:2], **s), clamped) < 1e-5
    browser.execute_script("window.explorer.set({t: 400})")
    perm = pixel_permutation(0)
    p = perm[400].item()
    assert f"pixel ({p // 28}, {p % 28})" in browser.execute_script("return window.explorer.text('t-label')")
    assert problems(browser) == []


# ---- what a learner and a tester found: each fixed, each with its test --------------------------------------------

def by_testid(driver, testid: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def page_state(driver) -> dict:
    return driver.execute_script("return window.explorer.state()")


def page_text(driver, testid: str) -> str:
    return driver.execute_script("return window.explorer.text(arguments[0])", testid)


class phone:
    """The page at a phone's width (CSS pixels), as Chromium's device emulation shows it."""

    def __init__(self, driver, width: int, height: int = 844):
        self.driver, self.size = driver, {"width": width, "height": height}

    def __enter__(self):
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {**self.size, "deviceScaleFactor": 1, "mobile": True})

    def __exit__(self, *exc):
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


OUTSIDE = """
const [testid, box] = arguments;
const e = document.querySelector(`[data-testid="${testid}"]`);
const r = e.getBoundingClientRect();
const c = (box ? e.closest(box) : document.documentElement).getBoundingClientRect();
return r.width > 0 && r.left >= Math.max(0, c.left) - 0.5 && r.right <= Math.min(innerWidth, c.right) + 0.5 ? null
  : [r.left, r.right, c.left, c.right, innerWidth];
"""


@pytest.mark.parametrize("width", [360, 390, 414])
def test_a_phone_scrolls_no_sideways_and_shows_every_equations_result(browser, small, width):
    with phone(browser, width):
        open_page(browser, small.path, "#digit=3&t=17&layer=1&unit=5")
        widths = browser.execute_script("return [innerWidth, document.documentElement.scrollWidth]")
        assert widths[0] == width and widths[1] <= width, widths  # no sideways scroll
        shown_ids = [f"eq-{m}-{q}{part}" for m in ("trained", "fresh") for q in "ifgo" for part in ("", "-z")]
        shown_ids += [f"eq-{m}-{q}" for m in ("trained", "fresh") for q in ("c", "h")]
        for testid in shown_ids:  # every equation's result within the screen and its (scrollable) box
            assert browser.execute_script(OUTSIDE, testid, ".eqs") is None, testid
        for testid in ("gradient", "saturation-f", "heatmap-c", "sort", "clamp-text", "across-trained-h-9",
                       "saliency", "tour-start"):
            assert browser.execute_script(OUTSIDE, testid, None) is None, testid
        browser.find_element("id", "draw-open").click()
        assert browser.execute_script(OUTSIDE, "draw-canvas", None) is None
        close = browser.execute_script("const r = document.getElementById('draw-close').getBoundingClientRect();"
                                       "return [r.left, r.right, innerWidth]")
        assert close[0] >= 0 and close[1] <= close[2], close  # the dialog's close button wholly on the screen
        browser.find_element("id", "draw-close").click()
    assert problems(browser) == []


# the clamps a learner might type or a link might carry; GateClamp.parse and check_clamps (a 2 x 64 LSTM) against
# the page's parser: the same accepted, with the same meaning, and the same refused
CLAMP_TEXTS = ["f=1", "i=0", "h=0@1", "o=0.5:7", "f=1@0:3,7,9", "g=-1@1:0-3,9", "f=1:5,2,2", "f=0/15", "f=0@1:5/15-17",
               "o=1e-7", "i=+.5", "h=-1:63", "g=0.25/0-27", " f = 0.5", "f=5", "g=-3", "h=2@0:0", "h=1e300", "f=-0.1",
               "f=nan", "f=inf", "f=1@2", "h=0:64", "f=1@²", "f=١", "f=1:0-9999999", "f=1/3-2", "f=1/3,4", "f=1/",
               "f=1:3@0", "f", "=1", "q=1", "f=one", "f=1:", "f=1:3,,4", "f=1:9-3", "f=1@", "f=1@-1", "f=1/x"]


def python_clamp(text: str):
    from scratch_lstm.clamps import check_clamps

    try:
        clamp = check_clamps(GateClamp.parse(text), 2, 64)[0]
    except (ValueError, TypeError) as e:
        return None, str(e)
    return {"gate": clamp.gate, "value": clamp.value, "layer": clamp.layer,
            "units": None if clamp.units is None else list(clamp.units),
            "steps": None if clamp.steps is None else list(clamp.steps)}, None


def test_the_page_accepts_exactly_the_clamps_gateclamp_and_eval_accept(browser, small):
    open_page(browser, small.path)
    for text in CLAMP_TEXTS:
        ours, error = python_clamp(text)
        page = browser.execute_script("return window.explorer.parseClamp(arguments[0])", text)
        assert page.get("clamp") == ours, (text, error, page)
        if ours is None:
            assert page["error"], text
    from scratch_lstm.clamps import CLAMP_LIMITS, CLAMP_RANGES

    rules = browser.execute_script("return JSON.parse(document.getElementById('explorer-data').textContent)"
                                   ".clamp_rules")
    assert rules == {"ranges": {g: list(r) for g, r in CLAMP_RANGES.items()}, "limits": CLAMP_LIMITS}


def test_a_link_with_bad_clamps_keeps_the_good_ones_and_says_what_it_ignored(browser, small):
    bad = ["f5_all_all", "g-3_1_all", "h2_0_0", "h" + "9" * 40 + "_all_all", "h1e+300_all_all"]
    open_page(browser, small.path, "#digit=2&clamps=" + ",".join(bad + ["f1_0_3+5"]))  # the first form of a link
    state = page_state(browser)
    assert state["clamps"] == [{"gate": "f", "value": 1, "layer": 0, "units": [3, 5], "steps": None}]
    notice = page_text(browser, "notice")
    assert browser.find_element("id", "notice").is_displayed()
    for text in ("f=5", "g=-3@1", "h=2@0:0", "h=1e+300"):
        assert f"the clamp “{text}" in notice, (text, notice)
    assert "must be in [0, 1], got 5" in notice and "must be in [-1, 1], got 2" in notice
    for q in "ifgo":  # every shown gate inside its range
        assert 0 <= shown(browser, f"value-trained-{q}") <= 1 or q == "g"
    hash = browser.execute_script("return window.explorer.hash()")
    assert "clamps=f=1@0:3,5" in hash
    open_page(browser, small.path, hash)  # written back in the grammar, read again: the clamp stays
    assert page_state(browser)["clamps"] == state["clamps"]
    assert not browser.find_element("id", "notice").is_displayed()
    open_page(browser, small.path, "#clamps=f=0@1:5/15-17;o=0.5:0-9;h=3")  # the grammar itself, as eval takes it
    assert [c["steps"] for c in page_state(browser)["clamps"]] == [[15, 17], None]
    assert "the clamp “h=3”: h is a tanh: its clamp value must be in [-1, 1], got 3" in page_text(browser, "notice")
    assert problems(browser) == []


def test_home_and_end_work_while_the_slider_has_focus(browser, small):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, small.path, "#t=10")
    slider = by_testid(browser, "slider")
    slider.send_keys(Keys.END)
    assert page_state(browser)["t"] == 27 and slider.get_attribute("value") == "27"
    slider.send_keys(Keys.HOME)
    assert page_state(browser)["t"] == 0 and slider.get_attribute("value") == "0"
    assert problems(browser) == []


def test_the_unit_field_and_the_link_refuse_junk_alike_and_say_so(browser, small):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, small.path, "#unit=5")
    field = by_testid(browser, "unit")
    for junk in ("abc", "e", "1.5", "-2", " "):
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(junk, Keys.ENTER)  # typed over the selected number
        assert page_state(browser)["unit"] == 5, junk
        assert field.get_attribute("value") == "5", junk  # the field shows the unit shown
        assert "is not a unit number" in page_text(browser, "unit-note"), junk
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("9999", Keys.ENTER)
    assert page_state(browser)["unit"] == 63 and "Unit 9999 does not exist" in page_text(browser, "unit-note")
    open_page(browser, small.path, "#unit=9999&t=99")  # the link: the same nearest unit, and said
    state = page_state(browser)
    assert (state["unit"], state["t"]) == (63, 27)
    notice = page_text(browser, "notice")
    assert "unit=9999: units run from 0 to 63, so unit 63" in notice and "t=99: steps run from 0 to 27" in notice
    open_page(browser, small.path, "#digit=drawn&drawn=garbage")
    assert page_state(browser)["digit"] == 0 and "not a drawing this page wrote" in page_text(browser, "notice")
    assert problems(browser) == []


DRAW_T = """
const cv = document.getElementById('draw');
const ctx = cv.getContext('2d');
ctx.fillStyle = '#000'; ctx.fillRect(0, 0, 280, 280);
ctx.fillStyle = '#fff';
for (const [x, y, w, h] of arguments[0]) ctx.fillRect(x, y, w, h);
document.getElementById('draw-use').click();
"""


def test_drawing_refuses_nothing_and_a_dot_and_keeps_every_row_of_a_t(browser, small):
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, small.path)
    browser.find_element("id", "draw-open").click()
    by_testid(browser, "draw-use").click()  # nothing drawn
    assert "Nothing is drawn yet" in page_text(browser, "draw-note")
    assert browser.execute_script("return document.getElementById('draw-dialog').open")
    ActionChains(browser).move_to_element(by_testid(browser, "draw-canvas")).click().perform()  # one tap: a dot
    by_testid(browser, "draw-use").click()
    assert "too small to be read as a digit" in page_text(browser, "draw-note")
    assert page_state(browser)["digit"] == 0
    browser.execute_script(DRAW_T, [[40, 30, 200, 30], [125, 30, 30, 200]])  # a T: top-heavy, 200 x 200
    assert page_state(browser)["digit"] == "drawn"
    pixels = np.array(browser.execute_script("return window.explorer.drawn()")).reshape(28, 28)
    assert (pixels.max(axis=1) > 0).sum() == 20  # all 20 of its rows, inside the 28
    assert "no “not a digit” answer" in page_text(browser, "prediction")
    assert problems(browser) == []


def test_reading_many_drawings_needs_no_slow_readback(browser, small):
    open_page(browser, small.path)
    browser.get_log("browser")
    for k in range(6):
        browser.execute_script("window.explorer.set({t: 0}); document.getElementById('draw-open').click()")
        browser.execute_script(DRAW_T, [[40 + 5 * k, 30, 200, 30], [125, 30, 30, 200]])
        browser.find_element("id", "play").click()  # pause its reading
    warnings = [e["message"] for e in browser.get_log("browser") if "willReadFrequently" in e["message"]]
    assert warnings == []


def test_conflicting_clamps_say_which_wins(browser, small):
    open_page(browser, small.path, "#clamps=f=1@0:7;f=0@0:5-9/10-12;o=1")
    listed = page_text(browser, "clamp-list")
    assert "1. f held at 1" in listed and "overridden by 2 where they overlap" in listed
    assert "wins over 1 where they overlap: the later clamp wins" in listed
    assert page_text(browser, "clamp-2").count("overridden") == 0  # o: no conflict
    assert problems(browser) == []


def test_the_page_says_its_numbers_are_rounded(browser, small):
    open_page(browser, small.path)
    assert "rounded to 4 decimals" in " ".join(page_text(browser, "rounding-note").split())
    assert browser.find_element("css selector", '[data-testid="rounding-note"]').is_displayed()


def test_the_gradient_speaks_in_plain_numbers_with_ticks(browser, small):
    import re

    open_page(browser, small.path, "#digit=3&t=17&layer=0")
    note = browser.execute_script("return document.getElementById('gradient-note').textContent")
    assert not re.search(r"1e-?\d+\.\d", note), note  # no "1e-0.5"
    assert re.search(r"is \d\.\d+ of the last step's", note), note
    ticks = browser.execute_script("return document.querySelector('[data-testid=gradient]').dataset.ticks").split()
    assert len(ticks) >= 3 and ticks[0] in ("1", "10", "100"), ticks


def test_each_heatmap_frame_hugs_its_map(browser, small):
    open_page(browser, small.path)
    for q in QUANTITIES:
        canvas, frame = browser.execute_script(
            "const c = document.querySelector(`[data-testid=heatmap-${arguments[0]}]`);"
            "return [c.getBoundingClientRect().width, c.parentElement.getBoundingClientRect().width]", q)
        assert frame - canvas <= 2.5, (q, canvas, frame)  # its 1-px border, not the legend's width


def test_maps_strips_and_dots_show_their_values_from_keys_and_taps(browser, small):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(browser, small.path, "#digit=3&t=10&layer=0&unit=4")
    stops = browser.execute_script(
        "return ['heatmap-f', 'saturation-o'].map(id => document.querySelector(`[data-testid=${id}]`).tabIndex)"
        ".concat([...document.querySelectorAll('.strip canvas')].map(c => c.tabIndex))")
    assert all(s == 0 for s in stops) and len(stops) == 14  # tab stops: each map, each dot plot, each strip
    tip = lambda: browser.execute_script(  # noqa: E731
        "const t = document.getElementById('tip'); return t.hidden ? null : t.textContent")
    heat = by_testid(browser, "heatmap-f")
    browser.execute_script("arguments[0].focus()", heat)
    assert tip().startswith("f, unit 4, t = 10: ")
    heat.send_keys(Keys.ARROW_RIGHT)
    assert page_state(browser)["t"] == 11 and tip() == f"f, unit 4, t = 11: {page_text(browser, 'value-trained-f')}"
    heat.send_keys(Keys.ARROW_UP)
    assert page_state(browser)["unit"] == 5 and tip().startswith("f, unit 5, t = 11: ")
    sat = by_testid(browser, "saturation-o")
    browser.execute_script("arguments[0].focus()", sat)
    sat.send_keys(Keys.ARROW_UP)  # the plot is redrawn for the new unit; the focus stays on it
    assert browser.execute_script("return document.activeElement.dataset.testid") == "saturation-o"
    assert tip().startswith("o, unit 6: trained < 0.1 at")
    strip = browser.find_element("id", "strip-trained-g")
    ActionChains(browser).move_to_element(strip).click().perform()  # a tap (no hover on a phone): the value
    t = page_state(browser)["t"]
    assert tip() == f"trained g, unit 6, t = {t}: {page_text(browser, 'value-trained-g')}"
    assert problems(browser) == []


def test_the_digits_are_one_radio_group_and_space_plays_from_the_time_buttons(browser, small):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, small.path, "#digit=3&t=10")
    stops = browser.execute_script(
        "return [...document.querySelectorAll('#digit-list [role=radio]')].map(b => b.tabIndex)")
    assert stops.count(0) == 1 and stops.index(0) == 3  # one tab stop: the chosen digit
    by_testid(browser, "digit-3").send_keys(Keys.ARROW_RIGHT)
    assert page_state(browser)["digit"] == 4 and page_state(browser)["t"] == 10  # the digit moved, not t
    assert browser.execute_script("return document.activeElement.dataset.testid") == "digit-4"
    by_testid(browser, "digit-4").send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    assert page_state(browser)["digit"] == 2
    step_on = browser.find_element("id", "step-on")
    step_on.send_keys(Keys.SPACE)  # Space on a time button plays (it does not step once)
    assert browser.execute_script("return window.explorer.playing()")
    step_on.send_keys(Keys.SPACE)
    assert not browser.execute_script("return window.explorer.playing()")
    assert problems(browser) == []


def contrast(a, b) -> float:
    def luminance(rgb):
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_meets_wcag_aa_contrast_and_subscripts_are_readable(browser, small):
    open_page(browser, small.path, "#digit=3&t=10")
    colours = browser.execute_script("""
      const rgb = (s) => s.match(/\\d+/g).slice(0, 3).map(Number);
      const back = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
        if (!c.endsWith(', 0)') && c !== 'transparent') return rgb(c); } return [255, 255, 255]; };
      return [...document.querySelectorAll('.fresh-text, .trained-text, .model-col h3, .caption, .quiet, .gname small')]
        .filter(e => e.textContent.trim()).map(e => [e.className, rgb(getComputedStyle(e).color), back(e)]);""")
    assert len(colours) > 10
    for name, ink, paper in colours:
        assert contrast(ink, paper) >= 4.5, (name, ink, paper, contrast(ink, paper))
    sizes_px = browser.execute_script("return [...document.querySelectorAll('.eqs sub')]"
                                      ".map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert sizes_px and min(sizes_px) >= 10, min(sizes_px)


WINDOWED = ["f=0/15", "f=0@1/10-27", "h=0@0:0-31/5-20", "i=0.5/0-13", "o=1@1:0-63/20-27"]  # five lessons in time


def test_windowed_clamps_score_on_the_page_what_eval_clamp_scores(browser, small, tmp_path, capsys):
    """The page's forward, clamped in time, answers the sample's 1,000 test images as `scratch-lstm eval --clamp`
    does: the same accuracy for each of five windowed clamps."""
    ckpt = tmp_path / "sample.pt"
    torch.save(sample_checkpoint(), ckpt)
    ds = load_sample()
    pixels = base64.b64encode(ds.test_images.numpy().astype(np.uint8).tobytes()).decode()
    open_page(browser, small.path)
    for text in WINDOWED:
        answers = browser.execute_script("return window.explorer.classify(arguments[0], [arguments[1]])", pixels, text)
        page_acc = (torch.tensor(answers) == ds.test_labels).double().mean().item()
        capsys.readouterr()
        assert main(["eval", "--checkpoint", str(ckpt), "--clamp", text, "--threads", "1"]) == 0
        line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("test accuracy with "))
        unclamped = float(line.split("(unclamped ")[1].split("%")[0])
        assert line.startswith(f"test accuracy with --clamp {text}: {100 * page_acc:.2f}% "), (line, page_acc)
        assert abs(100 * page_acc - unclamped) > 0.05, text  # each clamp changes the answers
    assert problems(browser) == []


# ---- what the answer depends on: the page's backward against PyTorch's autograd ----------------------------------

def autograd_saliency(model, pixels: torch.Tensor, cls: int, tau: int, clamps=()) -> torch.Tensor:
    """d p(cls after step tau) / d pixel (784,) by PyTorch's autograd, float64, on the model's weights: the
    pixels (0..255) normalised and read as rows, as the page reads them."""
    mean, std = STATS["mnist"]
    model64 = type(model)(**{k: getattr(model, k) for k in ("input_size", "hidden_size", "num_classes")},
                          num_layers=model.rnn.num_layers, dtype=torch.float64).eval()
    model64.load_state_dict(model.state_dict())
    p = pixels.double().reshape(1, 784).clone().requires_grad_(True)
    x = ((p / 255 - mean) / std).reshape(1, 28, 28)
    out, _ = model64.rnn(x, clamps=list(clamps)) if clamps else model64.rnn(x)  # (1, T, H)
    probs = torch.softmax(model64.lin(out[0, tau]), 0)
    probs[cls].backward()
    return p.grad[0]


@pytest.mark.parametrize("clamps", [[], [GateClamp("f", 0.0, 0, steps=(15, 15)), GateClamp("h", 0.0, 1, (2, 5)),
                                         GateClamp("o", 0.5, None, None, (10, 27))]])
def test_the_saliency_is_autograds_for_embedded_and_drawn_digits(browser, small, clamps):
    open_page(browser, small.path)
    model = small.models["trained"]
    drawn = load_sample().test_images[321] // 16 * 17  # a drawing is kept in 16 grey levels
    browser.execute_script("window.explorer.draw(arguments[0])", drawn.flatten().tolist())
    images = load_sample().test_images[[int(s.rsplit(" ", 1)[1]) for _, s in explore(threads=1).digits]]
    for digit, pixels in ((7, images[7]), (2, images[2]), ("drawn", drawn)):
        for cls, tau in ((small.labels[7], 27), (3, 27), (5, 12)):
            raw = browser.execute_script("return window.explorer.saliency('trained', arguments[0], arguments[1], "
                                         "arguments[2], arguments[3])", digit, cls, tau, [js_clamp(c) for c in clamps])
            page = torch.from_numpy(np.frombuffer(base64.b64decode(raw), dtype="<f8").copy())
            ours = autograd_saliency(model, pixels, cls, tau, clamps)
            assert ours.abs().max() > 0, (digit, cls, tau)
            assert (page - ours).abs().max() <= 1e-9 * ours.abs().max() + 1e-15, (digit, cls, tau)
    assert problems(browser) == []


def js_clamp(clamp: GateClamp) -> dict:
    return {**js(clamp), "steps": None if clamp.steps is None else list(clamp.steps)}


def test_the_answers_drivers_are_the_heads_weights_times_the_last_h(browser, small):
    open_page(browser, small.path, "#digit=7")
    model = small.models["trained"]
    clamp = GateClamp("f", 0.0, 1, None, (15, 15))
    top = None
    for clamps in ([], [clamp]):
        drivers = browser.execute_script("return window.explorer.answerDrivers('trained', 7, 7, arguments[0])",
                                         [js_clamp(c) for c in clamps])
        with torch.no_grad():
            h_T = clamped_reference(model, small.x[7:8], clamps)["layers"][-1]["h"][-1]  # (H,)
            shares = model.lin.weight[7] * h_T
        assert [d["unit"] for d in drivers[:8]] == shares.abs().argsort(descending=True)[:8].tolist()
        for d in drivers:
            assert abs(d["share"] - shares[d["unit"]].item()) < 1e-5
        top = top if clamps else drivers[0]["unit"]  # the unclamped answer's biggest driver
    browser.execute_script("window.explorer.set({digit: 7, clamps: []})")
    listed = page_text(browser, "answer-drivers")
    assert f"unit {top}" in listed and "The logit of 7 after the last step is" in listed
    by_testid(browser, f"answer-driver-{top}").click()  # a click away: that unit, in the top layer
    state = page_state(browser)
    assert (state["layer"], state["unit"]) == (1, top)
    assert "d p(7) / d pixel after the last step" in page_text(browser, "saliency-caption")
    assert problems(browser) == []


# ---- across digits, units worth a look, the tour ---------------------------------------------------------------

def test_across_digits_shows_the_units_mean_per_class(browser, small):
    open_page(browser, small.path, "#digit=3&layer=1&unit=9")
    ds = load_sample()
    model = small.models["trained"]
    for cls in (0, 3, 8):
        index = torch.nonzero(ds.test_labels == cls).flatten()[:100]
        x = sequence_view(ds.test_images[index], "rows", *STATS["mnist"])
        with torch.no_grad():
            tr = trace_gates(model.rnn, x)[1]  # layer 1, each (B, T, H)
        for q in QUANTITIES:
            expected = getattr(tr, q)[:, :, 9].double().mean().item()
            cell = float(page_text(browser, f"across-trained-{q}-{cls}").replace("−", "-"))
            assert abs(cell - expected) <= 0.005 + 1e-5, (q, cls)  # shown to 2 decimals
    assert "over every step of 100 test images per class" in page_text(browser, "across-trained")
    assert problems(browser) == []


def test_the_page_opens_on_a_unit_worth_a_look(browser, small):
    open_page(browser, small.path)  # no unit named: the biggest driver of the answer, not unit 0
    state = page_state(browser)
    with torch.no_grad():
        h_T = pytorch_reference(small.models["trained"], small.x[0:1])["layers"][-1]["h"][-1]
        shares = small.models["trained"].lin.weight[small.labels[0]] * h_T
    assert (state["layer"], state["unit"]) == (1, int(shares.abs().argmax()))
    worth = page_text(browser, "worth")
    assert "drives the answer" in worth and "longest memory" in worth and "most saturated" in worth
    buttons = browser.find_elements("css selector", '[data-testid="worth"] button')
    assert len(buttons) == 6
    b = buttons[3]  # the second unit with the longest memory: a click selects it
    b.click()
    state = page_state(browser)
    assert (state["layer"], state["unit"]) == (int(b.get_attribute("data-layer")), int(b.get_attribute("data-unit")))
    assert problems(browser) == []


def test_the_tour_predicts_then_reveals_through_the_hash(browser, small):
    open_page(browser, small.path, "#digit=0&t=3")
    by_testid(browser, "tour-start").click()
    seen = []
    for stop in range(6):
        body = page_text(browser, "tour-body")
        assert f"{stop + 1} of 6:" in body
        assert not browser.find_element("css selector", '[data-testid="tour-answer"]').is_displayed()  # predict first
        link = browser.find_element("css selector", '[data-testid="tour-link"]').get_attribute("href").split("#")[1]
        by_testid(browser, "tour-try").click()
        answer = page_text(browser, "tour-answer")
        assert answer and browser.find_element("css selector", '[data-testid="tour-answer"]').is_displayed()
        wait_for(browser, "return location.hash === window.explorer.hash()")
        state = page_state(browser)
        for part in link.split("&"):  # the page is where the stop's link says
            key, value = part.split("=", 1)
            if key in ("t", "layer", "unit"):
                assert state[key] == int(value), (stop, key)
        seen.append((link, answer, [c["gate"] + str(c["value"]) for c in state["clamps"]]))
        if stop < 5:
            by_testid(browser, "tour-next").click()
    assert seen[3][2] == ["f1"] and "It reads" in seen[3][1]  # no forget gate: f = 1 everywhere
    assert seen[1][2] == ["f0"] and "p(7) at the end goes from" in seen[1][1]  # one unit's memory erased once
    assert "The trained model's:" in seen[4][1]
    assert problems(browser) == []


# ---- the epoch slider: watch the gates learn ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def epochs_page(tmp_path_factory) -> tuple[Page, Path]:
    """A 4-epoch run of a 2 x 16 LSTM (its snapshots.pt keeps every epoch) and its page: fresh, epochs 1 to 3
    at 8 bits, and the checkpoint (epoch 4)."""
    folder = tmp_path_factory.mktemp("epochs")
    run = folder / "run"
    assert main(["train", "--dataset", "mnist-sample", "--train-subset", "600", "--hidden-size", "16",
                 "--epochs", "4", "--log-every", "0", "--threads", "1", "--out", str(run)]) == 0
    return make_page(folder, run / "last.pt"), run


def test_the_epoch_slider_shows_each_epochs_model_as_pytorch_computes_it(browser, epochs_page):
    from scratch_lstm.app.explorer.page import quantized

    page, run = epochs_page
    open_page(browser, page.path)
    assert problems(browser) == []
    assert browser.execute_script("return document.getElementById('epochs').hidden") is False
    assert browser.execute_script("return document.getElementById('epoch-ticks').textContent") == "01234"
    label = browser.execute_script("return window.explorer.text('epoch-label')")
    assert "Epoch 4 of 4: the trained checkpoint" in label
    snapshots = torch.load(run / "snapshots.pt", weights_only=True)
    config = snapshots["model_config"]
    for at, epoch in enumerate([0, 1, 2, 3, 4]):
        browser.execute_script("const s = document.getElementById('epoch'); s.value = String(arguments[0]); "
                               "s.dispatchEvent(new Event('input'))", at)
        label = browser.execute_script("return window.explorer.text('epoch-label')")
        assert label.startswith(f"Epoch {epoch} of 4"), label
        assert browser.execute_script("return window.explorer.state().epoch") == (None if epoch == 4 else epoch)
        if epoch == 0:
            model = page.models["fresh"]
        elif epoch == 4:
            model = page.models["trained"]
        else:  # the page's model is the 8-bit one Python builds from the snapshot
            model = quantized(snapshots["epochs"][epoch], {"model_config": config})[1]
            assert "8 bits a value" in label
            check = float(label.split("logits of these weights to ")[1].split(")")[0])
            assert check < 1e-5
        for n in range(2):
            got = js_trace(browser, "trained", n, **sizes(page))
            assert max_difference(got, pytorch_reference(model.double(), page.x64[n : n + 1])) < 1e-9
        head = browser.execute_script("return document.getElementById('head-trained').textContent")
        assert head == ("Trained" if epoch == 4 else f"Epoch {epoch}")
    browser.execute_script("window.explorer.set({epoch: 2})")  # the page's API moves the same model
    got = js_trace(browser, "trained", 0, **sizes(page))
    model = quantized(snapshots["epochs"][2], {"model_config": config})[1]
    assert max_difference(got, pytorch_reference(model.double(), page.x64[:1])) < 1e-9
    assert browser.execute_script("return window.explorer.text('epoch-label')").startswith("Epoch 2 of 4")
    # the fresh column never moves
    got = js_trace(browser, "fresh", 0, **sizes(page))
    assert max_difference(got, pytorch_reference(page.models["fresh"].double(), page.x64[:1])) < 1e-9
    assert problems(browser) == []


def test_the_epoch_is_in_the_link_and_its_keys_move_it(browser, epochs_page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page, _ = epochs_page
    open_page(browser, page.path, "#digit=1&t=5&epoch=2")
    assert browser.execute_script("return window.explorer.state().epoch") == 2
    assert browser.execute_script("return document.getElementById('notice').hidden") is True
    slider = browser.find_element(By.ID, "epoch")
    slider.send_keys(Keys.ARROW_RIGHT)  # the epoch moves; the step t does not
    state = browser.execute_script("return window.explorer.state()")
    assert (state["epoch"], state["t"]) == (3, 5)
    wait_for(browser, "return location.hash.includes('epoch=3')")
    slider.send_keys(Keys.END)
    assert browser.execute_script("return window.explorer.state().epoch") is None
    wait_for(browser, "return !location.hash.includes('epoch=')")  # the checkpoint's own: no epoch= in the link
    open_page(browser, page.path, "#epoch=7")
    assert browser.execute_script("return window.explorer.state().epoch") is None
    notice = browser.execute_script("return window.explorer.text('notice')")
    assert "epoch=7: this page carries epochs 0, 1, 2, 3, 4" in notice
    assert problems(browser) == []


def test_a_page_without_snapshots_has_no_epoch_slider_and_says_so_of_an_epoch_link(browser, small):
    open_page(browser, small.path, "#epoch=1")
    assert browser.execute_script("return document.getElementById('epochs').hidden") is True
    assert "epoch=1: this page carries no epochs" in browser.execute_script("return window.explorer.text('notice')")
    assert problems(browser) == []


# ---- benchmarks/explorer_speed.py: it runs, and its --verify agrees ----------------------------------------------

@pytest.mark.parametrize("which", ["epochs", "pixels"])
def test_the_speed_script_prints_its_figures(which, epochs_page, tmp_path):
    import re
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    _, run = epochs_page
    args = ["--checkpoint", str(run / "last.pt"), "--verify"] if which == "epochs" else ["--pixels"]
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "explorer_speed.py"), *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in ("page size", "opening it (first drawing)", "JS forward of one digit", "self-check"):
        assert line in out, out
    if which == "epochs":
        assert "epoch slider                   epochs 0, 1, 2, 3, 4;" in out
        worst = float(re.search(r"every digit, model, gate, state, step\): (\S+)", out).group(1))
        assert worst < 1e-5  # the checkpoint's own model, with the slider back at its epoch
    else:
        assert "(2 x 256, pixels)" in out and "epoch slider" not in out
    assert list(tmp_path.iterdir()) == []  # it writes nothing where it runs
