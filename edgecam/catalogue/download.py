"""Fetch one file into a ``.part`` file: resumable, size and SHA-256 checked, clear errors.

The ``.part`` file lives in a staging folder, never in a model's folder, so a partial download
is never mistaken for a model; :mod:`edgecam.catalogue.store` moves it into place only after
:func:`fetch` has checked it. A connection cut mid-file is resumed with an HTTP ``Range``
request (a few times within one call, and again on the next call, from what the ``.part``
holds).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from edgecam import __version__
from edgecam.errors import EXIT_INTERRUPTED, EdgecamError

#: Seconds a connection may stay silent (connecting or mid-file) before the download fails.
TIMEOUT_ENV = "EDGECAM_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
#: Bytes read per chunk: progress and cancellation are seen this often.
CHUNK = 64 * 1024
#: Resumes within one call after a connection is cut mid-file.
RETRIES = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

Progress = Callable[[int, int], None]


class DownloadError(EdgecamError):
    """A download that failed: network, HTTP, size, checksum or disk."""


class DownloadCancelled(EdgecamError):
    """The caller cancelled a download (its ``.part`` stays, to resume)."""

    exit_code = EXIT_INTERRUPTED


class _Dropped(Exception):
    """The connection ended before the whole file arrived (resumable)."""


def default_timeout() -> float:
    try:
        value = float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(
    url: str,
    part: Path,
    *,
    size: int,
    sha256: str,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    retries: int = RETRIES,
    chunk: int = CHUNK,
) -> Path:
    """Download ``url`` into ``part`` (resuming what it holds); return it once checked.

    Raises:
        DownloadError: offline, DNS, refused, timeout, an HTTP error, a size or checksum
            mismatch (the ``.part`` is then deleted), a full disk.
        DownloadCancelled: ``cancel`` was set (the ``.part`` stays for a resume).
    """
    timeout = default_timeout() if timeout is None else timeout
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _disk_error(part.parent, exc) from None
    with _exclusive(part, url):
        _fetch(url, part, size, sha256, progress, cancel, timeout, retries, chunk)
    return part


def lock_file(part: Path) -> Path:
    """The file a download of ``part`` holds locked (hidden, beside it)."""
    return part.with_name(f".{part.name}.lock")


@contextlib.contextmanager
def _exclusive(part: Path, url: str):
    """One download of ``part`` at a time (two would append to the same file)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the SHA-256 check still guards the file
        yield
        return
    with lock_file(part).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(
                f"another edgecam is downloading {_file(url)} into {part.parent}",
                "wait for it to finish, then try again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fetch(url, part, size, sha256, progress, cancel, timeout, retries, chunk) -> None:
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size:
            break
        try:
            _transfer(url, part, have, size, progress, cancel, timeout, chunk)
        except _Dropped as exc:
            attempt += 1
            got = part.stat().st_size if part.exists() else 0
            if attempt > retries or got <= have:  # no progress: do not loop on a dead host
                raise DownloadError(
                    f"{_host(url)} cut the download of {_file(url)} at {got} of {size} bytes "
                    f"({exc})",
                    "run the same command again: it resumes where it stopped",
                ) from None
    _check(part, url, size, sha256)


def _check(part: Path, url: str, size: int, sha256: str) -> None:
    got = part.stat().st_size
    if got != size:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"{url} gave {got} bytes, the catalogue says {size}",
            "the file changed on the server: check the catalogue entry (nothing was installed)",
        )
    digest = sha256_of(part)
    if digest != sha256:
        part.unlink(missing_ok=True)  # a resume would only append to the wrong bytes
        raise DownloadError(
            f"checksum mismatch for {url}: SHA-256 {digest[:16]}..., the catalogue says "
            f"{sha256[:16]}...",
            "the download is damaged or the file changed: nothing was installed; pull again, "
            "or check the catalogue entry",
        )


def _transfer(
    url: str,
    part: Path,
    have: int,
    size: int,
    progress: Progress | None,
    cancel: threading.Event | None,
    timeout: float,
    chunk: int,
) -> None:
    """One request: append from byte ``have`` (a 206) or start again (a 200)."""
    import http.client  # the network modules load when a download starts, not with the CLI
    import urllib.error
    import urllib.request

    headers = {"User-Agent": f"edgecam/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is not a prefix the server knows: start over
            part.unlink(missing_ok=True)
            raise _Dropped("the server refused to resume") from None
        raise DownloadError(
            f"{url}: HTTP {exc.code} {exc.reason}",
            "the file is not where the catalogue says: check the entry's url"
            if exc.code in (404, 410)
            else "try again later, or check the entry's url",
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _network_error(url, exc, timeout) from None
    with response:
        start = have
        if have and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                start = -1  # a range other than asked for: start over
        else:
            start = 0  # a 200: the whole file again
        if start < 0:
            part.unlink(missing_ok=True)
            raise _Dropped("the server answered another range")
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and start + int(length) != size:
            raise DownloadError(
                f"{url} is {start + int(length)} bytes, the catalogue says {size}",
                "the file changed on the server: check the catalogue entry (nothing was installed)",
            )
        _copy(response, url, part, start, size, progress, cancel, timeout, chunk)


def _copy(response, url, part, done, size, progress, cancel, timeout, chunk) -> None:
    try:
        # Unbuffered: a full disk fails the write that hits it, not a later close.
        with part.open("ab" if done else "wb", buffering=0) as handle:
            _loop(response, url, part, handle, done, size, progress, cancel, timeout, chunk)
    except OSError as exc:  # the network's errors were turned into others in _loop
        raise _disk_error(part, exc) from None


def _loop(response, url, part, handle, done, size, progress, cancel, timeout, chunk) -> None:
    import http.client

    if progress:
        progress(done, size)
    while done < size:
        if cancel is not None and cancel.is_set():
            raise DownloadCancelled(
                f"download of {url} cancelled at {done} of {size} bytes",
                "pull it again to resume",
            )
        try:
            data = response.read(min(chunk, size - done + 1))
        except TimeoutError:
            raise DownloadError(
                f"{_host(url)} stopped sending for {timeout:g} s at {done} of {size} bytes",
                "check the network and pull again: it resumes where it stopped",
            ) from None
        except (http.client.HTTPException, OSError) as exc:  # reset, incomplete, TLS
            raise _Dropped(type(exc).__name__) from None
        if not data:
            raise _Dropped("the connection closed early")
        if done + len(data) > size:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"{url} is larger than the {size} bytes the catalogue says",
                "the file changed on the server: check the catalogue entry (nothing was installed)",
            )
        view = memoryview(data)
        while view:  # an unbuffered write may take part of it
            view = view[handle.write(view) :]
        done += len(data)
        if progress:
            progress(done, size)


def _file(url: str) -> str:
    return urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1] or url


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _network_error(url: str, exc: BaseException, timeout: float) -> DownloadError:
    import socket
    import ssl

    reason = getattr(exc, "reason", exc)
    host = _host(url)
    retry = "check the network and pull again"
    if isinstance(reason, socket.gaierror):
        return DownloadError(
            f"cannot look up {host.split(':')[0]} (offline, or no DNS: {reason.strerror})",
            "connect to the network and pull again",
        )
    if isinstance(reason, TimeoutError):
        return DownloadError(f"{host} did not answer within {timeout:g} s", retry)
    if isinstance(reason, ConnectionRefusedError):
        return DownloadError(f"{host} refused the connection", retry)
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        return DownloadError(
            f"the secure connection to {host} failed ({reason})",
            "check the system clock and certificates, then pull again",
        )
    if isinstance(reason, FileNotFoundError):  # a file:// entry
        return DownloadError(f"{url}: no such file", "check the catalogue entry's url")
    text = getattr(reason, "strerror", None) or str(reason)
    return DownloadError(f"cannot download {url}: {text}", retry)


def _disk_error(part: Path, exc: OSError) -> DownloadError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DownloadError(
            f"the disk is full: cannot write {part}",
            "free some space and pull again: it resumes where it stopped",
        )
    return DownloadError(
        f"cannot write {part}: {exc.strerror or exc}",
        f"check the permissions of {part.parent} (or set $EDGECAM_HOME)",
    )
