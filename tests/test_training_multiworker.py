"""`edgecam train --strategy multiworker`: two real worker processes on 127.0.0.1, TF_CONFIG."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI_CWD, cli_env

from training.distribute import Role, read_tf_config
from training.errors import TrainingError

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

from test_training_folder import make_folder

TRAIN = ["--input-size", "24", "--alpha", "0.25", "--depth", "2", "--batch-size", "16"]
TRAIN += ["--patience", "0", "--seed", "3", "--no-augment"]


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{p}" for p in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def start_worker(ports, index, data, out, epochs, log: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "edgecam", "train", "--data", str(data), "--out", str(out)]
    argv += ["--strategy", "multiworker", "--epochs", str(epochs), *TRAIN, *extra]
    env = cli_env(TF_CONFIG=tf_config(ports, index), CUDA_VISIBLE_DEVICES="-1")
    handle = log.open("w")
    return subprocess.Popen(argv, cwd=CLI_CWD, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_all(procs, timeout=400) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("a worker did not finish in time")
    return codes


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("mw") / "data", {"a_dark": 24, "b_bright": 24})


def test_tf_config_roles():
    ports = [1111, 2222]
    assert read_tf_config(tf_config(ports, 0)) == Role("worker", 0, 2, True)
    assert read_tf_config(tf_config(ports, 1)) == Role("worker", 1, 2, False)
    text = json.dumps(
        {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker", "index": 0}}
    )
    assert read_tf_config(text).chief is False  # with a chief task, worker 0 is not it
    for bad, message in [
        ("", "needs TF_CONFIG"),
        ("{", "not a valid cluster"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "not in"),
    ]:
        with pytest.raises(TrainingError, match=message) as err:
            read_tf_config(bad)
        assert "TF_CONFIG" in err.value.hint


def test_without_tf_config_it_is_one_clear_line(data, tmp_path):
    env = {k: v for k, v in cli_env().items() if k != "TF_CONFIG"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecam",
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path),
            "--strategy",
            "multiworker",
            *TRAIN,
        ],
        cwd=CLI_CWD,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "needs TF_CONFIG" in proc.stderr.strip().splitlines()[-1]


def test_two_workers_train_together_and_the_chief_alone_writes_the_run(data, tmp_path):
    ports = free_ports(2)
    out = tmp_path / "run"
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    procs = [start_worker(ports, i, data, out, 3, logs[i]) for i in range(2)]
    codes = wait_all(procs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], "\n".join(t[-2000:] for t in texts)
    # Both took part: each says so, and each ran the epochs in step with the other.
    assert "worker 0 of 2 workers (the chief" in texts[0]
    assert "worker 1 of 2 workers" in texts[1]
    for text in texts:
        assert "Epoch 3/3" in text
    # Only the chief wrote the run's files; the other kept its backup apart.
    assert (out / "best.keras").exists() and (out / "training_log.csv").exists()
    assert len((out / "training_log.csv").read_text().strip().splitlines()) == 1 + 3
    assert not any(p.name == "best.keras" for p in (out / "workers").rglob("*"))
    # The trained model learns the easy task, as a single-worker run does.
    rows = (out / "training_log.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    last = dict(zip(header, rows[-1].split(","), strict=True))
    assert float(last["accuracy"]) > 0.8, rows


def test_a_killed_worker_restarted_with_the_others_resumes_from_the_last_epoch(data, tmp_path):
    ports = free_ports(2)
    out = tmp_path / "run"
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    procs = [start_worker(ports, i, data, out, 6, logs[i]) for i in range(2)]
    # Kill worker 1 once two epochs are done (the chief's log has their rows).
    deadline = time.monotonic() + 300
    log_csv = out / "training_log.csv"
    while time.monotonic() < deadline:
        if log_csv.exists() and len(log_csv.read_text().strip().splitlines()) >= 3:
            break
        if any(p.poll() is not None for p in procs):
            pytest.fail("a worker ended early:\n" + logs[0].read_text()[-2000:])
        time.sleep(0.2)
    else:
        pytest.fail("two epochs did not finish in time")
    procs[1].send_signal(signal.SIGKILL)
    procs[1].wait()
    # The chief cannot go on without it: it fails (or waits); a cluster manager restarts all.
    try:
        procs[0].wait(timeout=60)
    except subprocess.TimeoutExpired:
        procs[0].kill()
        procs[0].wait()
    done = len(log_csv.read_text().strip().splitlines()) - 1
    assert 2 <= done < 6
    ports = free_ports(2)
    relogs = [tmp_path / f"resumed{i}.log" for i in range(2)]
    procs = [start_worker(ports, i, data, out, 6, relogs[i], "--resume") for i in range(2)]
    codes = wait_all(procs)
    texts = [log.read_text() for log in relogs]
    assert codes == [0, 0], "\n".join(t[-2000:] for t in texts)
    for text in texts:
        assert "Epoch 1/6" not in text  # resumed, not started again
        assert "Epoch 6/6" in text
    rows = log_csv.read_text().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows][-1] == 5


def test_make_strategy_multiworker_needs_no_network_to_refuse(monkeypatch):
    from training.distribute import make_strategy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(TrainingError, match="needs TF_CONFIG"):
        make_strategy("multiworker")
    with pytest.raises(TrainingError, match="unknown strategy"):
        make_strategy("ring")
    assert os.environ.get("TF_CONFIG") is None
