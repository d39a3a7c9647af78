"""Take docs/webview.png: the web view in a real headless Chromium, on the demo clip.

    .venv/bin/python scripts/webview_screenshot.py [OUT.png]

Runs exactly what a user runs (`edgecam run --headless --serve 127.0.0.1:0 --source
<demo clip> --loop`, default model), opens the page it prints in Debian's Chromium (driven over
the DevTools protocol, tests/chromium.py), waits until the stats have settled and predictions
are showing, and writes the PNG atomically. Needs the serve extra and `apt-get install chromium`.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from chromium import Chromium, Page  # noqa: E402

from edgecam.defaults import demo_clip  # noqa: E402
from edgecam.files import atomic_write_bytes  # noqa: E402

WIDTH, HEIGHT = 1100, 660
SETTLE_S = 4.0  # the stats are rates over the last seconds


def _shown(path: Path) -> str:
    """The path as the page will show it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def start_app() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgecam",
            "run",
            "--headless",
            "--serve",
            "127.0.0.1:0",
            "--source",
            _shown(demo_clip()),
            "--loop",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        found = re.search(r"web view at (http://\S+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, found.group(1)
    proc.kill()
    raise SystemExit("edgecam did not print its web view address")


async def shoot(url: str) -> tuple[bytes, str]:
    with Chromium(WIDTH, HEIGHT) as browser:
        async with Page(browser) as page:
            await page.navigate(url)
            await page.wait_for("document.getElementById('overlay')?.dataset.frame")
            await asyncio.sleep(SETTLE_S)
            # Take it on a confident prediction: a picture of "uncertain" explains less.
            await page.wait_for(
                "!document.getElementById('overlay').classList.contains('uncertain')"
            )
            png = await page.screenshot()
            label = await page.evaluate("document.getElementById('top-label').textContent")
            if page.console_errors:
                raise SystemExit(f"the page logged errors: {page.console_errors}")
            return png, label


def main() -> int:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "webview.png")
    proc, url = start_app()
    try:
        png, label = asyncio.run(shoot(url))
    finally:
        proc.terminate()
        proc.wait(20)
    # Re-encode at the highest PNG compression: the same pixels, a smaller file for the README.
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    atomic_write_bytes(target, data.tobytes())
    size = f"{image.shape[1]}x{image.shape[0]}, {len(data) // 1024} KiB"
    print(f"wrote {target} ({size}), top label {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
