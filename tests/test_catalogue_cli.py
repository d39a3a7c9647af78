"""``edgecam models`` and ``--model NAME``, as a user runs them: the real CLI in a child process,
a test catalogue of fixture models served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json

import cv2
import pytest
from conftest import FIXTURES, assert_one_line_error, run_cli, solid
from model_server import entry, model_server_fixture, write_catalogue  # noqa: F401

COLOR = (FIXTURES / "color_float32.tflite").read_bytes()


@pytest.fixture
def served(tmp_path, monkeypatch, model_server):
    """A catalogue with ``colors`` (fine) and its Edge TPU twin, ``gone`` (404), ``damaged``
    (wrong SHA-256) and ``stalled`` (a server that goes silent); EDGECAM_HOME: tmp_path/home."""
    url = model_server.add("color.tflite", COLOR)
    stalled = model_server.add("stalled.tflite", COLOR, stall_s=30)
    tpu = (FIXTURES / "edgetpu_like.tflite").read_bytes()
    tpu_url = model_server.add("color_edgetpu.tflite", tpu)
    entries = [
        entry("colors", url, COLOR, description="red, green or blue", edgetpu="colors-edgetpu"),
        entry("colors-edgetpu", tpu_url, tpu),
        entry("gone", f"{model_server.base}/gone.tflite", COLOR),
        entry("damaged", url, COLOR, sha256="1" * 64),
        entry("stalled", stalled, COLOR),
    ]
    catalogue = write_catalogue(tmp_path / "catalogue.json", entries)
    monkeypatch.setenv("EDGECAM_CATALOGUE", str(catalogue))
    monkeypatch.setenv("EDGECAM_HOME", str(tmp_path / "home"))
    return model_server


@pytest.fixture
def red_image(tmp_path):
    path = tmp_path / "red.png"
    cv2.imwrite(str(path), solid("red"))
    return path


def listed(name: str) -> dict:
    proc = run_cli("models", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {m["name"]: m for m in json.loads(proc.stdout)["models"]}[name]


def test_model_name_pulls_on_first_use_only(served, red_image, tmp_path):
    before = listed("colors")
    assert before["downloaded"] is False
    assert before["sha256"] == entry("colors", "", COLOR)["sha256"]
    assert before["size"] == len(COLOR)
    first = run_cli("classify", str(red_image), "--model", "colors")
    assert first.returncode == 0, first.stderr
    assert "colors is not downloaded yet: pulling it" in first.stderr
    assert "SHA-256 checked" in first.stderr
    assert "red" in first.stdout.split(":", 1)[1].split()[0]  # the top prediction
    second = run_cli("classify", str(red_image), "--model", "colors", "--json")
    assert second.returncode == 0, second.stderr
    assert "pulling" not in second.stderr
    assert json.loads(second.stdout)["predictions"][0]["label"] == "red"
    assert len(served.asked("color.tflite")) == 1  # one download for both runs
    after = listed("colors")
    assert after["downloaded"] is True
    assert after["classes"] == 3  # the labels embedded in the pulled model
    assert after["input"] == "32x32x3 float32"  # read from the pulled file
    assert after["path"] == str(tmp_path / "home" / "models" / "colors")


def test_info_and_bench_take_a_name(served):
    info = run_cli("info", "colors", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["labels"]["count"] == 3
    bench = run_cli("bench", "colors", "--runs", "3", "--warmup", "0", "--json")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["runs"] == 3


def test_an_unknown_name_lists_close_matches(served, red_image, tmp_path):
    proc = run_cli("classify", str(red_image), "--model", "colrs")
    assert_one_line_error(proc, "model not found: colrs", "did you mean colors")
    assert not (tmp_path / "home" / "models").exists()
    assert served.requests == []  # nothing was downloaded unasked


def test_pull_rm_and_where(served, tmp_path):
    home = tmp_path / "home" / "models"
    where = run_cli("models", "where")
    assert where.stdout.strip() == str(home)
    pull = run_cli("models", "pull", "colors")
    assert pull.returncode == 0, pull.stderr
    assert f"colors: SHA-256 checked, installed in {home / 'colors'}" in pull.stdout
    assert "[###" not in pull.stdout + pull.stderr  # no progress bar without a terminal
    again = run_cli("models", "pull", "colors")
    assert "already downloaded" in again.stdout
    assert len(served.asked("color.tflite")) == 1
    rm = run_cli("models", "rm", "colors")
    assert rm.returncode == 0 and "removed colors" in rm.stdout
    assert not (home / "colors").exists()
    assert "not downloaded" in run_cli("models", "rm", "colors").stdout


def test_pull_failures_are_one_line_each(served, tmp_path, monkeypatch):
    assert_one_line_error(run_cli("models", "pull", "gone"), "HTTP 404", "gone.tflite")
    assert_one_line_error(run_cli("models", "pull", "damaged"), "checksum mismatch")
    assert_one_line_error(run_cli("models", "pull", "colours"), "did you mean colors")
    monkeypatch.setenv("EDGECAM_DOWNLOAD_TIMEOUT", "0.5")
    assert_one_line_error(run_cli("models", "pull", "stalled"), "stopped sending for 0.5 s")
    models = tmp_path / "home" / "models"
    assert not models.exists() or not any(models.iterdir())


def test_pull_from_a_local_copy_needs_no_server(served, tmp_path):
    home = tmp_path / "home" / "models"
    copy = tmp_path / "copied.tflite"
    copy.write_bytes(COLOR)
    pull = run_cli("models", "pull", "colors", "--from", str(copy))
    assert pull.returncode == 0, pull.stderr
    assert (home / "colors" / "model.tflite").read_bytes() == COLOR
    assert not served.asked("color.tflite")  # nothing was downloaded
    assert listed("colors")["downloaded"]
    wrong = tmp_path / "other.tflite"
    wrong.write_bytes(COLOR[:-1] + b"x")  # same size, other bytes
    proc = run_cli("models", "pull", "damaged", "--from", str(wrong))
    assert_one_line_error(proc, f"--from {wrong} is not damaged's file", "checksum mismatch")
    proc = run_cli("models", "pull", "gone", "--from", str(tmp_path / "none.tflite"))
    assert_one_line_error(proc, "no such file")
    proc = run_cli("models", "pull", "gone", "damaged", "--from", str(copy))
    assert_one_line_error(proc, "--from gives the file of one model")
    assert not (home / "damaged").exists() and not (home / "gone").exists()


def test_service_install_names_the_pulled_folder(served, tmp_path):
    proc = run_cli(
        "service", "install", "--print", "--unit-dir", str(tmp_path / "units"),
        "--model", "colors", "--source", str(FIXTURES),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert str(tmp_path / "home" / "models" / "colors") in proc.stdout


def test_an_edgetpu_name_runs_on_the_cpu_without_a_coral(served, red_image):
    proc = run_cli("classify", str(red_image), "--model", "colors-edgetpu")
    assert proc.returncode == 0, proc.stderr
    assert "with its CPU model colors as a fallback" in proc.stderr
    assert proc.stdout.split(":", 1)[1].split()[0] == "red"
    assert listed("colors")["downloaded"] and listed("colors-edgetpu")["downloaded"]
    assert listed("colors")["edgetpu"] == "colors-edgetpu"
