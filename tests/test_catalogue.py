"""The catalogue's data: the package's entries (against the issue's table, and against the
real files in ../shared/models when present), user entries, validation and close matches."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from conftest import FIXTURES, INSTALLED, REPO
from model_server import entry, write_catalogue

from edgecam.catalogue import CatalogueError, load_catalogue, resolve_model
from edgecam.catalogue.entries import package_file
from edgecam.catalogue.progress import TerminalProgress
from edgecam.labels import read_embedded_labels
from edgecam.teach.graph import ModelGraph

SHARED_MODELS = REPO.parent / "shared" / "models"
BASE = "https://github.com/google-coral/test_data/raw/master/"
#: The issue's table (issue 11): file, bytes, sha256.
CORAL = {
    "mobilenet_v2_1.0_224_quant.tflite": (
        3610798,
        "7aad0c74c5e3c06e5eb3c827e13304fdd68a83da6087d92ee169c24ff9fd4776",
    ),
    "tf2_mobilenet_v2_1.0_224_ptq.tflite": (
        4070174,
        "5d3137241276e79c86d14a74fe43581398ae0e815191d3dba45495b810840e8c",
    ),
    "mobilenet_v1_0.75_192_quant.tflite": (
        2652542,
        "41daeb22fdcf947e0e5ec32373aa9df7c31f3ef45dbd0ef7b5940fbce3c20f6a",
    ),
    "mobilenet_v1_0.75_192_quant_edgetpu.tflite": (
        3029678,
        "ead897a0aa6d184fc1b4149e85aede5c2eb4b4c5644424c71c651f19f5761b33",
    ),
    "mobilenet_v1_0.5_160_quant.tflite": (
        1392846,
        "3cc6d2ca460abd2e0f699a6d0d2550c6b61c6e3b0e27a3616e384ea74cb86f43",
    ),
    "mobilenet_v1_0.5_160_quant_edgetpu.tflite": (
        1743534,
        "e8fc376452b2134637da71016e3d22a6013550bf40d032854c2cb5699da7c16e",
    ),
    "mobilenet_v1_0.25_128_quant.tflite": (
        525598,
        "cb273c23ee76374b05b9583177e28aa19744858a7679c56a250e83d0333da785",
    ),
    "mobilenet_v1_0.25_128_quant_edgetpu.tflite": (
        801454,
        "a4cb1e493346542248687939fbd7421ab92d74c58b1f0a0018b8f1bdddfcef7e",
    ),
    "mobilenet_v2_1.0_224_inat_bird_quant.tflite": (
        3579500,
        "350fcd8cf1df1560060d464595dfed8b174b05792788052896004848d9ad04f9",
    ),
    "mobilenet_v2_1.0_224_inat_insect_quant.tflite": (
        3655867,
        "0ebaeb474dccf56b8b818b014f0d6a8e22b35a45b491a659f0b5405c9c838282",
    ),
    "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite": (
        3251736,
        "f409ef4f73fcbb9667841965623c5c8524aac33d41b9bf5f3667161fb4a76319",
    ),
    "mobilenet_v1_1.0_224_quant_embedding_extractor_edgetpu.tflite": (
        3486336,
        "33a249155302975d7e28f72a5250903cdf7f7afb7bd1ceec3d2cd8ca9ce6a609",
    ),
}


@pytest.fixture(autouse=True)
def no_user_file(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECAM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDGECAM_CATALOGUE", raising=False)


def test_the_package_catalogue_is_the_issues_twelve_coral_files():
    cat = load_catalogue()
    assert package_file().name == "catalogue.json" and package_file().is_file()
    by_file = {e.file_name: e for e in cat.entries}
    assert set(by_file) == set(CORAL)
    for name, (size, sha) in CORAL.items():
        e = by_file[name]
        assert e.url == BASE + name
        assert (e.size, e.sha256) == (size, sha)
        assert e.license.startswith("Apache-2.0")
        assert e.labels is None  # embedded (classifiers) or none (embedders)
        assert e.kind == ("embedder" if "embedding" in name else "classifier")
    for e in cat.entries:  # every Edge TPU file is some entry's twin, and links back
        if e.file_name.endswith("_edgetpu.tflite"):
            assert e.cpu is not None and e.name == f"{e.cpu}-edgetpu"
            assert cat.get(e.cpu).edgetpu == e.name
            assert cat.get(e.cpu).file_name == e.file_name.replace("_edgetpu", "")
    for name in ("imagenet-mobilenet-v2", "birds", "insects", "embedder-mobilenet-v1"):
        assert cat.get(name).input.startswith("224x224x3")


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason="../shared/models is not here")
def test_the_catalogue_matches_the_real_files_in_shared_models():
    cat = load_catalogue()
    checked = 0
    for e in cat.entries:
        path = SHARED_MODELS / e.file_name
        if not path.is_file():
            continue
        data = path.read_bytes()
        assert len(data) == e.size, e.name
        assert hashlib.sha256(data).hexdigest() == e.sha256, e.name
        graph = ModelGraph.read(data, str(path))
        tensor = graph.tensors[graph.inputs[0]]
        shape = "x".join(str(d) for d in tensor.shape[1:])
        assert e.input == f"{shape} {tensor.dtype}", e.name
        if e.kind == "embedder":  # no labels to embed: the catalogue says "none"
            assert read_embedded_labels(path) is None
        checked += 1
    assert checked >= 1, f"no catalogue file in {SHARED_MODELS}"


def test_a_user_file_adds_and_overrides_entries(tmp_path):
    data = (FIXTURES / "color_float32.tflite").read_bytes()
    user = tmp_path / "home" / "catalogue.json"
    user.parent.mkdir()
    write_catalogue(
        user,
        [
            entry("my-colors", "https://example.org/c.tflite", data, description="mine"),
            entry("birds", "https://example.org/b.tflite", data),
        ],
    )
    cat = load_catalogue()
    assert cat.get("my-colors").description == "mine"
    assert cat.get("birds").url == "https://example.org/b.tflite"  # the user's wins
    assert [e.name for e in cat.entries].count("birds") == 1
    assert cat.entries[-1].name == "my-colors"  # new entries after the package's
    assert cat.files == (package_file(), user)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"sha256": "abc"}, "sha256 must be the file's SHA-256"),
        ({"size": -1}, "size must be the file's size in bytes"),
        ({"name": "Has Spaces"}, "must be lower-case letters"),
        ({"kind": "detector"}, "kind must be classifier or embedder"),
        ({"url": "ftp://x/y"}, "url must be an https://"),
        ({"labels": "somewhere"}, "labels must be"),
        ({"edgetpu": "no-such-entry"}, "edgetpu twin 'no-such-entry' is not an entry"),
    ],
)
def test_a_bad_entry_names_the_file_and_the_field(tmp_path, change, needle):
    data = b"x" * 10
    good = entry("fine", "https://example.org/m.tflite", data)
    path = write_catalogue(tmp_path / "c.json", [{**good, **change}])
    with pytest.raises(CatalogueError, match=r"c\.json") as caught:
        load_catalogue(path)
    assert needle in str(caught.value)


def test_bad_files(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogueError, match="is not valid JSON"):
        load_catalogue(bad_json)
    twice = write_catalogue(
        tmp_path / "twice.json", [entry("a", "https://e/a", b"1"), entry("a", "https://e/b", b"2")]
    )
    with pytest.raises(CatalogueError, match="'a' is listed twice"):
        load_catalogue(twice)
    future = tmp_path / "future.json"
    future.write_text(json.dumps({"format_version": 9, "entries": []}), encoding="utf-8")
    with pytest.raises(CatalogueError, match="format_version 9 is not supported"):
        load_catalogue(future)
    with pytest.raises(CatalogueError, match="catalogue file not found"):
        load_catalogue(tmp_path / "missing.json")


def test_close_matches_and_unknown_names():
    cat = load_catalogue()
    assert cat.close_matches("bird") == ["birds"]
    assert "imagenet-mobilenet-v2" in cat.close_matches("imagenet-mobilenet-v3")
    assert cat.close_matches("mobilenet-v1-0.5")[0] == "imagenet-mobilenet-v1-0.5"
    with pytest.raises(CatalogueError, match="no model called 'brids'") as caught:
        cat.get("brids")
    assert "did you mean birds" in caught.value.hint


def test_resolve_model_paths_win_and_unknown_names_fail(tmp_path):
    bundle = FIXTURES / "bundle_int8"
    assert resolve_model(str(bundle)) == bundle
    birds = tmp_path / "birds"  # a folder named like an entry is the folder
    birds.mkdir()
    assert resolve_model(str(birds)) == birds
    missing = tmp_path / "nope.tflite"  # path-like: left to the bundle code's own error
    assert resolve_model(str(missing)) == missing
    with pytest.raises(CatalogueError, match="model not found: insekts") as caught:
        resolve_model("insekts")
    assert "insects" in caught.value.hint
    with pytest.raises(CatalogueError, match="birds is not downloaded"):
        resolve_model("birds", pull_missing=False)
    assert not (tmp_path / "home" / "models").exists()  # nothing downloaded unasked


@pytest.mark.skipif(not INSTALLED, reason="the wheel is checked where `make test-pi` installs it")
def test_the_wheel_carries_the_catalogue():
    wheels = sorted((REPO / "dist").glob("edgecam-*.whl"))
    assert wheels, "make dist builds it"
    assert "edgecam/catalogue/catalogue.json" in zipfile.ZipFile(wheels[-1]).namelist()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only():
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = TerminalProgress("birds", stream)
        bar(0, 2_000_000)
        bar(1_000_000, 2_000_000)  # within 0.1 s of the last: skipped
        bar(2_000_000, 2_000_000)  # the end is always drawn
        bar.close()
    assert pipe.getvalue() == ""
    lines = terminal.getvalue().split("\r")[1:]
    assert len(lines) == 2
    assert lines[0].startswith("birds [" + "." * 30 + "]   0% 0.0 MB of 2.0 MB")
    assert lines[1] == "birds [" + "#" * 30 + "] 100% 2.0 MB of 2.0 MB\n"
