"""Interrupted training and export lose nothing: real child processes killed at chosen points.

A child ``edgecam train`` / ``edgecam export`` is held at a named point (training.faultpoints,
``EDGECAM_TEST_PAUSE``) and SIGKILLed there, or sent SIGINT early; then the next command must
recover. Also: an unwritable ``--out`` is one clear line before any work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLI_CWD, assert_one_line_error, cli_env, run_cli
from test_training_folder import make_folder

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

CLASSES = ["a_dark", "b_bright", "c_striped"]
SMALL = [
    "--input-size", "24", "--alpha", "0.25", "--depth", "2", "--batch-size", "8",
    "--val-split", "0.25", "--seed", "1", "--no-augment", "--patience", "0",
    "--steps-per-epoch", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data"), dict.fromkeys(CLASSES, 8), size=24)


def _start(*args: str, pause: str | None = None, marker: Path | None = None, **env):
    extra = dict(env)
    if pause:
        extra.update(EDGECAM_TEST_PAUSE=pause, EDGECAM_TEST_PAUSE_MARKER=str(marker))
    return subprocess.Popen(
        [sys.executable, "-m", "edgecam", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(**extra),
        cwd=CLI_CWD,
        # A shell's background job ignores SIGINT, and a child inherits that: Ctrl-C must reach
        # it as it reaches a program in a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _kill_at(proc: subprocess.Popen, marker: Path, timeout: float = 240) -> None:
    """SIGKILL ``proc`` once it has reached its pause point (it wrote ``marker``)."""
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the child ended (rc {proc.returncode}) before the point:\n{err[-3000:]}")
        assert time.monotonic() < deadline, "the child never reached its pause point"
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _logged_epochs(run: Path) -> list[int]:
    rows = (run / "training_log.csv").read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in rows]


def _train(data: Path, run: Path, epochs: int, *extra: str) -> list[str]:
    return [
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--epochs",
        str(epochs),
        *SMALL,
        *extra,
    ]


@pytest.mark.parametrize("point", ["backup-written:1", "backup-renamed:1"])
def test_sigkill_around_a_backup_write_then_resume(data_dir, tmp_path, point):
    run, marker = tmp_path / "run", tmp_path / "marker"
    _kill_at(_start(*_train(data_dir, run, 3), pause=point, marker=marker), marker)
    backups = sorted(p.name for p in (run / "backup" / "head").iterdir())
    if point == "backup-written:1":  # the second epoch's state written aside, not renamed yet
        assert backups == [".tmp-epoch-0002.weights.h5", "epoch-0001.weights.h5"]
    else:
        assert backups == ["epoch-0001.weights.h5", "epoch-0002.weights.h5"]
    plain = run_cli(*_train(data_dir, run, 3), timeout=300)
    assert_one_line_error(plain, "holds an interrupted run")
    assert "loading data" not in plain.stdout  # refused before any work
    proc = run_cli(*_train(data_dir, run, 3), "--resume", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    done_before = 1 if point == "backup-written:1" else 2
    assert f"done: {3 - done_before} epochs" in proc.stdout
    assert sorted(set(_logged_epochs(run))) == [0, 1, 2]
    assert not (run / "backup").exists() and (run / "best.keras").exists()


def test_sigkill_the_moment_a_backup_is_being_written(data_dir, tmp_path):
    """No hook: killed as soon as the temporary file of the second backup shows, wherever the
    write is then (mid-write, or already renamed)."""
    run = tmp_path / "run"
    proc = _start(*_train(data_dir, run, 6))
    head, deadline = run / "backup" / "head", time.monotonic() + 240
    while not (head.exists() and list(head.glob(".tmp-epoch-0002*"))):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.001)
    proc.kill()
    proc.communicate(timeout=30)
    resumed = run_cli(*_train(data_dir, run, 6), "--resume", timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Traceback" not in resumed.stderr and "damaged" not in resumed.stdout
    assert _logged_epochs(run) == [0, 1, 2, 3, 4, 5]  # each epoch once, none lost


def test_a_damaged_backup_falls_back_to_the_one_before(data_dir, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "marker"
    _kill_at(_start(*_train(data_dir, run, 4), pause="backup-renamed:1", marker=marker), marker)
    newest = run / "backup" / "head" / "epoch-0002.weights.h5"
    newest.write_bytes(newest.read_bytes()[:300])  # damaged on disk after it was written
    proc = run_cli(*_train(data_dir, run, 4), "--resume", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert f"backup {newest} is damaged" in proc.stdout
    assert "resumed from epoch-0001.weights.h5: the state after epoch 1" in proc.stdout
    assert "done: 3 epochs" in proc.stdout  # epochs 1, 2, 3 again from the state after epoch 0


def test_no_readable_backup_starts_the_phase_again(data_dir, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "marker"
    _kill_at(_start(*_train(data_dir, run, 3), pause="backup-written:0", marker=marker), marker)
    (run / "backup" / "head" / "epoch-0001.weights.h5").write_bytes(b"not hdf5")  # a stray file
    proc = run_cli(*_train(data_dir, run, 3), "--resume", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no readable backup" in proc.stdout and "done: 3 epochs" in proc.stdout
    assert not (run / "backup").exists()


@pytest.mark.parametrize("delay", [0.3, 1.5, 3.0])
def test_ctrl_c_early_in_train_is_one_line(data_dir, tmp_path, delay):
    proc = _start(*_train(data_dir, tmp_path / "run", 50))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("edgecam:")]
    assert len(lines) == 1 and "interrupted" in lines[0], err
    assert "export" not in lines[0]


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    proc = run_cli(*_train(data_dir, run, 1), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run


def _export(run: Path, out: Path) -> list[str]:
    return [
        "export", "--run", str(run), "--out", str(out), "--mode", "float32", "--no-edgetpu",
        "--test-limit", "4", "--max-drop", "100", "--force",  # one epoch: may be at chance
    ]  # fmt: skip


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


@pytest.mark.parametrize("exchange", [True, False])
def test_sigkill_during_the_export_swap_leaves_a_bundle(run_dir, tmp_path, exchange):
    out, marker = tmp_path / "out" / "bundle", tmp_path / "marker"
    first = run_cli(*_export(run_dir, out), timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    old_spec = (out / "model.json").read_text()
    env = {} if exchange else {"EDGECAM_TEST_NO_EXCHANGE": "1"}
    point = "export-swap" if exchange else "export-between-renames"
    _kill_at(_start(*_export(run_dir, out), pause=point, marker=marker, **env), marker)
    left = _siblings(out)
    if exchange:  # killed before the swap: the old bundle is there, untouched
        assert (out / "model.json").read_text() == old_spec
        assert any(".bundle.staging-" in n for n in left), left
    else:  # between the renames: the old bundle is aside, the new one complete in staging
        assert not out.exists()
        assert any(".bundle.old-" in n for n in left), left
    marker.unlink()
    again = run_cli(*_export(run_dir, out), timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    if not exchange:
        assert f"restored {out}, which an interrupted write had moved aside" in again.stdout
    assert "left beside" in again.stdout or "restored" in again.stdout
    assert _siblings(out) == ["bundle"]  # no staging, old copy or TF temporary folder left
    assert (out / "model.tflite").exists() and (out / "model.json").read_text() != old_spec


def test_ctrl_c_during_export_keeps_the_old_bundle_and_says_so(run_dir, tmp_path):
    out, marker = tmp_path / "bundle", tmp_path / "marker"
    assert run_cli(*_export(run_dir, out), timeout=300).returncode == 0
    old_spec = (out / "model.json").read_text()
    proc = _start(*_export(run_dir, out), pause="export-swap", marker=marker)
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "--resume" not in err and "run the same export again" in err
    assert (out / "model.json").read_text() == old_spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "marker"]


def test_exporting_an_interrupted_run_says_so_first(data_dir, run_dir, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "marker"
    _kill_at(_start(*_train(data_dir, run, 3), pause="backup-renamed:1", marker=marker), marker)
    proc = run_cli(*_export(run, tmp_path / "bundle"), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    assert "is an interrupted run (2 epochs finished)" in first and "--resume" in first


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot create: /sys refuses even root; else a read-only folder."""
    if os.geteuid() == 0:
        return Path("/sys/edgecam-test-out/sub")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "sub"


@pytest.mark.parametrize("command", ["train", "export", "evaluate"])
def test_an_unwritable_out_is_one_line_before_any_work(data_dir, run_dir, tmp_path, command):
    out = _unwritable(tmp_path)
    args = {
        "train": _train(data_dir, out, 1),
        "export": _export(run_dir, out),
        "evaluate": ["evaluate", "--model", str(run_dir / "best.keras"), "--run", str(run_dir),
                     "--out", str(out)],
    }[command]  # fmt: skip
    proc = run_cli(*args, timeout=120)
    assert_one_line_error(proc, "cannot write to --out", str(out))
    assert proc.stdout == ""  # nothing loaded, nothing trained
