"""The MQTT publisher: a session listener, a bounded queue, a publisher thread, paho.

The session's threads only append to a bounded queue (the oldest entry is dropped and counted
when it is full); one publisher thread turns entries into JSON and hands them to paho, whose
own network thread connects, reconnects with back-off (``reconnect_min_s`` doubling up to
``reconnect_max_s``) and writes. A broker that is down costs the pipeline nothing: results wait
in the queue, and the oldest go. paho-mqtt 2.x (callback API version 2) is imported when a
client is made.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass

from edgecam import __version__
from edgecam.capture.sources import Frame
from edgecam.errors import ConfigError
from edgecam.live import LiveListener, LiveSession
from edgecam.mqtt.options import OFFLINE, ONLINE, LabelFilter, MqttOptions
from edgecam.vision.types import Classification

log = logging.getLogger(__name__)

#: The publisher takes results in batches at least this far apart (and at least
#: 1 / max_rate): the label topic's latency is at most that.
BATCH_S = 0.01


def require_paho():
    """The paho client module; a :class:`ConfigError` with the pip command when it is missing."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError as exc:
        raise ConfigError(
            f"--mqtt needs paho-mqtt, which is not installed ({exc})",
            "pip install 'edgecam[mqtt]'",
        ) from exc
    if not hasattr(mqtt, "CallbackAPIVersion"):
        raise ConfigError(
            "--mqtt needs paho-mqtt 2.0 or newer", "pip install 'edgecam[mqtt]' (paho-mqtt 2)"
        )
    return mqtt


@dataclass
class MqttCounters:
    """What the publisher did (also in ``<prefix>/stats`` as ``mqtt``)."""

    queued: int = 0
    published: int = 0
    dropped: int = 0  # results dropped from the full queue
    skipped: int = 0  # results not sent to <prefix>/predictions, over max_rate
    failed: int = 0  # handed to paho but refused (not connected meanwhile, too large...)
    connects: int = 0
    disconnects: int = 0


class MqttPublisher(LiveListener):
    """Publishes a :class:`LiveSession`'s results to an MQTT broker.

    ``start()`` before the source starts, ``stop()`` after the session ends (it says
    ``offline`` and disconnects, within ``timeout``).
    """

    def __init__(self, session: LiveSession, options: MqttOptions) -> None:
        self.session = session
        self.options = options
        self.counters = MqttCounters()
        self.filter = LabelFilter(options.min_score, options.hold_s)
        self._cond = threading.Condition()
        self._queue: deque[tuple] = deque()
        self._stopping = False
        self._connected = threading.Event()
        self._client = None
        self._thread: threading.Thread | None = None
        self._outage_logged = False
        self._in_paho = 0  # handed to paho, not yet written (QoS 0) or acknowledged (QoS 1)
        self._idle = False  # the publisher waits with no result in hand: a result wakes it
        self._waiting = False  # the publisher waits, for whatever reason
        self._newest = None  # the newest result not yet published (--mqtt-max-rate)

    # -- the session's side (inference thread: append and return) ----------------------------------

    def result(self, result: Classification, frame: Frame) -> None:
        wall = time.time() - max(0.0, time.monotonic() - frame.timestamp)
        with self._cond:
            if len(self._queue) >= self.options.queue_size:
                self._queue.popleft()
                self.counters.dropped += 1
            self._queue.append((result, frame.index, frame.timestamp, wall, frame.origin))
            self.counters.queued += 1
            if self._idle:  # one wake per batch, not one per result
                self._idle = False
                self._cond.notify()

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> MqttPublisher:
        """Start connecting (in the background) and publishing; add the publisher to the session.

        Raises:
            ConfigError: paho-mqtt is missing, or TLS cannot be set up.
        """
        self._client = self._make_client()
        self._client.connect_async(self.options.host, self.options.port, self.options.keepalive_s)
        self._client.loop_start()  # paho's network thread: connects, reconnects, writes
        self._thread = threading.Thread(target=self._publish_loop, name="edgecam-mqtt", daemon=True)
        self._thread.start()
        self.session.add_listener(self)
        return self

    def stop(self, timeout: float = 3.0) -> None:
        """Publish what is queued (while connected, up to ``timeout``), say offline, disconnect."""
        self.session.remove_listener(self)
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.1, deadline - time.monotonic()))
        client = self._client
        if client is None:
            return
        if self._connected.is_set():
            if self._newest is not None:  # held back by max_rate: the last result still goes
                self._publish_prediction(*self._newest)
                self._newest = None
            if self.options.stats_every_s:
                self._publish_stats()  # the final counters
            info = client.publish(self.options.topic("availability"), OFFLINE, qos=1, retain=True)
            self._wait_published(info, deadline)
            client.disconnect()  # a clean disconnect: the broker drops the last will
        client.loop_stop()
        self._client = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(timeout)

    # -- paho --------------------------------------------------------------------------------------

    def _make_client(self):
        mqtt = require_paho()
        options = self.options
        client_id = options.client_id or f"edgecam-{socket.gethostname()}-{os.getpid()}"
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls:
            try:
                client.tls_set()
            except (OSError, ValueError) as exc:
                raise ConfigError(f"--mqtt: TLS could not be set up ({exc})") from exc
        client.will_set(options.topic("availability"), OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(options.reconnect_min_s, options.reconnect_max_s)
        # paho keeps QoS 1 messages while disconnected; our own queue is the bound that counts.
        client.max_queued_messages_set(options.queue_size)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._note_outage(f"the broker refused the connection ({reason_code})")
            return
        self.counters.connects += 1
        with self._cond:
            self._in_paho = 0  # a reconnect drops paho's unsent QoS 0 messages
        self._publish(self.options.topic("availability"), ONLINE, qos=1, retain=True)
        if self.options.discovery:
            self._publish_discovery()
        if self.filter.current is not None:  # a restarted broker may have lost the retained one
            self._publish(self.options.topic("label"), self.filter.current, qos=1, retain=True)
        if self._outage_logged:
            log.warning("MQTT: connected to %s again", self.options.broker)
        else:
            log.info("MQTT: connected to %s", self.options.broker)
        self._outage_logged = False
        self._connected.set()
        with self._cond:
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        if was_connected:
            self.counters.disconnects += 1
        if not self._stopping:
            self._note_outage(f"lost the connection ({reason_code})")

    def _on_connect_fail(self, client, userdata) -> None:
        self._note_outage("cannot connect")

    def _note_outage(self, what: str) -> None:
        """One note per outage, not one per retry."""
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "MQTT: %s to %s; retrying every %d-%d s in the background",
                what,
                self.options.broker,
                self.options.reconnect_min_s,
                self.options.reconnect_max_s,
            )

    def _wait_published(self, info, deadline: float) -> None:
        # Not connected any more, or out of time: then the last will says offline.
        with contextlib.suppress(RuntimeError, ValueError):
            info.wait_for_publish(max(0.05, deadline - time.monotonic()))

    # -- the publisher thread ----------------------------------------------------------------------

    def _publish_loop(self) -> None:
        options = self.options
        interval = 1.0 / options.max_rate if options.max_rate else 0.0
        next_stats = time.monotonic() + options.stats_every_s
        next_prediction = rest_until = 0.0
        while True:
            with self._cond:
                while True:
                    connected = self._connected.is_set()
                    if self._stopping and not (self._queue and connected):
                        return
                    now = time.monotonic()
                    # paho's own queue of unsent messages is unbounded: keep it short, so that
                    # a slow broker makes our bounded queue drop instead
                    can_take = self._queue and connected and self._in_paho < options.queue_size
                    if can_take and now >= rest_until:
                        batch = list(self._queue)
                        self._queue.clear()
                        break
                    due = [next_stats] if options.stats_every_s else []
                    if self._newest is not None and connected:
                        due.append(next_prediction)
                    if can_take:
                        due.append(rest_until)
                    if due and now >= min(due):
                        batch = []
                        break
                    # Woken by a result only when it has none: resting, it takes them later.
                    self._idle = not self._queue
                    self._waiting = True
                    self._cond.wait(min(due) - now if due else None)
                    self._idle = self._waiting = False
            for item in batch:
                self._take(item)
            now = time.monotonic()
            if batch:  # let the next results gather into one batch
                rest_until = now + max(BATCH_S, interval)
            if self._newest is not None and now >= next_prediction and self._connected.is_set():
                self._publish_prediction(*self._newest)
                self._newest = None
                next_prediction = now + interval
            if options.stats_every_s and now >= next_stats:
                next_stats = now + options.stats_every_s
                if self._connected.is_set():
                    self._publish_stats()

    def _take(self, item: tuple) -> None:
        """One result, oldest first: the label filter sees every one; the predictions topic
        gets the newest, at no more than ``max_rate`` (with none, every one)."""
        result, _, timestamp, _, _ = item
        changed = self.filter.update(result.top.label, result.top.score, timestamp)
        if changed is not None:
            self._publish(self.options.topic("label"), changed, qos=1, retain=True)
        if not self.options.max_rate:
            self._publish_prediction(*item)
            return
        if self._newest is not None:
            self.counters.skipped += 1
        self._newest = item

    def _publish(self, topic: str, payload: str, qos: int = 0, retain: bool = False) -> None:
        client = self._client
        if client is None:
            return
        try:
            info = client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, OSError) as exc:
            self.counters.failed += 1
            log.debug("MQTT: publish to %s failed: %s", topic, exc)
            return
        with self._cond:
            if info.rc == 0:
                self.counters.published += 1
                self._in_paho += 1
            else:
                self.counters.failed += 1

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self._in_paho -= 1
            if self._waiting and self._queue and self._in_paho < self.options.queue_size:
                self._cond.notify()

    def _publish_prediction(self, result, index, timestamp, wall, origin) -> None:
        top = result.top
        body = {
            "frame": index,
            "timestamp": round(wall, 3),
            "label": top.label,
            "score": round(top.score, 5),
            **result.to_dict(),
        }
        if origin:
            body["image"] = origin
        self._publish(self.options.topic("predictions"), json.dumps(body, separators=(",", ":")))

    def _publish_stats(self) -> None:
        from edgecam.headless import stats_dict

        stats = self.session.stats()
        body = stats_dict(stats) if stats is not None else {}
        body["mqtt"] = vars(self.counters).copy()
        body["running"] = self.session.running
        self._publish(
            self.options.topic("stats"), json.dumps(body, separators=(",", ":")), retain=True
        )

    def _publish_discovery(self) -> None:
        """Home Assistant MQTT discovery: the device, its label sensor and two stats sensors."""
        options = self.options
        node = re.sub(r"[^a-zA-Z0-9_-]", "_", options.prefix)
        classifier = self.session.classifier
        device = {
            "identifiers": [f"edgecam_{node}"],
            "name": f"edgecam {options.prefix}",
            "manufacturer": "edgecam",
            "model": getattr(classifier, "name", "edgecam"),
            "sw_version": __version__,
        }
        availability = options.topic("availability")
        sensors = {
            "label": {"name": "Label", "state_topic": options.topic("label"), "icon": "mdi:eye"},
            "inference_fps": {
                "name": "Inference rate",
                "state_topic": options.topic("stats"),
                "value_template": "{{ value_json.inference_fps }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
            "inference_ms": {
                "name": "Inference time",
                "state_topic": options.topic("stats"),
                "value_template": "{{ value_json.inference_ms }}",
                "unit_of_measurement": "ms",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        }
        for key, config in sensors.items():
            payload = {
                **config,
                "unique_id": f"edgecam_{node}_{key}",
                "object_id": f"edgecam_{node}_{key}",
                "availability_topic": availability,
                "device": device,
            }
            topic = f"{options.discovery_prefix}/sensor/edgecam_{node}/{key}/config"
            self._publish(topic, json.dumps(payload), qos=1, retain=True)
