"""The web view's and MQTT's cost: stream frame rates and the pipeline's result rate with and
without them, in one run.

    .venv/bin/python benchmarks/serve.py [--window 2] [--pairs 6] [--json out.json]

The app side runs in this process as ``edgecam run --headless --serve --mqtt`` wires it: a
LiveSession on the demo clip (looping) through the default model, the web view
(``start_web_view``) and the MQTT publisher (``start_mqtt``, connected to a mosquitto started
here on 127.0.0.1, no subscriber). Two sources: the clip paced at its 15 fps (what a camera
gives) and unpaced (every frame as fast as the CPU allows: the case where any cost shows).

A shared 2-core machine's load drifts by tens of percent within seconds, so runs started one
after another are not comparable. Instead everything keeps running, and the front ends are
attached to the session (``add_listener``) and detached again in alternating windows of
``--window`` seconds: detached, their threads idle (nothing is encoded, queued or sent), which
is the baseline; attached, they do all their work. Each configuration's cost is the median,
over ``--pairs`` pairs of adjacent windows, of its result rate divided by the baseline's.
Stream clients run in a separate process (``--clients`` mode of this script), niced, standing
in for browsers on other machines: they read ``/stream.mjpg`` over raw sockets and time every
whole JPEG part; a client's rate is its parts received in the attached windows over their time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

WARMUP_S = 2.0
CONFIGS = [
    # name, web view attached, stream clients, MQTT attached
    ("serve, 0 clients", True, 0, False),
    ("serve, 1 client", True, 1, False),
    ("serve, 10 clients", True, 10, False),
    ("mqtt", False, 0, True),
    ("serve (10 clients) + mqtt", True, 10, True),
]


# -- the client process ----------------------------------------------------------------------------


async def _read_stream(port: int, times: list[float], stop: asyncio.Event) -> None:
    """Append the arrival time of every whole JPEG part to ``times`` until ``stop``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /stream.mjpg HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    await writer.drain()
    await reader.readuntil(b"\r\n\r\n")
    try:
        while not stop.is_set():
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"Content-Length: (\d+)", head)
            if found:  # else: the empty line between two chunks
                await reader.readexactly(int(found.group(1)))
                times.append(time.monotonic())
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


def run_clients(port: int, clients: int) -> None:
    """Read ``clients`` streams until a line comes on stdin; print the arrival times (JSON)."""
    os.nice(10)
    times: list[list[float]] = [[] for _ in range(clients)]

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(
            target=lambda: (sys.stdin.readline(), loop.call_soon_threadsafe(stop.set)),
            daemon=True,
        ).start()
        tasks = [asyncio.ensure_future(_read_stream(port, t, stop)) for t in times]
        print("ready", flush=True)
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    print(json.dumps(times), flush=True)


# -- the app side ----------------------------------------------------------------------------------


class Mosquitto:
    def __init__(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise SystemExit("needs mosquitto (apt-get install mosquitto)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.folder = tempfile.TemporaryDirectory(prefix="edgecam-bench-mqtt-")
        config = Path(self.folder.name) / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.process = subprocess.Popen(
            [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.folder.cleanup()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


FRONT_END_THREADS = ("edgecam-web", "edgecam-jpeg", "edgecam-mqtt", "paho-mqtt")


def _front_end_cpu() -> float:
    """CPU seconds used so far by the web view's and MQTT's own threads (/proc, per thread)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for thread in threading.enumerate():
        if not thread.name.startswith(FRONT_END_THREADS) or thread.native_id is None:
            continue
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _window(session, seconds: float) -> dict:
    before, t0, cpu0, own0 = (
        session.stats().frames_classified,
        time.monotonic(),
        _cpu(),
        _front_end_cpu(),
    )
    time.sleep(seconds)
    after, t1, cpu1, own1 = (
        session.stats().frames_classified,
        time.monotonic(),
        _cpu(),
        _front_end_cpu(),
    )
    return {
        "start": t0,
        "end": t1,
        "results_per_s": (after - before) / (t1 - t0),
        "app_cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0),
        "cpu_us_per_result": 1e6 * (cpu1 - cpu0) / max(1, after - before),
        "front_end_cpu_s": own1 - own0,
        "results": after - before,
    }


def measure_mode(paced: bool, window: float, pairs: int, broker: Mosquitto) -> dict:
    """Every configuration on one running session of this source."""
    from edgecam.config import ClassifierOptions
    from edgecam.defaults import bundled_model, demo_clip
    from edgecam.live import LiveSession
    from edgecam.mqtt import parse_mqtt_url, start_mqtt
    from edgecam.serve import ServeOptions, start_web_view
    from edgecam.vision.classifier import Classifier

    session = LiveSession(
        Classifier(ClassifierOptions(model=bundled_model(), top_k=3)), loop_files=True, pace=paced
    )
    view = start_web_view(session, ServeOptions(port=0))
    publisher = start_mqtt(session, parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}/bench"))
    if not publisher.wait_connected(10):
        raise SystemExit("the publisher did not connect")
    for listener in (view.hub, publisher):
        session.remove_listener(listener)  # attached only in the windows that measure them
    session.start(str(demo_clip()))
    time.sleep(WARMUP_S)
    results = {}
    try:
        for name, serve, clients, mqtt in CONFIGS:
            attach = ([view.hub] if serve else []) + ([publisher] if mqtt else [])
            client_proc = None
            if clients:
                client_proc = subprocess.Popen(
                    [sys.executable, __file__, "--clients", str(clients), "--port", str(view.port)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert client_proc.stdout.readline().strip() == "ready"
            published_before = publisher.counters.published
            base_windows, on_windows = [], []
            for _ in range(pairs):
                base_windows.append(_window(session, window))
                for listener in attach:
                    session.add_listener(listener)
                on_windows.append(_window(session, window))
                for listener in attach:
                    session.remove_listener(listener)
            pairs_ = list(zip(base_windows, on_windows, strict=True))
            ratios = [on["results_per_s"] / base["results_per_s"] for base, on in pairs_]
            cpu_ratios = [
                on["cpu_us_per_result"] / base["cpu_us_per_result"] for base, on in pairs_
            ]
            summary = {
                "baseline_results_per_s": statistics.median(
                    w["results_per_s"] for w in base_windows
                ),
                "results_per_s": statistics.median(w["results_per_s"] for w in on_windows),
                "vs_baseline_pct": 100 * (statistics.median(ratios) - 1),
                "vs_baseline_pct_range": [100 * (min(ratios) - 1), 100 * (max(ratios) - 1)],
                "baseline_cpu_pct": statistics.median(w["app_cpu_pct"] for w in base_windows),
                "app_cpu_pct": statistics.median(w["app_cpu_pct"] for w in on_windows),
                "baseline_cpu_us_per_result": statistics.median(
                    w["cpu_us_per_result"] for w in base_windows
                ),
                "cpu_us_per_result": statistics.median(w["cpu_us_per_result"] for w in on_windows),
                "cpu_per_result_pct": 100 * (statistics.median(cpu_ratios) - 1),
                # the front ends' own threads, attached windows: ms per second, us per result
                "front_end_cpu_ms_per_s": 1e3
                * sum(w["front_end_cpu_s"] for w in on_windows)
                / sum(w["end"] - w["start"] for w in on_windows),
                "front_end_cpu_us_per_result": 1e6
                * sum(w["front_end_cpu_s"] for w in on_windows)
                / max(1, sum(w["results"] for w in on_windows)),
            }
            if mqtt:
                summary["mqtt_published_per_s"] = (
                    publisher.counters.published - published_before
                ) / sum(w["end"] - w["start"] for w in on_windows)
            if client_proc is not None:
                out, _ = client_proc.communicate("stop\n", timeout=30)
                arrivals = json.loads(out.strip().splitlines()[-1])
                on_time = sum(w["end"] - w["start"] for w in on_windows)
                rates = [
                    sum(any(w["start"] <= t < w["end"] for w in on_windows) for t in times)
                    / on_time
                    for times in arrivals
                ]
                summary["stream_fps_mean"] = statistics.mean(rates)
                summary["stream_fps_min"] = min(rates)
            results[name] = summary
            print(f"{'paced 15 fps' if paced else 'unpaced':13} {name:26} {_line(summary)}")
    finally:
        session.stop()
        view.stop()
        publisher.stop()
        session.close()
    return results


def _line(s: dict) -> str:
    low, high = s["vs_baseline_pct_range"]
    text = (
        f"{s['results_per_s']:8.1f} results/s vs {s['baseline_results_per_s']:8.1f}: "
        f"{s['vs_baseline_pct']:+5.1f}% ({low:+.1f} to {high:+.1f}), "
        f"app CPU {s['app_cpu_pct']:.0f}% vs {s['baseline_cpu_pct']:.0f}%, CPU per result "
        f"{s['cpu_us_per_result']:.0f} vs {s['baseline_cpu_us_per_result']:.0f} us "
        f"({s['cpu_per_result_pct']:+.1f}%), own threads {s['front_end_cpu_ms_per_s']:.1f} ms/s "
        f"= {s['front_end_cpu_us_per_result']:.1f} us per result"
    )
    if "stream_fps_mean" in s:
        text += (
            f", stream {s['stream_fps_mean']:.1f} fps per client (min {s['stream_fps_min']:.1f})"
        )
    if "mqtt_published_per_s" in s:
        text += f", MQTT {s['mqtt_published_per_s']:.1f} messages/s"
    return text


def table(report: dict) -> str:
    lines = [
        "| source | attached | results/s attached / detached (medians) | cost: median of "
        "pairs (range) | stream fps per client (mean, min) | app CPU attached / detached | "
        "CPU per result attached / detached | front ends' own threads |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, configs in report["results"].items():
        for name, s in configs.items():
            low, high = s["vs_baseline_pct_range"]
            stream = ""
            if "stream_fps_mean" in s:
                stream = f"{s['stream_fps_mean']:.1f}, {s['stream_fps_min']:.1f}"
            lines.append(
                f"| {mode} | {name} | {s['results_per_s']:.1f} / "
                f"{s['baseline_results_per_s']:.1f} | {s['vs_baseline_pct']:+.1f}% "
                f"({low:+.1f} to {high:+.1f}) | {stream} | {s['app_cpu_pct']:.0f}% / "
                f"{s['baseline_cpu_pct']:.0f}% | {s['cpu_us_per_result']:.0f} / "
                f"{s['baseline_cpu_us_per_result']:.0f} µs ({s['cpu_per_result_pct']:+.1f}%) | "
                f"{s['front_end_cpu_ms_per_s']:.1f} ms/s, {s['front_end_cpu_us_per_result']:.1f} "
                "µs per result |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=1.0, help="seconds per window")
    parser.add_argument("--pairs", type=int, default=12, help="window pairs per configuration")
    parser.add_argument(
        "--sources", nargs="+", choices=["paced", "unpaced"], default=["paced", "unpaced"]
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)  # the client process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients:
        run_clients(args.port, args.clients)
        return 0

    import logging

    logging.getLogger("edgecam").setLevel(logging.ERROR)
    broker = Mosquitto()
    try:
        results = {}
        if "paced" in args.sources:
            results["paced 15 fps"] = measure_mode(True, args.window, args.pairs, broker)
        if "unpaced" in args.sources:
            results["unpaced"] = measure_mode(False, args.window, args.pairs, broker)
    finally:
        broker.stop()
    report = {
        "window_s": args.window,
        "pairs": args.pairs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "results": results,
    }
    print()
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
