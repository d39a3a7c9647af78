"""Pulling catalogue models from a real HTTP server on 127.0.0.1: success, resume after a cut
connection, checksum and size mismatches, HTTP errors, timeouts, refusals, a full disk and
cancellation; what lands in the models home each time."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, has_module
from model_server import entry, model_server_fixture, write_catalogue  # noqa: F401

from edgecam.bundle import resolve_model as resolve_bundle
from edgecam.catalogue import (
    DownloadCancelled,
    DownloadError,
    ModelStore,
    load_catalogue,
    resolve_model,
)
from edgecam.catalogue.download import lock_file

COLOR = (FIXTURES / "color_float32.tflite").read_bytes()  # labels embedded
UINT8 = (FIXTURES / "color_uint8.tflite").read_bytes()  # labels in a separate file
LABELS = (FIXTURES / "color_labels_ids.txt").read_bytes()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("EDGECAM_HOME", str(home))
    return home


def catalogue_of(tmp_path, *entries):
    return load_catalogue(write_catalogue(tmp_path / "test-catalogue.json", list(entries)))


def files_under(folder: Path) -> list[str]:
    """The files under ``folder`` but the downloads' lock files."""
    files = (p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".lock"))
    return sorted(str(p.relative_to(folder)) for p in files)


def test_a_pull_installs_a_checked_bundle(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    store = ModelStore()
    seen = []
    folder = store.pull(cat.get("colors"), progress=lambda done, total: seen.append((done, total)))
    assert folder == home / "models" / "colors"
    assert (folder / "model.tflite").read_bytes() == COLOR
    assert store.is_downloaded(cat.get("colors"))
    assert seen[0] == (0, len(COLOR)) and seen[-1] == (len(COLOR), len(COLOR))
    files = resolve_bundle(folder)  # an ordinary bundle, labels from the model's metadata
    assert files.labels == ["red", "green", "blue"]
    assert files.spec.name == "colors"
    assert files.spec.raw["catalogue"]["sha256"] == hashlib.sha256(COLOR).hexdigest()
    assert files.spec.raw["input"]["width"] > 0  # read from the graph at install
    assert not list((home / "downloads").glob("*.part"))  # the .part became the model
    requests = len(model_server.requests)
    assert store.pull(cat.get("colors")) == folder  # already here: nothing asked
    assert len(model_server.requests) == requests


def test_separate_labels_are_pulled_and_checked_too(tmp_path, home, model_server):
    url = model_server.add("color_uint8.tflite", UINT8)
    labels_url = model_server.add("labels.txt", LABELS)
    labels = {"url": labels_url, "size": len(LABELS), "sha256": hashlib.sha256(LABELS).hexdigest()}
    cat = catalogue_of(tmp_path, entry("colors8", url, UINT8, labels=labels))
    folder = ModelStore().pull(cat.get("colors8"))
    assert (folder / "labels.txt").read_bytes() == LABELS
    files = resolve_bundle(folder)
    assert files.labels == ["red", "green", "blue"]
    assert files.labels_origin.endswith("labels.txt")


def test_a_cut_connection_is_resumed_with_a_range_request(tmp_path, home, model_server):
    half = len(COLOR) // 2
    url = model_server.add("color.tflite", COLOR, cut_after=half)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    folder = ModelStore(chunk=256).pull(cat.get("colors"))
    asked = model_server.asked("color.tflite")
    assert [r.range for r in asked] == [None, f"bytes={half}-"]
    assert (folder / "model.tflite").read_bytes() == COLOR


def test_a_download_cut_twice_resumes_on_the_next_pull(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR, cut_after=700, cuts=1)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    store = ModelStore(retries=0)
    with pytest.raises(DownloadError, match=r"cut the download .* at 700 of") as caught:
        store.pull(cat.get("colors"))
    assert "resumes" in caught.value.hint
    assert not store.path(cat.get("colors")).exists()  # no half model where models live
    parts = store.part_files(cat.get("colors"))
    assert len(parts) == 1 and parts[0].stat().st_size == 700
    assert parts[0].parent == home / "downloads"
    folder = store.pull(cat.get("colors"))
    assert model_server.asked("color.tflite")[-1].range == "bytes=700-"
    assert (folder / "model.tflite").read_bytes() == COLOR


def test_a_server_without_ranges_sends_the_whole_file_again(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR, cut_after=500, ranges=False)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    folder = ModelStore().pull(cat.get("colors"))
    assert (folder / "model.tflite").read_bytes() == COLOR  # a 200 restarts, never appends


def test_a_checksum_mismatch_installs_nothing(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    bad = entry("colors", url, COLOR, sha256="0" * 64)
    cat = catalogue_of(tmp_path, bad)
    store = ModelStore()
    with pytest.raises(DownloadError, match="checksum mismatch") as caught:
        store.pull(cat.get("colors"))
    assert "nothing was installed" in caught.value.hint
    assert not store.path(cat.get("colors")).exists()
    assert not store.part_files(cat.get("colors"))  # a resume would only add to bad bytes
    assert not store.is_downloaded(cat.get("colors"))


def test_a_size_mismatch_installs_nothing(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR, size=len(COLOR) + 10))
    with pytest.raises(DownloadError, match=rf"is {len(COLOR)} bytes, the catalogue says"):
        ModelStore().pull(cat.get("colors"))
    assert not (home / "models" / "colors").exists()


def test_http_404_is_one_clear_error(tmp_path, home, model_server):
    url = f"{model_server.base}/gone.tflite"
    cat = catalogue_of(tmp_path, entry("gone", url, COLOR))
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        ModelStore().pull(cat.get("gone"))
    assert url in str(caught.value)
    assert "check the entry's url" in caught.value.hint


def test_a_silent_server_times_out(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR, stall_s=30)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"stopped sending for 0.5 s at 0 of"):
        ModelStore(timeout=0.5).pull(cat.get("colors"))
    assert time.monotonic() - start < 10
    assert not (home / "models" / "colors").exists()


def test_a_refused_connection_and_an_unknown_host(tmp_path, home):
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cat = catalogue_of(
        tmp_path,
        entry("refused", f"http://127.0.0.1:{port}/m.tflite", COLOR),
        entry("nowhere", "https://models.nonexistent.invalid/m.tflite", COLOR),
    )
    with pytest.raises(DownloadError, match="refused the connection"):
        ModelStore(timeout=5).pull(cat.get("refused"))
    with pytest.raises(DownloadError, match=r"cannot look up models\.nonexistent\.invalid"):
        ModelStore(timeout=5).pull(cat.get("nowhere"))


def test_cancel_leaves_no_partial_file_in_the_model_folder(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    cancel = threading.Event()

    def progress(done, total):
        if done >= 512:
            cancel.set()

    store = ModelStore(chunk=256)
    with pytest.raises(DownloadCancelled, match="cancelled at 512 of"):
        store.pull(cat.get("colors"), progress=progress, cancel=cancel)
    assert not (home / "models" / "colors").exists()
    assert files_under(home) == [f"downloads/{store.part_files(cat.get('colors'))[0].name}"]
    folder = store.pull(cat.get("colors"))  # and the next pull resumes from there
    assert model_server.asked("color.tflite")[-1].range == "bytes=512-"
    assert (folder / "model.tflite").read_bytes() == COLOR


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_one_clear_error(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    store = ModelStore()
    part = store.staging / f"colors.model-{cat.get('colors').sha256[:12]}.part"
    part.parent.mkdir(parents=True)
    part.symlink_to("/dev/full")  # every write there fails with ENOSPC, as on a full disk
    with pytest.raises(DownloadError, match="the disk is full") as caught:
        store.pull(cat.get("colors"))
    assert "free some space" in caught.value.hint
    assert not (home / "models" / "colors").exists()


def test_remove_and_a_changed_catalogue_entry(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    store = ModelStore()
    store.pull(cat.get("colors"))
    newer = (FIXTURES / "color_int8.tflite").read_bytes()
    url2 = model_server.add("color2.tflite", newer)
    cat2 = catalogue_of(tmp_path, entry("colors", url2, newer))
    assert not store.is_downloaded(cat2.get("colors"))  # the entry now names other bytes
    folder = store.pull(cat2.get("colors"))  # replaces the folder whole
    assert (folder / "model.tflite").read_bytes() == newer
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]
    assert store.remove(cat2.get("colors"))
    assert not folder.exists()
    assert not store.remove(cat2.get("colors"))


def test_resolve_model_pulls_a_name_once(tmp_path, home, model_server):
    url = model_server.add("color.tflite", COLOR)
    path = write_catalogue(tmp_path / "c.json", [entry("colors", url, COLOR)])
    cat = load_catalogue(path)
    said = []
    folder = resolve_model("colors", say=said.append, catalogue=cat)
    assert folder == home / "models" / "colors"
    assert any("pulling" in line for line in said)
    said.clear()
    assert resolve_model("colors", say=said.append, catalogue=cat) == folder
    assert said == []
    assert len(model_server.asked("color.tflite")) == 1


def test_an_edgetpu_twin_is_a_bundle_with_its_cpu_model(tmp_path, home, model_server):
    tpu = (FIXTURES / "edgetpu_like.tflite").read_bytes()  # holds an edgetpu-custom-op
    cat = catalogue_of(
        tmp_path,
        entry("colors", model_server.add("c.tflite", COLOR), COLOR, edgetpu="colors-edgetpu"),
        entry("colors-edgetpu", model_server.add("c_edgetpu.tflite", tpu), tpu),
    )
    store = ModelStore(catalogue=cat, chunk=512)
    seen = []
    folder = store.pull(cat.get("colors-edgetpu"), progress=lambda d, t: seen.append((d, t)))
    assert (folder / "model_edgetpu.tflite").read_bytes() == tpu
    assert (folder / "model.tflite").read_bytes() == COLOR  # the CPU twin: a fallback
    assert store.is_downloaded(cat.get("colors"))  # pulled on the way, in its own folder
    assert store.is_downloaded(cat.get("colors-edgetpu"))
    total = len(COLOR) + len(tpu)
    assert {t for _, t in seen} == {total} and seen[-1] == (total, total)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # one bar across both files
    files = resolve_bundle(folder)
    assert files.edgetpu_model == folder / "model_edgetpu.tflite"
    assert files.labels == ["red", "green", "blue"]
    requests = len(model_server.requests)
    store.remove(cat.get("colors-edgetpu"))
    store.pull(cat.get("colors-edgetpu"))  # the CPU model is here: only the twin is fetched
    assert [r.path for r in model_server.requests[requests:]] == ["/c_edgetpu.tflite"]


@pytest.mark.skipif(not has_module("fcntl"), reason="advisory locks are POSIX")
def test_two_pulls_of_one_model_do_not_share_the_part_file(tmp_path, home, model_server):
    import fcntl

    url = model_server.add("color.tflite", COLOR)
    cat = catalogue_of(tmp_path, entry("colors", url, COLOR))
    store = ModelStore()
    part = store.staging / f"colors.model-{cat.get('colors').sha256[:12]}.part"
    part.parent.mkdir(parents=True)
    with lock_file(part).open("a") as held:  # as another process pulling it holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match=r"another edgecam is downloading color\.tflite"):
            store.pull(cat.get("colors"))
    assert model_server.requests == []
    assert store.pull(cat.get("colors")).is_dir()  # free again
    store.remove(cat.get("colors"))
    assert files_under(home) == [] and not list(store.staging.iterdir())
