"""The gate explorer's size and speed: making the page, its weight, and in headless Chromium the time
to open it, a JavaScript forward of one digit, a slider step's redraw, a clamp and a change of digit.
With --verify, also the largest difference between the page's forward and PyTorch's (every embedded
digit, trained and fresh, every gate and state at every step).

    python benchmarks/explorer_speed.py                                      # the built-in 2 x 64 model
    python benchmarks/explorer_speed.py --checkpoint runs/mnist/best.pt --data-dir data --verify
    python benchmarks/explorer_speed.py --pixels                             # 2 x 256 at 784 steps

A checkpoint whose run kept snapshots (snapshots.pt) gives a page with the epoch slider: the script then
also prints the bytes its epochs take and the time to show one (its 8-bit weights decoded and checked).

--pixels measures a lecture-sized LSTM reading one pixel per step (untrained weights: size and speed
do not depend on them). Prints figures; it is not a test. Needs chromium and chromium-driver (Debian).
"""

import argparse
import base64
import json
import os
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scratch_lstm import LSTMClassifier, trace_gates  # noqa: E402
from scratch_lstm.app.checkpoints import load_checkpoint, model_from_checkpoint  # noqa: E402
from scratch_lstm.app.data import load_dataset, pixel_permutation, sequence_view  # noqa: E402
from scratch_lstm.app.evaluate import dataset_to_use  # noqa: E402
from scratch_lstm.app.explorer import explore  # noqa: E402
from scratch_lstm.app.explorer.page import sample_checkpoint  # noqa: E402
from scratch_lstm.app.gates_report import fresh_model  # noqa: E402
from scratch_lstm.app.limits import cpu_name  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--window-size=1440,1000"]


def pixel_checkpoint(hidden_size: int, num_layers: int) -> dict:
    """A fresh classifier reading one pixel per step, as a checkpoint dict (seed 0, default init,
    epoch 0: trained for none)."""
    torch.manual_seed(0)
    model = LSTMClassifier(1, hidden_size, 10, num_layers)
    return {"model": model.state_dict(), "model_config": {"input_size": 1, "hidden_size": hidden_size,
            "num_classes": 10, "num_layers": num_layers, "dropout": 0.0}, "config": {"seed": 0, "init": "default"},
            "sequence": "pixels", "dataset": "mnist-sample", "epoch": 0, "history": []}


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='explorer-bench-')}")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, script: str, timeout: float = 300) -> float:
    start = time.perf_counter()
    while not driver.execute_script(script):
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"error: timed out waiting for {script}")
        time.sleep(0.01)
    return time.perf_counter() - start


def verify(driver, ckpt: dict, digits: list[int], dataset, data_dir) -> float:
    """The largest |page - PyTorch float32| over every embedded digit, model, layer, gate, state and step."""
    ds = load_dataset(dataset, data_dir, command="explore")
    sequence = ckpt.get("sequence", "rows")
    perm = pixel_permutation(ckpt.get("permutation_seed", 0)) if sequence == "permuted" else None
    x = sequence_view(ds.test_images[digits], sequence, *ds.stats, perm)
    worst = 0.0
    models = {"trained": model_from_checkpoint(ckpt, backend="scratch").eval(), "fresh": fresh_model(ckpt)}
    for name, model in models.items():
        for n in range(len(digits)):
            with torch.no_grad():
                traces = trace_gates(model.rnn, x[n : n + 1])
            raw = driver.execute_script("return window.explorer.trace(arguments[0], arguments[1])", name, n)
            values = np.frombuffer(base64.b64decode(raw), dtype="<f8")
            at = 0
            for tr in traces:
                for q in "ifgoch":
                    ref = tr[q][0].double().numpy().ravel()
                    worst = max(worst, float(np.abs(values[at : at + ref.size] - ref).max()))
                    at += ref.size
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a checkpoint (default: the built-in model)")
    parser.add_argument("--data-dir", help="folder with full MNIST (for a checkpoint of the sample: its test digits)")
    parser.add_argument("--pixels", action="store_true", help="a 2 x 256 LSTM reading 784 pixels (untrained)")
    parser.add_argument("--verify", action="store_true", help="compare the page's forward with PyTorch's")
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads while making the page")
    args = parser.parse_args()
    if args.pixels:
        ckpt, what = pixel_checkpoint(256, 2), "a fresh 2 x 256 LSTM reading pixels (784 steps)"
    elif args.checkpoint:
        ckpt, what = load_checkpoint(args.checkpoint), Path(args.checkpoint).name
    else:
        ckpt, what = sample_checkpoint(), "the built-in 2 x 64 model"
    start = time.perf_counter()
    page = explore(args.checkpoint or ckpt, data_dir=args.data_dir, threads=args.threads)  # a file: its snapshots
    made = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = page.save(Path(tmp) / "explorer.html")
        driver = browser()
        try:
            start = time.perf_counter()
            driver.get(path.as_uri())
            wait(driver, "return window.explorer && window.explorer.ready")
            opened = driver.execute_script("return window.explorer.readyMs") / 1000  # from the request to the drawing
            wait(driver, "return window.explorer.check !== null")
            opened_total = time.perf_counter() - start
            forward = driver.execute_script("return window.explorer.timeForward('trained', 0, 3)")
            step = driver.execute_script("return window.explorer.timeSteps()")
            clamp = driver.execute_script("const s = performance.now(); window.explorer.set({clamps: "
                                          "[{gate: 'f', value: 0, layer: null, units: null}]}); "
                                          "return performance.now() - s")
            digit = driver.execute_script("const s = performance.now(); window.explorer.set({clamps: [], digit: 5}); "
                                          "return performance.now() - s")
            check = driver.execute_script("return window.explorer.check")
            epochs = driver.execute_script("return epochStops.map((s) => s.epoch)")
            first = again = None
            if epochs:
                show = ("const s = performance.now(); const e = document.getElementById('epoch'); e.value = "
                        "String(arguments[0]); e.dispatchEvent(new Event('input')); return performance.now() - s")
                first = driver.execute_script(show, 1)  # the first snapshot: decoded, checked, every panel redrawn
                driver.execute_script(show, len(epochs) - 1)
                again = driver.execute_script(show, 1)  # decoded already
                driver.execute_script(show, len(epochs) - 1)  # the checkpoint's own again, for --verify
            version = driver.capabilities.get("browserVersion")
            worst = None
            if args.verify:
                digits = [int(source.rsplit(" ", 1)[1]) for _, source in page.digits]
                dataset, _ = dataset_to_use(ckpt, what, None, args.data_dir, False)
                worst = verify(driver, ckpt, digits, dataset, args.data_dir)
        finally:
            driver.quit()
    model = f"{ckpt['model_config']['num_layers']} x {ckpt['model_config']['hidden_size']}"
    print(f"gate explorer, {what} ({model}, {ckpt.get('sequence', 'rows')}), {len(page.digits)} digits; "
          f"{date.today()}, {cpu_name()} ({os.cpu_count()} CPUs), Chromium {version}, torch {torch.__version__}")
    print(f"  page size                      {page.size:,} bytes ({page.size / 1e6:.2f} MB)")
    print(f"  making the page (Python)       {made:.2f} s  (--threads {args.threads})")
    print(f"  opening it (first drawing)     {opened:.2f} s; the self-check of every digit done after "
          f"{opened_total:.2f} s")
    print(f"  JS forward of one digit        {forward:.1f} ms (trained model, mean of 3)")
    print(f"  slider step (redraw + layout)  {step:.1f} ms (mean over every step)")
    print(f"  clamp f = 0 everywhere         {clamp:.1f} ms (both models run again, every panel redrawn)")
    print(f"  another digit                  {digit:.1f} ms")
    print(f"  self-check: page logits vs PyTorch's, largest difference {check['maxDiff']:.2e}")
    if epochs:
        data = json.loads(re.search(r'id="explorer-data">(.*?)</script>', page.html, re.S).group(1))
        carried = len(json.dumps(data["epochs"], separators=(",", ":")).encode())
        print(f"  epoch slider                   epochs {', '.join(map(str, epochs))}; the snapshots take "
              f"{carried:,} bytes ({carried / 1e6:.2f} MB) of the page")
        print(f"  showing epoch {epochs[1]}                {first:.1f} ms the first time (its 8-bit weights decoded "
              f"and checked), {again:.1f} ms again")
    if worst is not None:
        print(f"  page forward vs PyTorch float32 (every digit, model, gate, state, step): {worst:.2e}")


if __name__ == "__main__":
    main()
