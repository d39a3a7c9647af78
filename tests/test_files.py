"""Atomic files and folders (edgecam.files): a kill at any moment leaves the old or the new."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import CLI_CWD, cli_env

from edgecam.files import (
    NO_EXCHANGE_ENV,
    atomic_write_text,
    new_staging_dir,
    recover_dir,
    replace_dir,
)

# A child that swaps a folder in, holding itself at the step named by argv[3] until killed.
CHILD = """
import sys, time
from pathlib import Path
from edgecam.files import new_staging_dir, replace_dir
target, hold = Path(sys.argv[1]), sys.argv[2]
staging = new_staging_dir(target)
(staging / "content").write_text("new")
def step(name):
    if name == hold:
        Path(sys.argv[3]).write_text("here")
        time.sleep(600)
replace_dir(staging, target, step)
"""


def folder_with(path, text):
    path.mkdir()
    (path / "content").write_text(text)
    return path


def test_replace_dir_puts_the_new_folder_in_place_and_removes_the_old(tmp_path, monkeypatch):
    for exchange in (True, False):
        if not exchange:
            monkeypatch.setenv(NO_EXCHANGE_ENV, "1")
        target = tmp_path / f"bundle-{exchange}"
        folder_with(target, "old")
        staging = new_staging_dir(target)
        assert staging.parent == target.parent and staging.name.startswith(f".{target.name}.")
        umask = os.umask(0)
        os.umask(umask)
        assert staging.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0o700
        (staging / "content").write_text("new")
        steps = []
        replace_dir(staging, target, steps.append)
        assert (target / "content").read_text() == "new"
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
        assert steps == (["swap"] if exchange else ["swap", "between-renames"])


def _kill_at(tmp_path, target, hold, exchange=True):
    marker = tmp_path / f"marker-{hold}"
    env = cli_env() if exchange else cli_env(**{NO_EXCHANGE_ENV: "1"})
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), hold, str(marker)], cwd=CLI_CWD, env=env
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the child never got there"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
def test_a_kill_before_the_swap_leaves_the_old_folder_and_recovery_cleans_up(tmp_path, exchange):
    target = folder_with(tmp_path / "bundle", "old")
    _kill_at(tmp_path, target, "swap", exchange)
    assert (target / "content").read_text() == "old"
    assert any(p.name.startswith(".bundle.staging-") for p in tmp_path.iterdir())
    done = recover_dir(target)
    assert done and "removed .bundle.staging-" in done[0]
    assert not any(p.name.startswith(".bundle.") for p in tmp_path.iterdir())


def test_a_kill_between_the_two_renames_is_undone_by_recovery(tmp_path):
    target = folder_with(tmp_path / "bundle", "old")
    _kill_at(tmp_path, target, "between-renames", exchange=False)
    assert not target.exists()  # the gap the exchange closes on Linux
    done = recover_dir(target)
    assert any("restored" in line for line in done), done
    assert (target / "content").read_text() == "old"
    assert not any(p.name.startswith(".bundle.") for p in tmp_path.iterdir())


def test_recovery_leaves_a_live_process_alone(tmp_path):
    target = folder_with(tmp_path / "bundle", "old")
    mine = tmp_path / f".bundle.staging-{os.getpid()}-abc"
    mine.mkdir()
    theirs = tmp_path / ".bundle.staging-notapid-abc"
    theirs.mkdir()
    assert recover_dir(target) == []
    assert mine.exists() and theirs.exists()


def test_atomic_write_keeps_permissions(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("a")
    path.chmod(0o640)
    atomic_write_text(path, "b")
    assert path.read_text() == "b" and path.stat().st_mode & 0o777 == 0o640
