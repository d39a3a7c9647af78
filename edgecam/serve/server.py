"""The web view's HTTP server: aiohttp on its own event loop, in its own thread.

Routes (all GET; nothing else exists, no file is ever served):

- ``/`` the page; ``/stream.mjpg`` multipart MJPEG; ``/api/events`` Server-Sent Events (one
  ``result`` event per result, ``stats`` every second, ``status`` lines);
- ``/api/status`` and ``/api/predictions`` JSON; ``/api/health`` JSON, the one route that needs
  no token (for monitors), and says no more than whether the source runs.

Every client of the stream is a coroutine that sends the newest JPEG when it is ready for one:
a slow client skips frames instead of queueing them, and a client that takes nothing for
``write_timeout_s`` is dropped. Nothing here runs on the session's threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Callable

from aiohttp import web

from edgecam import __version__
from edgecam.errors import EdgecamError
from edgecam.headless import stats_dict
from edgecam.live import LiveSession
from edgecam.serve.hub import BOUNDARY, RESULT_BACKLOG, FrameHub, ResultRecord
from edgecam.serve.options import ServeOptions, is_loopback
from edgecam.serve.page import CONTENT_SECURITY_POLICY, PAGE

log = logging.getLogger(__name__)

STATS_EVERY_S = 1.0
KEEPALIVE_S = 15.0
EVENTS_EVERY_S = 0.02  # the most often event streams are woken (results are batched)
STREAM_SEND_BUFFER = 128 * 1024  # bytes; the kernel doubles it
START_TIMEOUT_S = 10.0
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ServeError(EdgecamError):
    """The web view cannot start (address in use, not an address of this machine...)."""


class _Broadcast:
    """Wakes every coroutine waiting for news of one kind (used on the loop thread only)."""

    def __init__(self) -> None:
        self._future: asyncio.Future | None = None

    async def wait(self, timeout: float) -> bool:
        if self._future is None or self._future.done():
            self._future = asyncio.get_running_loop().create_future()
        # asyncio.wait leaves the shared future alone on a timeout (no shield, no task).
        done, _ = await asyncio.wait((self._future,), timeout=timeout)
        return bool(done)

    def fire(self) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(None)
        self._future = None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


class WebView:
    """The web view of a :class:`LiveSession`: start it before the source, stop it after.

    Args:
        session: the session whose frames and results are shown.
        options: where to listen and the limits.
    """

    def __init__(self, session: LiveSession, options: ServeOptions) -> None:
        self.session = session
        self.options = options
        self.hub = FrameHub(options.jpeg_quality, options.max_fps, notify=self._notify)
        self._token = _digest(options.token) if options.token else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping = False
        self._closed: asyncio.Event | None = None
        self._broadcasts: dict[str, _Broadcast] = {}
        self._result_events: dict[int, bytes] = {}
        self._writing: dict[asyncio.Transport, float] = {}  # write in progress since
        self._fired_seq = 0
        self._streams = 0
        self._event_clients = 0
        self._dropped_clients = 0
        self._refused_clients = 0
        self.port: int | None = None

    # -- life cycle (caller's thread) --------------------------------------------------------------

    def start(self) -> WebView:
        """Bind and start serving; add the hub to the session. Raises :class:`ServeError`."""
        self._thread = threading.Thread(target=self._serve, name="edgecam-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ServeError("the web view did not start in time", "try again with -v")
        if self._start_error is not None:
            self._thread.join(2.0)
            error = self._start_error
            if isinstance(error, OSError):
                raise ServeError(
                    f"cannot listen on {self.options.host}:{self.options.port} ({error.strerror})",
                    "pick another port, or stop what uses it",
                ) from error
            raise error
        self.hub.start()
        self.session.add_listener(self.hub)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """End every stream, close the server and the encoder; safe to call twice."""
        self.session.remove_listener(self.hub)
        loop = self._loop
        if loop is not None and self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            self._thread.join(timeout)
        self.hub.stop()

    @property
    def url(self) -> str:
        """The page's address (with the token), as a browser on this network would open it."""
        host = self.options.host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        query = f"?token={self.options.token}" if self.options.token else ""
        return f"http://{host}:{self.port}/{query}"

    def __enter__(self) -> WebView:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the loop thread ---------------------------------------------------------------------------

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main(loop))
        except BaseException as exc:  # reported to start(); the thread ends quietly
            if not self._ready.is_set():
                self._start_error = exc
                self._ready.set()
            else:
                log.exception("the web view stopped")
        finally:
            self._loop = None
            loop.close()

    async def _main(self, loop: asyncio.AbstractEventLoop) -> None:
        self._closed = asyncio.Event()
        self._broadcasts = {"frame": _Broadcast(), "events": _Broadcast()}
        app = web.Application(middlewares=[self._guard], client_max_size=1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/stream.mjpg", self._stream, allow_head=False)
        app.router.add_get("/api/events", self._events, allow_head=False)
        app.router.add_get("/api/status", self._status)
        app.router.add_get("/api/predictions", self._predictions)
        app.router.add_get("/api/health", self._health)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port, backlog=64)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]
        self._loop = loop
        self._ready.set()
        watchdog = asyncio.ensure_future(self._watch_writes())
        await self._closed.wait()
        watchdog.cancel()
        await self._runner.cleanup()

    async def _shutdown(self) -> None:
        self._stopping = True
        for broadcast in self._broadcasts.values():
            broadcast.fire()
        if self._closed is not None:
            self._closed.set()

    def _notify(self, kind: str) -> None:
        """From the hub's threads: wake the coroutines waiting for ``kind``."""
        loop = self._loop
        if loop is None:
            self.hub.woken(kind)
            return
        try:
            loop.call_soon_threadsafe(self._fire, kind)
        except RuntimeError:  # the loop is closing
            self.hub.woken(kind)

    def _fire(self, kind: str) -> None:
        if kind == "result":
            self._fire_results()
            return
        self.hub.woken(kind)
        self._broadcasts["frame" if kind == "frame" else "events"].fire()

    def _fire_results(self) -> None:
        """Wake the event streams, then take no new wake for EVENTS_EVERY_S: at a fast
        source's thousand results a second, each wake carries many results (no result is
        lost: a stream sends every one since its last), and the threads are not woken a
        thousand times."""
        self._fired_seq = self.hub.result_seq
        self._broadcasts["events"].fire()
        self._loop.call_later(EVENTS_EVERY_S, self._rearm_results)

    def _rearm_results(self) -> None:
        self.hub.woken("result")
        if self.hub.result_seq != self._fired_seq and self.hub.claim("result"):
            self._fire_results()  # news came meanwhile: deliver it now

    # -- checks ------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Token and host checks before any route; errors as short JSON, never a traceback."""
        try:
            if request.path != "/api/health":
                self._check_access(request)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            keep = ("Allow", "WWW-Authenticate", "Retry-After")
            headers = {k: v for k, v in exc.headers.items() if k in keep}
            return web.json_response(
                {"error": exc.reason}, status=exc.status, headers={**HEADERS, **headers}
            )
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("the web view failed on %s", request.path)
            return web.json_response({"error": "internal error"}, status=500, headers=HEADERS)
        return response

    def _check_access(self, request: web.Request) -> None:
        if self._token is None:
            # Without a token only loopback is served; a page elsewhere that points a name it
            # controls at 127.0.0.1 (DNS rebinding) sends its own name as Host and is refused.
            if not is_loopback(_host_name(request.host)):
                raise web.HTTPForbidden(reason="this web view answers to 127.0.0.1 only")
            return
        given = request.query.get("token")
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        # Both sides hashed first: compare_digest is then constant-time over equal lengths.
        if given is None or not hmac.compare_digest(_digest(given), self._token):
            raise web.HTTPUnauthorized(
                reason="a valid token is needed (Authorization: Bearer TOKEN or ?token=TOKEN)",
                headers={"WWW-Authenticate": 'Bearer realm="edgecam"'},
            )

    @contextlib.contextmanager
    def _client_slot(self, kind: str):
        if self._streams + self._event_clients >= self.options.max_clients:
            self._refused_clients += 1
            raise web.HTTPServiceUnavailable(
                reason=f"too many clients (limit {self.options.max_clients})",
                headers={"Retry-After": "5"},
            )
        attr = "_streams" if kind == "stream" else "_event_clients"
        setattr(self, attr, getattr(self, attr) + 1)
        try:
            yield
        finally:
            setattr(self, attr, getattr(self, attr) - 1)

    async def _write(self, request: web.Request, response: web.StreamResponse, data: bytes) -> bool:
        """Write ``data``; False when the client is gone, or stuck and dropped by the watchdog.

        A write only waits when the client's buffers are full; the watchdog, not a timeout
        per write (a task each time), ends one that waits too long.
        """
        transport = request.transport
        if transport is None:
            return False
        self._writing[transport] = time.monotonic()
        try:
            await response.write(data)
        except (ConnectionError, RuntimeError):
            return False
        finally:
            self._writing.pop(transport, None)
        return True

    async def _watch_writes(self) -> None:
        """Every so often, drop the clients whose write has waited over write_timeout_s."""
        limit = self.options.write_timeout_s
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for transport, since in list(self._writing.items()):
                if now - since > limit:
                    self._writing.pop(transport, None)
                    self._dropped_clients += 1
                    log.debug("dropped a client that took nothing for %gs", limit)
                    transport.abort()  # its waiting write fails and its handler ends

    # -- routes ------------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        return web.Response(
            body=PAGE,
            content_type="text/html",
            charset="utf-8",
            headers={**HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY},
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        with self._client_slot("stream"):
            response = web.StreamResponse(
                headers={
                    **HEADERS,
                    "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                    "X-Accel-Buffering": "no",
                }
            )
            _limit_send_buffer(request)
            await response.prepare(request)
            self.hub.add_viewer()
            try:
                sent = 0
                while not self._stopping:
                    jpeg = self.hub.latest_jpeg()
                    if jpeg is None or jpeg.seq == sent:
                        woken = await self._broadcasts["frame"].wait(KEEPALIVE_S)
                        if not woken and _gone(request):
                            break
                        continue
                    sent = jpeg.seq
                    if not await self._write(request, response, jpeg.part):
                        break
            finally:
                self.hub.remove_viewer()
            return response

    async def _events(self, request: web.Request) -> web.StreamResponse:
        with self._client_slot("events"):
            response = web.StreamResponse(
                headers={**HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
            )
            await response.prepare(request)
            self.hub.add_listener()
            try:
                await self._send_events(request, response)
            finally:
                self.hub.remove_listener()
            return response

    async def _send_events(self, request: web.Request, response: web.StreamResponse) -> None:
        # A reconnecting browser says where it stopped; otherwise start from the newest.
        last_id = request.headers.get("Last-Event-ID", "")
        seq = int(last_id) if last_id.isdigit() else max(0, self.hub.result_seq - 1)
        status_seq = self.hub.latest_status()[0]
        hello = _event("hello", self._describe())
        if not await self._write(request, response, hello + _event("stats", self._stats())):
            return
        next_stats = time.monotonic() + STATS_EVERY_S
        next_keepalive = time.monotonic() + KEEPALIVE_S
        while not self._stopping:
            chunks = []
            for record in self.hub.results_after(seq):
                chunks.append(self._result_event(record))
                seq = record.seq
            number, text = self.hub.latest_status()
            if number != status_seq:
                status_seq = number
                chunks.append(_event("status", {"text": text}))
            now = time.monotonic()
            if now >= next_stats:
                chunks.append(_event("stats", self._stats()))
                next_stats = now + STATS_EVERY_S
            if not chunks and now >= next_keepalive:
                chunks.append(b": keepalive\n\n")
            if chunks:
                next_keepalive = now + KEEPALIVE_S
                if not await self._write(request, response, b"".join(chunks)):
                    break
                continue
            await self._broadcasts["events"].wait(max(0.01, next_stats - now))

    def _result_event(self, record: ResultRecord) -> bytes:
        """The event for ``record``, serialised once for every event client."""
        event = self._result_events.get(record.seq)
        if event is None:
            event = _event("result", _result_json(record), event_id=record.seq)
            self._result_events[record.seq] = event
            while len(self._result_events) > 2 * RESULT_BACKLOG:
                del self._result_events[next(iter(self._result_events))]
        return event

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response({**self._describe(), **self._stats()}, headers=HEADERS)

    async def _predictions(self, request: web.Request) -> web.Response:
        record = self.hub.latest_result()
        body = _result_json(record) if record is not None else {"frame": None, "predictions": []}
        return web.json_response(body, headers=HEADERS)

    async def _health(self, request: web.Request) -> web.Response:
        running = self.session.running
        return web.json_response(
            {"status": "ok" if running else "stopped"},
            status=200 if running else 503,
            headers=HEADERS,
        )

    # -- what the routes say -----------------------------------------------------------------------

    def _describe(self) -> dict:
        classifier = self.session.classifier
        source = self.session.source
        model = {
            "name": getattr(classifier, "name", "?"),
            "delegate": str(getattr(classifier, "delegate", "?")),
            "runtime": str(getattr(classifier, "runtime", "?")),
            "labels": len(getattr(classifier, "labels", []) or []),
        }
        return {
            "version": __version__,
            "model": model,
            "source": source.description if source is not None else self.session.source_spec,
            "running": self.session.running,
            "threshold": self.session.threshold,
        }

    def _stats(self) -> dict:
        stats = self.session.stats()
        return {
            "pipeline": stats_dict(stats) if stats is not None else None,
            "stream": {
                **self.hub.stream_stats(),
                "streams": self._streams,
                "event_clients": self._event_clients,
                "max_clients": self.options.max_clients,
                "dropped_clients": self._dropped_clients,
                "refused_clients": self._refused_clients,
            },
        }


def _host_name(host: str) -> str:
    """The name in a Host header: ``[::1]:8080`` -> ``::1``, ``localhost:8080`` -> ``localhost``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _limit_send_buffer(request: web.Request) -> None:
    """Keep few frames in the kernel for a slow client: it then skips to fresh ones sooner, and
    one that stops reading is noticed (and dropped) within seconds, not after megabytes."""
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _result_json(record: ResultRecord) -> dict:
    top = record.result.top
    body = {
        "frame": record.frame_index,
        "timestamp": round(record.wall_time, 3),
        "label": top.label,
        "score": round(top.score, 5),
        **record.result.to_dict(),
    }
    if record.origin:
        body["image"] = record.origin
    return body


def _event(name: str, data: dict, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
