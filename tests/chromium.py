"""A real headless Chromium, driven over its DevTools protocol, for the web view's tests and
its screenshot (scripts/webview_screenshot.py).

Debian's ``chromium`` is the browser; the protocol is JSON over a websocket, spoken with
aiohttp's client (the serve extra's own library), so neither chromedriver nor Selenium nor a
browser download is needed. Every run gets a fresh profile in a temporary folder.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-device-scale-factor=1",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
)
START_TIMEOUT_S = 30.0


def find_chromium() -> str | None:
    """Debian's chromium (or another Chromium-based browser on PATH), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """``with Chromium() as browser:`` starts it (fresh profile) and ends it."""

    def __init__(self, width: int = 1100, height: int = 720) -> None:
        self.binary = find_chromium()
        if self.binary is None:
            raise RuntimeError("Chromium is not installed (apt-get install chromium)")
        self.width, self.height = width, height
        self._profile = tempfile.TemporaryDirectory(prefix="edgecam-chromium-")
        self._process: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> Chromium:
        profile = Path(self._profile.name)
        log = (profile / "chromium.log").open("wb")
        self._process = subprocess.Popen(
            [
                self.binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        # Chromium writes the port it picked into the profile (first line of this file).
        marker = profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Chromium exited at start: {self.log_tail()}")
            if marker.exists() and marker.read_text().strip():
                self.port = int(marker.read_text().split()[0])
                return self
            time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"Chromium did not start in {START_TIMEOUT_S:g} s: {self.log_tail()}")

    def __exit__(self, *exc) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._profile.cleanup()

    def log_tail(self, lines: int = 20) -> str:
        path = Path(self._profile.name) / "chromium.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def page_ws_url(self) -> str:
        """The websocket of the first page (the ``about:blank`` it started with)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=10) as r:
            targets = json.load(r)
        return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


class Page:
    """One page over the DevTools protocol: ``async with Page(browser) as page:``."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser
        self.console_errors: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}

    async def __aenter__(self) -> Page:
        import aiohttp

        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.browser.page_ws_url(), max_msg_size=0)
        self._reader = asyncio.ensure_future(self._read())
        await self.call("Runtime.enable")
        await self.call("Log.enable")
        await self.call("Page.enable")
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.browser.width,
            height=self.browser.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        await self._ws.close()
        await self._session.close()

    async def _read(self) -> None:
        async for message in self._ws:
            data = json.loads(message.data)
            future = self._waiting.pop(data.get("id"), None)
            if future is not None and not future.done():
                future.set_result(data)
                continue
            method = data.get("method")
            params = data.get("params", {})
            if method == "Runtime.exceptionThrown":
                self.console_errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                self.console_errors.append(params["entry"].get("text", ""))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.console_errors.append(json.dumps(params.get("args", []))[:500])

    async def call(self, method: str, timeout: float = 30.0, **params) -> dict:
        number = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        await self._ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def navigate(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0, every: float = 0.1):
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        error = None
        while True:
            try:  # the page may still be loading: an error now is a no for now
                value = await self.evaluate(expression)
            except RuntimeError as exc:
                value, error = None, exc
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"never true in {timeout:g} s: {expression} ({error})")
            await asyncio.sleep(every)

    async def screenshot(self) -> bytes:
        """The viewport as PNG bytes."""
        result = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(result["data"])


def video_fingerprint_js(element_id: str = "video") -> str:
    """JavaScript that draws the element's current frame on a canvas and sums its pixels: two
    different sums mean the picture moved."""
    return f"""(() => {{
        const img = document.getElementById({json.dumps(element_id)});
        if (!img || !img.naturalWidth) return null;
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext("2d");
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let sum = 0;
        for (let i = 0; i < d.length; i += 4) sum = (sum * 31 + d[i] + d[i + 1] + d[i + 2]) % 1e9;
        return sum;
    }})()"""
