"""What the web view is told: where to listen, who may look, how much it may cost.

No aiohttp here: the command line parses and checks these before the extra is even imported.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from edgecam.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
#: Long-lived connections (video streams and event streams together); a browser tab uses two.
MAX_CLIENTS = 20
#: The stream never runs faster than the source, and never faster than this.
MAX_FPS = 30.0
JPEG_QUALITY = 80
#: A client whose socket takes no frame for this long is dropped (its slot is freed).
WRITE_TIMEOUT_S = 10.0
MIN_TOKEN_LENGTH = 8
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class ServeOptions:
    """The web view's settings (``edgecam run --headless --serve``).

    Attributes:
        host / port: where to listen; port 0 lets the system pick one (tests).
        token: when set, every route but ``/api/health`` needs it. Required for any address
            that is not loopback; :func:`serve_options` generates one when none is given.
        max_clients: video and event streams open at once; more get 503.
        max_fps: the most frames per second the stream sends (never more than the source).
        jpeg_quality: 1-100.
        write_timeout_s: a client that takes nothing for this long is disconnected.
    """

    host: str = DEFAULT_HOST
    port: int = 8080
    token: str | None = None
    max_clients: int = MAX_CLIENTS
    max_fps: float = MAX_FPS
    jpeg_quality: int = JPEG_QUALITY
    write_timeout_s: float = WRITE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--serve: port {self.port} is not between 0 and 65535")
        if self.token is not None:
            check_token(self.token)
        elif not is_loopback(self.host):
            raise ConfigError(
                f"--serve on {self.host} needs a token",
                "give --token TOKEN, or bind 127.0.0.1 (an SSH tunnel reaches it)",
            )
        if self.max_clients < 1:
            raise ConfigError(f"the client limit must be at least 1, got {self.max_clients}")
        if self.max_fps <= 0:
            raise ConfigError(f"the stream frame rate must be above 0, got {self.max_fps:g}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"JPEG quality must be 1-100, got {self.jpeg_quality}")
        if self.write_timeout_s <= 0:
            raise ConfigError("the write timeout must be above 0 seconds")


def parse_bind(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPV6]:PORT`` -> (host, port); a bare port is 127.0.0.1.

    Raises:
        ConfigError: not one of those forms.
    """
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_HOST, text
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(
            f"--serve {text}: write an IPv6 address in brackets", "for example --serve [::1]:8080"
        )
    if not host:
        raise ConfigError(
            f"--serve {text}: no address before the port",
            "write 0.0.0.0:PORT for every interface (a token is then required)",
        )
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(
            f"--serve {text}: '{port_text}' is not a port number", "for example --serve 8080"
        ) from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--serve {text}: port {port} is not between 0 and 65535")
    return host, port


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_token(token: str) -> str:
    """A token must be long enough and fit in a header and a URL unchanged."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"the token is too short ({len(token)} characters)",
            f"use at least {MIN_TOKEN_LENGTH}, or leave --token out to get a generated one",
        )
    if not all(33 <= ord(c) < 127 for c in token):
        raise ConfigError(
            "the token may hold printable ASCII only, no spaces",
            "leave --token out to get a generated one",
        )
    return token


def generate_token() -> str:
    return secrets.token_urlsafe(18)


def serve_options(bind: str, token: str | None = None, **kwargs) -> tuple[ServeOptions, bool]:
    """The options for ``--serve BIND [--token TOKEN]``; True when the token was generated.

    A non-loopback address with no token gets a generated one (printed at start).
    """
    host, port = parse_bind(bind)
    generated = token is None and not is_loopback(host)
    if generated:
        token = generate_token()
    return ServeOptions(host=host, port=port, token=token, **kwargs), generated
