"""Screenshot a gate explorer page in headless Chromium (docs/explorer.png is made this way).

    scratch-lstm explore --checkpoint runs/mnist/best.pt --data-dir data --out docs/explorer.html
    python scripts/explorer_screenshot.py docs/explorer.html docs/explorer.png \\
        --hash '#digit=7&t=18&layer=1&unit=61&sort=cend'

Needs Debian's chromium and chromium-driver, and selenium (the test extra). The page is opened at
--hash (a moment: digit, step, layer, unit, clamps), and the PNG is checked not to be blank.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", help="the explorer page (an .html file scratch-lstm explore wrote)")
    parser.add_argument("png", help="the screenshot to write")
    parser.add_argument("--hash", default="", help="the moment to show, as the page's URL hash names it")
    parser.add_argument("--width", type=int, default=1440, help="window width in CSS pixels")
    parser.add_argument("--height", type=int, default=1000, help="window height in CSS pixels")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never look for a browser or driver online
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS + [f"--window-size={args.width},{args.height}"]:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='explorer-shot-')}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(Path(args.page).resolve().as_uri() + args.hash)
        end = time.monotonic() + 120
        while not driver.execute_script("return window.explorer && window.explorer.ready && window.explorer.check"):
            if time.monotonic() > end:
                sys.exit("error: the page did not finish drawing within 120 s")
            time.sleep(0.1)
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            sys.exit(f"error: the page reported errors: {errors}")
        # the window's height counts the browser's own bars: make the page's viewport args.height tall
        inner = driver.execute_script("return window.innerHeight")
        driver.set_window_size(args.width, 2 * args.height - inner)
        time.sleep(0.3)
        driver.save_screenshot(args.png)
    finally:
        driver.quit()
    import matplotlib.image

    pixels = matplotlib.image.imread(args.png)[..., :3]
    if pixels.std() < 0.05:
        sys.exit(f"error: {args.png} is blank (pixel standard deviation {pixels.std():.3f})")
    print(f"wrote {args.png} ({pixels.shape[1]} x {pixels.shape[0]} pixels, standard deviation {pixels.std():.3f})")


if __name__ == "__main__":
    main()
