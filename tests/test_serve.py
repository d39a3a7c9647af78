"""The web view for real: the aiohttp server on 127.0.0.1 with real HTTP clients (stdlib
http.client and raw sockets), the demo clip through the default model, and the page in a real
headless Chromium. The browser test skips where Chromium is not installed."""

from __future__ import annotations

import asyncio
import csv
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import CLI_CWD, REPO, assert_one_line_error, cli_env, has_module, run_cli

from edgecam import defaults
from edgecam.errors import ConfigError
from edgecam.live import LiveListener, LiveSession
from edgecam.serve import ServeOptions, parse_bind, serve_options
from edgecam.serve.options import is_loopback

pytestmark = pytest.mark.skipif(not has_module("aiohttp"), reason="needs the serve extra")

TOKEN = "test-token-0123456789"
WAIT_S = 20.0


# -- options (no server) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:9000", ("::1", 9000)),
        ("pi.local:8080", ("pi.local", 8080)),
    ],
)
def test_parse_bind(text, expected):
    assert parse_bind(text) == expected


@pytest.mark.parametrize("text", ["", ":8080", "host:", "8o80", "99999", "::1:8080", "a:b:c"])
def test_parse_bind_rejects(text):
    with pytest.raises(ConfigError):
        parse_bind(text)


def test_only_loopback_goes_without_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("127.5.5.5") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("pi.local")  # a name may resolve anywhere
    assert ServeOptions(port=1).token is None
    with pytest.raises(ConfigError, match="needs a token"):
        ServeOptions(host="0.0.0.0", port=1)
    options, generated = serve_options("0.0.0.0:8080")
    assert generated and len(options.token) >= 20
    options, generated = serve_options("0.0.0.0:8080", "my-own-token")
    assert not generated and options.token == "my-own-token"
    with pytest.raises(ConfigError, match="too short"):
        serve_options("8080", "short")
    with pytest.raises(ConfigError, match="printable"):
        serve_options("8080", "has a space in it")


def test_importing_loads_neither_aiohttp_nor_paho():
    code = (
        "import sys, edgecam.serve, edgecam.mqtt, edgecam.cli\n"
        "edgecam.cli.build_parser()\n"
        "bad = {m.split('.')[0] for m in sys.modules} & {'aiohttp', 'paho', 'cv2'}\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, env=cli_env()
    )
    assert proc.returncode == 0, proc.stderr


def test_missing_extra_is_one_clear_line():
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "from edgecam.cli import main\n"
        "sys.exit(main(['run', '--headless', '--serve', '0', '--source', 'none.mp4']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, env=cli_env()
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, "aiohttp", "pip install 'edgecam[serve]'")


def test_cli_rejects_bad_serve_options():
    proc = run_cli("run", "--serve", "0.0.0.0:8080", "--token", "short", "--source", "x.mp4")
    assert_one_line_error(proc, "token is too short")
    proc = run_cli("run", "--serve", ":8080", "--source", "x.mp4")
    assert_one_line_error(proc, "no address before the port")


# -- a real server ---------------------------------------------------------------------------------


class Web:
    """A session on the demo clip (paced, looping) and its web view on a free port."""

    def __init__(self, **options) -> None:
        from edgecam.config import ClassifierOptions
        from edgecam.serve import start_web_view
        from edgecam.vision.classifier import Classifier

        options.setdefault("port", 0)
        self.session = LiveSession(
            Classifier(ClassifierOptions(model=defaults.bundled_model(), top_k=3)),
            loop_files=True,
        )
        # Every result's frame index, as the session saw it; told before the web view is.
        self.classified: list[int] = []
        recorder = LiveListener()
        recorder.result = lambda result, frame: self.classified.append(frame.index)
        self.session.add_listener(recorder)
        self.view = start_web_view(self.session, ServeOptions(**options))
        self.port = self.view.port
        self.session.start(str(defaults.demo_clip()))

    def close(self) -> None:
        self.view.stop()
        self.session.close()

    def get(self, path: str, headers: dict | None = None, method: str = "GET"):
        """(status, headers, body) of one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def get_json(self, path: str, headers: dict | None = None) -> dict:
        status, _, body = self.get(path, headers)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def wait_results(self, n: int = 1) -> None:
        deadline = time.monotonic() + WAIT_S
        while (self.session.stats() is None or self.session.stats().frames_classified < n) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)


@pytest.fixture
def web():
    server = Web()
    yield server
    server.close()


@pytest.fixture
def web_token():
    server = Web(token=TOKEN)
    yield server
    server.close()


class MjpegReader:
    """A client of /stream.mjpg over a raw socket, parsing parts as a browser does."""

    def __init__(self, port: int, path: str = "/stream.mjpg", rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        self.buffer = b""
        self.head = self._until(b"\r\n\r\n").decode()

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the stream")
            self.buffer += chunk
        data, self.buffer = self.buffer.split(marker, 1)
        return data

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the stream")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def frame(self) -> tuple[int, bytes]:
        """The next part: (frame index, JPEG bytes). Chunked framing lines are skipped."""
        while True:
            headers = self._until(b"\r\n\r\n").decode("latin-1")
            if "--frame" in headers:
                break
        length = int(re.search(r"Content-Length: (\d+)", headers).group(1))
        index = int(re.search(r"X-Frame-Index: (\d+)", headers).group(1))
        return index, self._exactly(length)

    def close(self) -> None:
        self.sock.close()


def sse_events(port: int, seconds: float, path: str = "/api/events") -> list[tuple[str, dict]]:
    """(event name, data) read from the event stream for ``seconds``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text += response.read1(65536).decode()
    conn.close()
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_routes(web):
    web.wait_results(5)
    status, headers, page = web.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"stream.mjpg" in page and b"api/events" in page
    assert "script-src 'sha256-" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"

    health = web.get_json("/api/health")
    assert health == {"status": "ok"}

    info = web.get_json("/api/status")
    assert info["model"]["name"] == web.session.classifier.name
    assert info["model"]["labels"] == 10 and info["running"] is True
    assert info["source"].endswith("fashion.mp4")
    assert info["pipeline"]["frames_classified"] >= 5
    assert info["stream"]["max_clients"] == 20

    latest = web.get_json("/api/predictions")
    assert latest["frame"] >= 4 and len(latest["predictions"]) == 3
    labels = web.session.classifier.labels
    assert latest["label"] == latest["predictions"][0]["label"] in labels
    assert latest["score"] == pytest.approx(latest["predictions"][0]["score"], abs=1e-4)
    assert latest["latency_ms"] > 0 and abs(latest["timestamp"] - time.time()) < 10


def test_stream_sends_the_clip_as_jpeg_at_source_rate(web):
    reader = MjpegReader(web.port)
    try:
        assert reader.head.startswith("HTTP/1.1 200")
        assert "multipart/x-mixed-replace; boundary=frame" in reader.head
        started = time.monotonic()
        frames = [reader.frame() for _ in range(30)]
        elapsed = time.monotonic() - started
    finally:
        reader.close()
    indices = [i for i, _ in frames]
    assert indices == sorted(indices) and len(set(indices)) == 30  # newest, never repeated
    image = cv2.imdecode(np.frombuffer(frames[-1][1], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    assert elapsed > 29 / 15 * 0.8  # no faster than the 15 fps clip


def test_events_one_per_result(web):
    events = sse_events(web.port, 2.5)
    names = [name for name, _ in events]
    assert names[0] == "hello" and "stats" in names
    hello = events[0][1]
    assert hello["model"]["name"] == web.session.classifier.name
    results = [data for name, data in events if name == "result"]
    assert len(results) >= 20  # ~37 at 15 fps
    frames = [r["frame"] for r in results]
    start = web.classified.index(frames[0])
    assert frames == web.classified[start : start + len(frames)]  # none missing
    assert all(r["predictions"][0]["label"] in web.session.classifier.labels for r in results)


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/stream.mjpg/x",
        "/../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api/../../pyproject.toml",
        "/assets/demo/fashion.mp4",
        "/edgecam/serve/page.py",
        "/api",
    ],
)
def test_unknown_paths_are_404_json(web, path):
    status, _, body = web.get(path)
    assert status == 404
    assert json.loads(body) == {"error": "Not Found"}


def test_bad_requests_get_4xx_never_a_traceback(web):
    status, headers, _ = web.get("/api/status", method="POST")
    assert status == 405 and "GET" in headers["Allow"]
    assert web.get("/stream.mjpg", method="HEAD")[0] == 405
    for raw in (
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n",
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /\x00\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
            sock.sendall(raw)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
                if b"\r\n\r\n" in reply and len(reply) > 200:
                    break
        assert re.match(rb"HTTP/1\.[01] 4\d\d", reply), reply[:200]
        assert b"Traceback" not in reply and b'File "' not in reply
    assert web.get_json("/api/health") == {"status": "ok"}  # still serving


def test_without_a_token_only_loopback_names_are_served(web):
    assert web.get("/api/status", headers={"Host": "evil.example:8080"})[0] == 403
    assert web.get("/api/status", headers={"Host": f"localhost:{web.port}"})[0] == 200
    assert web.get("/api/status", headers={"Host": f"[::1]:{web.port}"})[0] == 200


@pytest.mark.parametrize(
    "path", ["/", "/stream.mjpg", "/api/events", "/api/status", "/api/predictions", "/nope"]
)
def test_token_is_required_on_every_route(web_token, path):
    status, headers, body = web_token.get(path)
    assert status == 401, path
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in json.loads(body)["error"]
    for bad in ("wrong-token-0123456789", TOKEN[:-1], TOKEN + "x", ""):
        assert web_token.get(path, {"Authorization": f"Bearer {bad}"})[0] == 401
        assert web_token.get(f"{path}?token={bad}")[0] == 401


def test_token_works_as_bearer_or_query(web_token):
    assert web_token.get("/api/status", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert web_token.get(f"/api/status?token={TOKEN}")[0] == 200
    assert web_token.get(f"/?token={TOKEN}")[0] == 200
    reader = MjpegReader(web_token.port, f"/stream.mjpg?token={TOKEN}")
    try:
        assert reader.head.startswith("HTTP/1.1 200")
        reader.frame()
    finally:
        reader.close()
    # Health says only whether it runs, so monitors need no token.
    status, _, body = web_token.get("/api/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_many_clients_each_get_the_newest_frames(web):
    readers = [MjpegReader(web.port) for _ in range(10)]
    got: dict[int, list[int]] = {}

    def read(number: int, reader: MjpegReader) -> None:
        got[number] = [reader.frame()[0] for _ in range(20)]

    threads = [threading.Thread(target=read, args=item) for item in enumerate(readers)]
    encoded_before = web.view.hub.frames_encoded
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S)
        encoded = web.view.hub.frames_encoded - encoded_before
        assert web.get_json("/api/status")["stream"]["streams"] == 10
        assert web.view.hub.viewers == 10
    finally:
        for reader in readers:
            reader.close()
    assert len(got) == 10
    for indices in got.values():
        assert len(set(indices)) == 20 and indices == sorted(indices)
    # Encoded once for everyone: at most one encode per source frame, not one per client.
    seen = [i for indices in got.values() for i in indices]
    assert encoded <= max(seen) - min(seen) + 3


def test_client_limit():
    server = Web(max_clients=2)
    try:
        a, b = MjpegReader(server.port), MjpegReader(server.port)
        status, headers, body = server.get("/stream.mjpg")
        assert status == 503 and headers["Retry-After"] == "5"
        assert "too many clients" in json.loads(body)["error"]
        assert server.get("/api/events")[0] == 503
        assert server.get("/api/status")[0] == 200  # short requests are not limited
        a.close()
        deadline = time.monotonic() + WAIT_S
        while server.view.hub.viewers > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        c = MjpegReader(server.port)  # the closed one's slot is free again
        assert c.head.startswith("HTTP/1.1 200")
        b.close()
        c.close()
    finally:
        server.close()


def test_a_client_that_stops_reading_slows_nobody():
    server = Web(write_timeout_s=1.0)
    try:
        server.wait_results(5)
        stalled = MjpegReader(server.port, rcvbuf=4096)  # reads the head, then nothing
        reader = MjpegReader(server.port)
        before = server.session.stats().frames_classified
        started = time.monotonic()
        frames = [reader.frame()[0] for _ in range(45)]  # 3 s at 15 fps
        elapsed = time.monotonic() - started
        classified = server.session.stats().frames_classified - before
        assert len(set(frames)) == 45
        assert elapsed < 3 * 2  # the other client keeps the source's pace
        assert classified >= 0.7 * 15 * elapsed  # and so does the pipeline
        # The stalled one is dropped once its buffers are full and a write waited 1 s.
        deadline = time.monotonic() + WAIT_S
        while server.view._dropped_clients == 0 and time.monotonic() < deadline:
            reader.frame()
        assert server.view._dropped_clients == 1
        assert server.get_json("/api/status")["stream"]["streams"] == 1
        stalled.close()
        reader.close()
    finally:
        server.close()


def test_stops_cleanly_with_the_session(web):
    reader = MjpegReader(web.port)
    reader.frame()
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    conn.request("GET", "/api/events")
    events = conn.getresponse()
    events.read1(100)
    web.session.stop()
    web.view.stop()
    # Both streams end (EOF), the port is closed, and no thread of the web view is left.
    with pytest.raises(EOFError):
        for _ in range(1000):
            reader.frame()
    deadline = time.monotonic() + 5
    while events.read1(65536) and time.monotonic() < deadline:
        pass
    conn.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", web.port), timeout=2)
    names = {t.name for t in threading.enumerate()}
    assert not names & {"edgecam-web", "edgecam-jpeg"}, names
    web.view.stop()  # twice is fine


def test_health_says_when_the_source_has_stopped(web):
    web.session.stop()
    status, _, body = web.get("/api/health")
    assert status == 503 and json.loads(body) == {"status": "stopped"}


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    """``edgecam run --headless --serve 127.0.0.1:0 ...``; returns the process and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "run", "--headless", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=CLI_CWD,
        env=cli_env(),
    )
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"web view at (http://\S+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("no web view line: " + "".join(lines))


def test_cli_serves_until_the_source_ends_then_exits():
    proc, url = _start_cli(
        "--serve", "127.0.0.1:0", "--source", str(defaults.demo_clip()), "--max-frames", "45"
    )
    try:
        port = int(re.search(r":(\d+)/", url).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/health")
        assert conn.getresponse().status in (200, 503)
        conn.close()
        assert proc.wait(60) == 0
    finally:
        proc.kill()


def test_cli_prints_a_generated_token_and_stops_on_ctrl_c():
    proc, url = _start_cli(
        *("--serve", "0.0.0.0:0", "--source", str(defaults.demo_clip()), "--loop"),
        *("--threshold", "0.7"),
    )
    try:
        token = re.search(r"\?token=(\S+)", url).group(1)
        port = int(re.search(r":(\d+)/", url).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/status")
        assert conn.getresponse().status == 401
        conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/status", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["threshold"] == 0.7  # the page's "uncertain" line
        conn.close()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        proc.kill()


# -- the page in a real browser --------------------------------------------------------------------


def test_page_in_headless_chromium_shows_moving_video_and_the_clips_predictions(web_token):
    from chromium import Chromium, Page, find_chromium, video_fingerprint_js

    if find_chromium() is None:
        pytest.skip("needs Chromium (apt-get install chromium)")
    with (REPO / "assets" / "demo" / "fashion.csv").open() as f:
        truth = [row["label"] for row in csv.DictReader(f)]
    labels = set(web_token.session.classifier.labels)
    served: dict[int, str] = {}  # what the server sent, read beside the browser

    def listen() -> None:
        for name, data in sse_events(web_token.port, 6.0, f"/api/events?token={TOKEN}"):
            if name == "result":
                served[data["frame"]] = data["label"]

    listener = threading.Thread(target=listen)
    listener.start()

    async def scenario() -> dict:
        with Chromium() as browser:
            async with Page(browser) as page:
                await page.navigate(f"http://127.0.0.1:{web_token.port}/?token={TOKEN}")
                await page.wait_for("document.getElementById('overlay').dataset.frame")
                width = await page.wait_for("document.getElementById('video').naturalWidth")
                prints, shown = [], []
                for _ in range(16):
                    prints.append(await page.evaluate(video_fingerprint_js()))
                    frame, label = await page.evaluate(  # one read: both from one result
                        "[document.getElementById('overlay').dataset.frame,"
                        " document.querySelector('#overlay .row .label').textContent]"
                    )
                    shown.append((int(frame), label))
                    await asyncio.sleep(0.25)
                return {
                    "width": width,
                    "prints": prints,
                    "shown": shown,
                    "model": await page.evaluate("document.getElementById('s-model').textContent"),
                    "conn": await page.evaluate("document.getElementById('conn').textContent"),
                    "errors": page.console_errors,
                }

    seen = asyncio.run(scenario())
    listener.join()
    assert seen["errors"] == []  # no CSP violation, no script error, no failed request
    assert seen["width"] == 320
    assert len(set(seen["prints"])) >= 5  # the picture moves
    assert seen["model"] == web_token.session.classifier.name and seen["conn"] == "live"
    frames = [frame for frame, _ in seen["shown"]]
    assert frames == sorted(frames) and len(set(frames)) >= 8  # predictions keep coming
    assert {label for _, label in seen["shown"]} <= labels
    # The page shows exactly what the server classified, and that is the clip's content.
    in_both = [(f, label) for f, label in seen["shown"] if f in served]
    assert in_both and all(served[f] == label for f, label in in_both)
    right = sum(label == truth[f % len(truth)] for f, label in seen["shown"])
    assert right >= 0.6 * len(seen["shown"])
