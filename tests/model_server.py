"""A real HTTP server on 127.0.0.1 for the catalogue tests: files with Range support, and
faults on demand (a connection cut mid-file, a stall, a 404), with every request recorded."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass
class Behaviour:
    """What the server does for one path."""

    data: bytes
    cut_after: int | None = None  # send this many body bytes, then drop the connection
    cuts: int = 1  # ... on this many requests (then serve normally)
    stall_s: float = 0.0  # send the headers, then say nothing for this long
    ranges: bool = True  # honour Range requests
    status: int = 200


@dataclass
class Request:
    path: str
    range: str | None


@dataclass
class ModelServer:
    """Serves ``files`` (URL path -> :class:`Behaviour`); ``requests`` lists what was asked."""

    files: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    base: str = ""

    def add(self, name: str, data: bytes, **behaviour) -> str:
        self.files[f"/{name}"] = Behaviour(data, **behaviour)
        return f"{self.base}/{name}"

    def asked(self, name: str) -> list[Request]:
        return [r for r in self.requests if r.path == f"/{name}"]


def start(server_state: ModelServer) -> http.server.ThreadingHTTPServer:
    state = server_state

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            state.requests.append(Request(self.path, self.headers.get("Range")))
            item = state.files.get(self.path)
            if item is None or item.status != 200:
                self.send_error(item.status if item else 404)
                return
            data, start = item.data, 0
            asked = self.headers.get("Range")
            if asked and item.ranges and asked.startswith("bytes=") and asked.endswith("-"):
                start = int(asked[len("bytes=") : -1])
                if start >= len(data):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if item.stall_s:
                self.wfile.flush()
                state.stop.wait(item.stall_s)
                return
            if item.cut_after is not None and item.cuts > 0:
                item.cuts -= 1
                self.wfile.write(body[: item.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def entry(name: str, url: str, data: bytes, **extra) -> dict:
    """A catalogue entry for ``data`` served at ``url``."""
    return {
        "name": name,
        "kind": extra.pop("kind", "classifier"),
        "task": extra.pop("task", "test colours"),
        "url": url,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "license": "test",
        **extra,
    }


def write_catalogue(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps({"format_version": 1, "entries": entries}), encoding="utf-8")
    return path


@pytest.fixture(name="model_server")
def model_server_fixture():
    """A started :class:`ModelServer`; stopped (stalls released) after the test."""
    state = ModelServer()
    server = start(state)
    yield state
    state.stop.set()
    server.shutdown()
    server.server_close()
