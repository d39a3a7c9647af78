"""What ``--mqtt`` is told: the broker, the topic prefix, when a label counts as new.

No paho here, nor anything heavy: the command line parses and checks these before the extra
is imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from edgecam.errors import ConfigError

DEFAULT_PREFIX = "edgecam"
QUEUE_SIZE = 256
MIN_SCORE = 0.5
HOLD_S = 0.5
STATS_EVERY_S = 10.0
#: Most messages per second on <prefix>/predictions: a camera's rate, not an unpaced file's.
MAX_RATE = 30.0
KEEPALIVE_S = 30
DISCOVERY_PREFIX = "homeassistant"
ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class MqttOptions:
    """Where to publish and how (``--mqtt URL`` and its companions).

    Attributes:
        host / port / tls: the broker (``mqtts://`` is TLS, checked against the system's CAs).
        username / password: from the URL's user part, if any.
        prefix: the topics' common start (the URL's path; default ``edgecam``).
        min_score / hold_s: when a new top-1 label is published on ``<prefix>/label``.
        stats_every_s: seconds between ``<prefix>/stats`` messages (0: none).
        max_rate: most ``<prefix>/predictions`` messages per second (0: every result); above
            it the newest result goes and the others are counted as skipped. The label topic
            still weighs every result.
        discovery: publish Home Assistant discovery configs.
        queue_size: results waiting for the broker at most; the oldest are dropped.
        keepalive_s: MQTT keepalive; the broker declares the device offline after 1.5x this
            when the connection dies silently (a closed connection is noticed at once).
        reconnect_min_s / reconnect_max_s: the reconnect back-off.
        client_id: the MQTT client id (default: ``edgecam-<host>-<pid>``).
    """

    host: str
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    min_score: float = MIN_SCORE
    hold_s: float = HOLD_S
    stats_every_s: float = STATS_EVERY_S
    max_rate: float = MAX_RATE
    discovery: bool = False
    discovery_prefix: str = DISCOVERY_PREFIX
    queue_size: int = QUEUE_SIZE
    keepalive_s: int = KEEPALIVE_S
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    client_id: str | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("--mqtt: no broker host", "for example mqtt://localhost/edgecam")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"--mqtt: port {self.port} is not between 1 and 65535")
        check_prefix(self.prefix)
        if not 0.0 <= self.min_score <= 1.0:
            raise ConfigError(f"--mqtt-min-score must be between 0 and 1, got {self.min_score}")
        if self.hold_s < 0 or self.stats_every_s < 0 or self.max_rate < 0:
            raise ConfigError("MQTT hold time, stats interval and rate cannot be negative")
        if self.queue_size < 1:
            raise ConfigError("the MQTT queue must hold at least one message")
        if self.reconnect_min_s < 1 or self.reconnect_max_s < self.reconnect_min_s:
            raise ConfigError("the reconnect back-off must be at least 1 s, min <= max")

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def topic(self, name: str) -> str:
        return f"{self.prefix}/{name}"


def check_prefix(prefix: str) -> str:
    if not prefix or prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        raise ConfigError(
            f"--mqtt: '{prefix}' is not a topic prefix", "for example mqtt://broker/edgecam/garage"
        )
    if any(c in prefix for c in "+#\0"):
        raise ConfigError(f"--mqtt: the topic prefix '{prefix}' may not hold + # or NUL")
    return prefix


def parse_mqtt_url(url: str, default_password: str | None = None, **kwargs) -> MqttOptions:
    """``mqtt[s]://[user[:password]@]host[:port][/topic/prefix]`` -> :class:`MqttOptions`.

    User and password are percent-decoded (write ``%40`` for ``@``); a user with no password
    in the URL gets ``default_password`` (so it need not show in the process list);
    ``kwargs`` set the other fields.
    """
    url = url.strip()
    if "#" in url:  # a URL would take it as a fragment; as a topic it is a wildcard
        raise ConfigError(f"--mqtt {_redact(url)}: the topic prefix may not hold + # or NUL")
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ConfigError(
            f"--mqtt {_redact(url)}: the address must start with mqtt:// or mqtts://",
            "for example mqtt://localhost/edgecam",
        )
    if parts.query:
        raise ConfigError(f"--mqtt {_redact(url)}: the address may not have a ?query")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--mqtt {_redact(url)}: the port is not a number 1-65535") from None
    tls = parts.scheme == "mqtts"
    prefix = unquote(parts.path.strip("/")) or DEFAULT_PREFIX
    return MqttOptions(
        host=parts.hostname or "",
        port=port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else default_password,
        prefix=prefix,
        **kwargs,
    )


def _redact(url: str) -> str:
    """``url`` with any password replaced, for messages."""
    return re.sub(r"(//[^:/@]*):[^@/]*@", r"\1:***@", url)


class LabelFilter:
    """Says when the top-1 label has changed for real.

    A label becomes the current one when it is on top with a score of at least ``min_score``
    on every result for ``hold_s`` seconds (by the frames' own clock); any other result
    (another label, or a score below ``min_score``) starts the count again, and the current
    label stays until another one has made it. ``hold_s=0`` takes a new label at its first
    confident result.
    """

    def __init__(self, min_score: float = MIN_SCORE, hold_s: float = HOLD_S) -> None:
        self.min_score = min_score
        self.hold_s = hold_s
        self.current: str | None = None
        self._candidate: str | None = None
        self._since = 0.0

    def update(self, label: str, score: float, t: float) -> str | None:
        """Feed one result (``t`` in seconds); returns the label when it just became current."""
        if score < self.min_score or label == self.current:
            self._candidate = None
            return None
        if label != self._candidate:
            self._candidate, self._since = label, t
        if t - self._since >= self.hold_s - 1e-6:  # 15 frames at 15 fps are 1 s, not 0.99...
            self.current, self._candidate = label, None
            return label
        return None
