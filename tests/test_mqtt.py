"""MQTT for real: a mosquitto broker started by the test on a free 127.0.0.1 port, paho as the
subscriber, the demo clip through the default model (or fakes, where a test must decide each
frame). The broker tests skip where mosquitto is not installed."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import CLI_CWD, assert_one_line_error, cli_env, has_module, run_cli
from fakes import FakeSource, GatedClassifier

from edgecam import defaults
from edgecam.errors import ConfigError
from edgecam.live import LiveListener, LiveSession
from edgecam.mqtt import LabelFilter, parse_mqtt_url

HAS_PAHO = has_module("paho")
WAIT_S = 20.0


# -- options and the label filter (no broker) ------------------------------------------------------


def test_parse_mqtt_url():
    o = parse_mqtt_url("mqtt://broker.lan/garage/cam1")
    assert (o.host, o.port, o.tls, o.prefix, o.username) == (
        "broker.lan",
        1883,
        False,
        "garage/cam1",
        None,
    )
    o = parse_mqtt_url("mqtts://me:p%40ss%3Aw@broker:9999")
    assert (o.port, o.tls, o.username, o.password, o.prefix) == (
        9999,
        True,
        "me",
        "p@ss:w",
        "edgecam",
    )
    assert parse_mqtt_url("mqtts://broker/").port == 8883
    assert parse_mqtt_url("mqtt://me@broker/x", default_password="env").password == "env"
    assert parse_mqtt_url("mqtt://me:given@broker/x", default_password="env").password == "given"
    assert "given" not in repr(parse_mqtt_url("mqtt://me:given@broker/x"))
    assert parse_mqtt_url("mqtt://[::1]:1884/a").host == "::1"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://broker/x", "mqtt:// or mqtts://"),
        ("broker:1883", "mqtt:// or mqtts://"),
        ("mqtt:///x", "no broker host"),
        ("mqtt://broker:99999/x", "port"),
        ("mqtt://broker:abc/x", "port"),
        ("mqtt://broker/a/+/b", "may not hold"),
        ("mqtt://broker/a/#", "may not hold"),
        ("mqtt://broker/a//b", "not a topic prefix"),
        ("mqtt://broker/x?qos=1", "?query"),
    ],
)
def test_parse_mqtt_url_rejects(url, needle):
    with pytest.raises(ConfigError) as info:
        parse_mqtt_url(url)
    assert needle in str(info.value)


def test_a_password_is_never_in_an_error():
    with pytest.raises(ConfigError) as info:
        parse_mqtt_url("http://me:secret@broker/x")
    assert "secret" not in str(info.value) and "***" in str(info.value)


def test_label_filter_holds_and_ignores_flicker():
    f = LabelFilter(min_score=0.5, hold_s=0.5)
    t = iter(i / 10 for i in range(100))
    assert f.update("cat", 0.9, next(t)) is None  # 0.0: a candidate
    assert f.update("cat", 0.9, next(t)) is None  # 0.1
    assert f.update("dog", 0.9, next(t)) is None  # 0.2: a flicker restarts the count
    assert [f.update("cat", 0.9, next(t)) for _ in range(5)] == [None] * 5  # 0.3..0.7
    assert f.update("cat", 0.9, next(t)) == "cat"  # 0.8: 0.5 s on top
    assert f.update("cat", 0.9, next(t)) is None  # no repeat
    assert f.update("dog", 0.3, next(t)) is None  # not confident: nothing changes
    assert f.current == "cat"
    g = LabelFilter(min_score=0.5, hold_s=0.0)
    assert [g.update(x, s, 0) for x, s in [("a", 0.9), ("a", 0.9), ("b", 0.4), ("b", 0.6)]] == [
        "a",
        None,
        None,
        "b",
    ]


def test_cli_rejects_bad_mqtt_options():
    proc = run_cli("run", "--mqtt", "http://me:secret@broker/x", "--source", "x.mp4")
    line = assert_one_line_error(proc, "mqtt:// or mqtts://")
    assert "secret" not in proc.stderr and "***" in line


def test_missing_paho_is_one_clear_line():
    code = (
        "import sys; sys.modules['paho'] = None\n"
        "from edgecam.cli import main\n"
        "sys.exit(main(['run', '--mqtt', 'mqtt://localhost/x', '--source', 'none.mp4']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, env=cli_env()
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, "paho-mqtt", "pip install 'edgecam[mqtt]'")


# -- a real broker ---------------------------------------------------------------------------------


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found is None and Path("/usr/sbin/mosquitto").exists():
        found = "/usr/sbin/mosquitto"
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto on 127.0.0.1:``port``, no persistence (a restart forgets everything)."""

    def __init__(self, folder: Path) -> None:
        self.binary = find_mosquitto()
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.log = folder / "mosquitto.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Broker:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.log.read_text()}") from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def broker(tmp_path):
    if not HAS_PAHO:
        pytest.skip("needs the mqtt extra (paho-mqtt)")
    if find_mosquitto() is None:
        pytest.skip("needs mosquitto (apt-get install mosquitto)")
    b = Broker(tmp_path).start()
    yield b
    b.stop()


class Subscriber:
    """A paho client subscribed to ``topic``, keeping every message as (topic, text, retain)."""

    def __init__(self, port: int, topic: str = "#") -> None:
        import paho.mqtt.client as mqtt

        self.seen: list[tuple[str, str, bool]] = []  # everything, in order
        self._cond = threading.Condition()
        self._cursor: dict[str, int] = {}  # per topic: where its next message is looked for
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda c, *args: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(WAIT_S), "the test subscriber did not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.seen.append((message.topic, message.payload.decode(), bool(message.retain)))
            self._cond.notify_all()

    def next(self, topic: str, timeout: float = WAIT_S, match=None) -> tuple[str, bool]:
        """The next (text, retain) on ``topic`` (for which ``match(text)`` holds, if given);
        each topic is read in order on its own."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                i = self._cursor.get(topic, 0)
                while i < len(self.seen):
                    got, text, retain = self.seen[i]
                    i += 1
                    if got == topic and (match is None or match(text)):
                        self._cursor[topic] = i
                        return text, retain
                self._cursor[topic] = i
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"nothing on {topic} in {timeout:g} s")
                self._cond.wait(remaining)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def demo_session(**kwargs) -> LiveSession:
    from edgecam.config import ClassifierOptions
    from edgecam.vision.classifier import Classifier

    kwargs.setdefault("loop_files", True)
    return LiveSession(
        Classifier(ClassifierOptions(model=defaults.bundled_model(), top_k=3)), **kwargs
    )


class Counter(LiveListener):
    def __init__(self) -> None:
        self.times: list[float] = []

    def result(self, result, frame) -> None:
        self.times.append(time.monotonic())

    def between(self, start: float, end: float) -> int:
        return sum(start <= t < end for t in self.times)


def test_messages_arrive_with_the_right_content(broker):
    from edgecam.mqtt import start_mqtt

    sub = Subscriber(broker.port)
    session = demo_session()
    options = parse_mqtt_url(
        f"mqtt://127.0.0.1:{broker.port}/test/cam", stats_every_s=0.5, discovery=True, hold_s=0.2
    )
    publisher = start_mqtt(session, options)
    try:
        assert publisher.wait_connected(WAIT_S)
        session.start(str(defaults.demo_clip()))
        assert sub.next("test/cam/availability") == ("online", False)
        text, retained = sub.next("test/cam/predictions")
        prediction = json.loads(text)
        assert set(prediction) >= {"frame", "timestamp", "label", "score", "predictions"}
        assert prediction["label"] == prediction["predictions"][0]["label"]
        assert prediction["label"] in session.classifier.labels and not retained
        assert len(prediction["predictions"]) == 3 and prediction["latency_ms"] > 0
        assert abs(prediction["timestamp"] - time.time()) < 10
        label, retained = sub.next("test/cam/label")
        assert label in session.classifier.labels
        stats = json.loads(sub.next("test/cam/stats")[0])
        assert stats["frames_classified"] >= 1 and stats["running"] is True
        assert stats["mqtt"]["connects"] == 1 and stats["mqtt"]["dropped"] == 0
        config = json.loads(
            sub.next("homeassistant/sensor/edgecam_test_cam/label/config", timeout=1)[0]
        )
        assert config["state_topic"] == "test/cam/label"
        assert config["availability_topic"] == "test/cam/availability"
        assert config["unique_id"] == "edgecam_test_cam_label"
        assert config["device"]["model"] == session.classifier.name
    finally:
        session.stop()
        publisher.stop()
        session.close()
    assert sub.next("test/cam/availability") == ("offline", False)
    sub.close()
    # Retained for whoever subscribes later: the last label and offline.
    late = Subscriber(broker.port, "test/cam/#")
    assert late.next("test/cam/availability") == ("offline", True)
    assert late.next("test/cam/label")[1] is True
    late.close()


def test_the_label_topic_says_only_changes(broker):
    from edgecam.mqtt import start_mqtt

    sub = Subscriber(broker.port, "fake/#")
    source = FakeSource()
    session = LiveSession(GatedClassifier(), source_factory=lambda spec, **kw: source)
    options = parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}/fake", hold_s=0, stats_every_s=0)
    publisher = start_mqtt(session, options)
    values = [1, 1, 1, 2, 2, 1, 1, 1, 3, 3, 3, 3]
    try:
        assert publisher.wait_connected(WAIT_S)
        session.start("fake")
        for value in values:
            source.push(value)  # each frame is classified before the next is pushed
            text, _ = sub.next("fake/predictions")
            assert json.loads(text)["label"] == f"value {value}"
        sub.next("fake/label", match=lambda text: text == "value 3")
    finally:
        session.stop()
        publisher.stop()
        session.close()
    labels = [text for topic, text, _ in sub.seen if topic == "fake/label"]
    assert labels == ["value 1", "value 2", "value 1", "value 3"]
    sub.close()


def test_predictions_are_capped_at_max_rate_newest_first(broker):
    from edgecam.mqtt import start_mqtt

    sub = Subscriber(broker.port, "capped/#")
    session = demo_session(loop_files=False, pace=False)  # 450 frames, far above 10 a second
    options = parse_mqtt_url(
        f"mqtt://127.0.0.1:{broker.port}/capped", max_rate=10, hold_s=0, stats_every_s=0
    )
    publisher = start_mqtt(session, options)
    try:
        assert publisher.wait_connected(WAIT_S)
        started = time.monotonic()
        session.start(str(defaults.demo_clip()))
        assert session.wait(60)
        elapsed = time.monotonic() - started
    finally:
        publisher.stop()
        session.close()
    sub.next("capped/availability", match=lambda text: text == "offline")
    frames = [json.loads(t)["frame"] for topic, t, _ in sub.seen if topic == "capped/predictions"]
    assert 1 <= len(frames) <= 10 * elapsed + 2
    assert frames == sorted(frames) and frames[-1] == 449  # the newest, and the last one too
    counters = publisher.counters
    assert counters.skipped + len(frames) + counters.dropped == 450
    # The label topic still weighs every result, not only the published ones.
    labels = [t for topic, t, _ in sub.seen if topic == "capped/label"]
    assert len(labels) > len(frames)


def test_last_will_says_offline_when_the_process_is_killed(broker):
    sub = Subscriber(broker.port, "killed/#")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgecam",
            "run",
            "--headless",
            "--source",
            str(defaults.demo_clip()),
            "--loop",
            "--mqtt",
            f"mqtt://127.0.0.1:{broker.port}/killed",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=CLI_CWD,
        env=cli_env(),
    )
    try:
        assert sub.next("killed/availability", timeout=60) == ("online", False)
        sub.next("killed/predictions")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert sub.next("killed/availability", timeout=10) == ("offline", False)
    finally:
        proc.kill()
        sub.close()


def test_ctrl_c_says_offline_and_exits_130(broker):
    sub = Subscriber(broker.port, "stopped/#")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgecam",
            "run",
            "--headless",
            "--source",
            str(defaults.demo_clip()),
            "--loop",
            "--mqtt",
            f"mqtt://127.0.0.1:{broker.port}/stopped",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=CLI_CWD,
        env=cli_env(),
    )
    try:
        assert sub.next("stopped/availability", timeout=60) == ("online", False)
        sub.next("stopped/predictions")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
        assert sub.next("stopped/availability", timeout=10) == ("offline", False)
        assert b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        sub.close()


def test_a_restarted_broker_is_reconnected_and_the_pipeline_never_slows(broker):
    from edgecam.mqtt import start_mqtt

    session = demo_session()
    counter = Counter()
    session.add_listener(counter)
    options = parse_mqtt_url(
        f"mqtt://127.0.0.1:{broker.port}/restart",
        stats_every_s=0,
        queue_size=16,
        reconnect_max_s=1,
        keepalive_s=5,
    )
    publisher = start_mqtt(session, options)
    try:
        assert publisher.wait_connected(WAIT_S)
        session.start(str(defaults.demo_clip()))
        sub = Subscriber(broker.port, "restart/#")
        sub.next("restart/predictions")
        sub.close()
        t0 = time.monotonic()
        time.sleep(2.0)
        broker.stop()  # down for 3 s: the queue fills, the oldest go
        t1 = time.monotonic()
        time.sleep(3.0)
        t2 = time.monotonic()
        assert not publisher.connected
        broker.start()
        sub = Subscriber(broker.port, "restart/#")
        assert sub.next("restart/availability", timeout=WAIT_S)[0] == "online"
        first = json.loads(sub.next("restart/predictions")[0])
        t3 = time.monotonic()
        time.sleep(1.0)
        t4 = time.monotonic()
        sub.close()
        assert session.running
        assert publisher.counters.connects == 2 and publisher.counters.disconnects == 1
        assert publisher.counters.dropped > 0  # 3 s of results do not fit in 16
        # The first prediction after the outage is recent, not one from before it.
        assert first["timestamp"] > time.time() - 16 / 15 - 2
        # The pipeline's rate: the same before, during and after the outage (15 fps clip).
        rates = [
            counter.between(a, b) / (b - a) for a, b in ((t0, t1), (t1, t2), (t3, t4)) if b > a
        ]
        assert min(rates) > 0.7 * 15, rates
    finally:
        session.stop()
        publisher.stop()
        session.close()


def test_an_unreachable_broker_costs_the_pipeline_nothing():
    if not HAS_PAHO:
        pytest.skip("needs the mqtt extra (paho-mqtt)")
    from edgecam.mqtt import start_mqtt

    # A listening socket that never accepts: TCP connects, no MQTT answer ever comes.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    session = demo_session(loop_files=False, pace=False)  # every frame, as fast as it goes
    options = parse_mqtt_url(
        f"mqtt://127.0.0.1:{silent.getsockname()[1]}/nobody", queue_size=8, stats_every_s=0
    )
    publisher = start_mqtt(session, options)
    try:
        session.start(str(defaults.demo_clip()))
        assert session.wait(60)
        assert session.stats().frames_classified == 450  # all of the clip, none held up
        assert publisher.counters.queued == 450
        assert publisher.counters.dropped == 450 - 8
        assert publisher.counters.published == 0
    finally:
        started = time.monotonic()
        publisher.stop()
        assert time.monotonic() - started < 5
        session.close()
        silent.close()
