"""edgecam teach: the head in numpy, the graph it appends, the bundle it writes, in every runtime.

Runs in the Pi environment too (tflite-runtime, numpy < 2, no TensorFlow, no ai-edge-litert):
the tiny embedders under tests/fixtures (``make_fixtures.py``, ``teach_*``) stand in for real
ones; the shared MobileNet embedder is used only when ../shared/models is there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FIXTURES, REPO, assert_one_line_error, has_module, run_cli

from edgecam.bundle import resolve_model
from edgecam.config import ClassifierOptions, Delegate, Runtime
from edgecam.errors import DelegateError, EdgecamError, ModelError
from edgecam.runtime.engine import EngineOptions, open_engine
from edgecam.teach import FitConfig, Teacher, TeachError, TeachOptions, fit_head
from edgecam.teach.embedder import HEAD_OPS, read_embedder
from edgecam.teach.graph import ModelGraph
from edgecam.teach.head import Head, l2_normalize
from edgecam.vision.classifier import Classifier

EMBEDDER = FIXTURES / "teach_embedder_uint8.tflite"
EDGETPU = FIXTURES / "teach_embedder_uint8_edgetpu.tflite"
INT8 = FIXTURES / "teach_embedder_int8.tflite"
CLASSIFIER = FIXTURES / "teach_classifier_float32.tflite"
SHARED = REPO.parent / "shared" / "models" / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
# BGR base colours of the test classes; each image is the colour plus noise and a random patch.
CLASS_COLORS = {"red": (30, 30, 220), "green": (30, 200, 40), "blue": (210, 60, 30)}

HAS_TF = has_module("tensorflow")
RUNTIMES = [
    pytest.param(
        Runtime.LITERT,
        marks=pytest.mark.skipif(not has_module("ai_edge_litert"), reason="no ai-edge-litert"),
    ),
    pytest.param(
        Runtime.TFLITE_RUNTIME,
        marks=pytest.mark.skipif(not has_module("tflite_runtime"), reason="no tflite-runtime"),
    ),
    pytest.param(
        Runtime.TENSORFLOW,
        marks=pytest.mark.skipif(not HAS_TF, reason="no TensorFlow (.venv-train runs it)"),
    ),
]


def _image(color: str, rng: np.random.Generator, size: int = 40) -> np.ndarray:
    image = np.empty((size, size, 3), np.uint8)
    image[:] = CLASS_COLORS[color]
    noise = rng.normal(0, 25, image.shape)
    x, y = rng.integers(0, size // 2, 2)
    patch = rng.integers(0, 256, 3)
    image = np.clip(image + noise, 0, 255).astype(np.uint8)
    image[y : y + size // 4, x : x + size // 4] = patch
    return image


def _folder(root: Path, per_class: int, seed: int = 0, classes=tuple(CLASS_COLORS)) -> Path:
    rng = np.random.default_rng(seed)
    for color in classes:
        (root / color).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(root / color / f"{seed}_{i}.png"), _image(color, rng))
    return root


def _images(per_class: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for c, color in enumerate(sorted(CLASS_COLORS)):
        for _ in range(per_class):
            images.append(_image(color, rng))
            labels.append(c)
    return images, labels


# -- the head ----------------------------------------------------------------------------------


def test_l2_normalize_matches_tflite_epsilon():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], np.float32)
    out = l2_normalize(x)
    assert np.allclose(out[0], [0.6, 0.8])
    assert np.all(out[1] == 0)


def test_imprinting_alone_classifies_separable_clusters():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    y = np.repeat(np.arange(3), 20)
    x = centres[y] + rng.normal(0, 0.2, (60, 16))
    head = fit_head(x, y, 3, FitConfig(steps=0))
    assert np.mean(head.predict(x) == y) == 1.0
    # Imprinted rows are the class means' directions, scaled.
    assert np.allclose(np.linalg.norm(head.weights, axis=1), FitConfig().scale, rtol=1e-5)


def test_softmax_regression_improves_on_imprinting():
    rng = np.random.default_rng(1)
    # Overlapping clusters with a shared offset: the means alone separate them poorly.
    y = np.repeat(np.arange(2), 100)
    x = rng.normal(0, 1, (200, 8)) + 3.0
    x[:, 0] += np.where(y == 1, 1.2, -1.2)
    imprinted = fit_head(x, y, 2, FitConfig(steps=0))
    refined = fit_head(x, y, 2, FitConfig(steps=300))
    loss = [-np.mean(np.log(h.scores(x)[np.arange(200), y] + 1e-12)) for h in (imprinted, refined)]
    assert loss[1] < loss[0]
    assert np.mean(refined.predict(x) == y) > 0.85


# -- reading the graph -------------------------------------------------------------------------


def test_embedder_kinds_and_the_embedding_tensor():
    emb = read_embedder(EMBEDDER)
    assert emb.kind == "embedder" and not emb.is_cut
    assert emb.tensor.shape == (1, 1, 1, 12) and emb.tensor.dtype == "uint8"
    assert emb.tensor.quantized

    clf = read_embedder(CLASSIFIER)
    assert clf.kind == "classifier" and clf.is_cut
    assert clf.tensor.shape == (1, 12) and clf.tensor.dtype == "float32"
    assert [clf.graph.ops[i].name for i in clf.keep_ops] == ["CONV_2D", "MEAN"]

    int8 = read_embedder(INT8)
    assert int8.kind == "embedder" and int8.tensor.shape == (1, 12)
    assert int8.tensor.dtype == "int8" and int8.tensor.quantized

    tpu = read_embedder(EDGETPU)
    assert tpu.kind == "edgetpu" and tpu.edgetpu
    assert tpu.graph.op_names == ["edgetpu-custom-op"]
    assert tpu.tensor.shape == (1, 1, 1, 12)


def test_cut_names_a_tensor_and_bad_cuts_are_refused():
    graph = read_embedder(CLASSIFIER).graph
    name = graph.tensors[graph.ops[1].outputs[0]].name
    assert read_embedder(CLASSIFIER, cut=name).embedding == graph.ops[1].outputs[0]
    with pytest.raises(ModelError, match="no tensor"):
        read_embedder(CLASSIFIER, cut="no/such/tensor")
    conv_out = graph.ops[0].outputs[0]  # [1, 7, 7, 12]: not a vector
    with pytest.raises(ModelError, match="not a feature vector"):
        read_embedder(CLASSIFIER, cut=str(conv_out))


def test_not_a_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ModelError, match="TFL3"):
        read_embedder(bad)


def test_appended_head_graph_ops_tensors_and_quantization():
    emb = read_embedder(EMBEDDER)
    rng = np.random.default_rng(0)
    head = Head(rng.normal(size=(3, 12)).astype(np.float32), rng.normal(size=3).astype(np.float32))
    out = ModelGraph.read(emb.with_head(head))
    assert out.op_names == [*emb.graph.op_names, *HEAD_OPS]
    assert out.inputs == emb.graph.inputs
    (output,) = out.outputs
    probabilities = out.tensors[output]
    assert probabilities.name == "probabilities" and probabilities.shape == (1, 3)
    assert probabilities.dtype == "float32"
    # The old tensors are untouched (same names, shapes, quantization), the embedding included.
    assert out.tensors[: len(emb.graph.tensors)] == emb.graph.tensors
    weights = next(t for t in out.tensors if t.name == "teach/weights")
    assert weights.shape == (3, 12) and weights.has_data


def test_the_edgetpu_embedder_gets_the_head_after_its_custom_op():
    emb = read_embedder(EDGETPU)
    head = Head(np.eye(3, 12, dtype=np.float32), np.zeros(3, np.float32))
    out = ModelGraph.read(emb.with_head(head))
    assert out.op_names == ["edgetpu-custom-op", *HEAD_OPS]
    custom = out.ops[0]
    assert out.ops[1].inputs == custom.outputs  # DEQUANTIZE reads the custom op's output
    embedding = out.tensors[custom.outputs[0]]
    assert embedding.dtype == "uint8" and embedding.quantized
    assert embedding == emb.tensor  # scale and zero point as the compiler wrote them
    assert out.tensors[out.outputs[0]].dtype == "float32"


# -- teach, end to end -------------------------------------------------------------------------


@pytest.fixture
def data(tmp_path) -> Path:
    return _folder(tmp_path / "data", per_class=8)


def _teach(embedder: Path, data: Path, out: Path, **options) -> Teacher:
    teacher = Teacher(embedder, TeachOptions(**options))
    teacher.add_folder(data)
    teacher.fit()
    teacher.export(out)
    return teacher


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize(
    "embedder", [EMBEDDER, INT8, CLASSIFIER], ids=["uint8-embedder", "int8-embedder", "classifier"]
)
def test_the_bundle_gives_the_numpy_heads_scores(tmp_path, data, runtime, embedder):
    out = tmp_path / "bundle"
    with _teach(embedder, data, out, runtime=runtime) as teacher:
        report = teacher.report
        assert report.train_accuracy == 1.0
        images, labels = _images(per_class=5, seed=7)
        expected = teacher.scores(images)
    assert np.mean(expected.argmax(1) == labels) >= 0.9
    with Classifier(
        ClassifierOptions(model=out, runtime=runtime, top_k=3, delegate=Delegate.CPU)
    ) as clf:
        assert clf.labels == ["blue", "green", "red"]
        ops = [op for op in clf.engine.ops if op != "DELEGATE"]  # XNNPACK's nodes
        assert ops[-3:] == ["L2_NORMALIZATION", "FULLY_CONNECTED", "SOFTMAX"]
        for image, want in zip(images, expected, strict=True):
            raw = clf.engine.run(clf.preprocess(image)).reshape(-1)
            assert np.max(np.abs(raw - want)) < 1e-4
            assert clf.classify(image).top.label == clf.labels[int(want.argmax())]


def test_the_bundle_is_a_normal_bundle(tmp_path, data):
    out = tmp_path / "bundle"
    with _teach(EMBEDDER, data, out):
        pass
    assert sorted(p.name for p in out.iterdir()) == ["labels.txt", "model.json", "model.tflite"]
    files = resolve_model(out)
    assert files.labels == ["blue", "green", "red"]
    spec = files.spec
    assert spec.output.num_classes == 3 and spec.output.activation == "softmax"
    assert spec.input.width == 16 and spec.input.dtype == "uint8"
    assert spec.recipe["tool"] == "edgecam teach"
    assert spec.recipe["head"] == list(HEAD_OPS)
    assert spec.dataset["report"]["train_accuracy"] == 1.0
    # The bare model carries its labels and model.json.
    bare = resolve_model(out / "model.tflite")
    assert bare.labels == ["blue", "green", "red"]
    assert bare.spec is not None and bare.spec.output.num_classes == 3
    # The TFLITE_METADATA entry that names labels.txt, in every environment (the Pi's too,
    # where edgecam.metadata cannot rewrite a model: teach writes it with the graph).
    assert (
        ModelGraph.read((out / "model.tflite").read_bytes()).metadata.count("TFLITE_METADATA") == 1
    )


def test_embeddings_are_cached_by_content(tmp_path, data):
    cache = tmp_path / "cache"
    with Teacher(EMBEDDER, TeachOptions(cache_dir=cache)) as first:
        first.add_folder(data)
        first.fit()
        assert (first.embedded, first.cached) == (24, 0)
    assert list(cache.glob("embeddings-*.npz"))
    # Another run: nothing is embedded again; a new class embeds only its own images.
    _folder(data, per_class=4, seed=3, classes=("red",))
    (data / "dark").mkdir()
    rng = np.random.default_rng(4)
    for i in range(5):
        cv2.imwrite(str(data / "dark" / f"{i}.png"), rng.integers(0, 40, (40, 40, 3), np.uint8))
    with Teacher(EMBEDDER, TeachOptions(cache_dir=cache)) as second:
        counts = second.add_folder(data)
        assert counts == {"blue": 8, "dark": 5, "green": 8, "red": 12}
        report = second.fit()
        assert (second.embedded, second.cached) == (9, 24)  # only the new images
        assert report.embedded == 9
    # The same image twice in one Teacher counts once.
    with Teacher(EMBEDDER) as teacher:
        rng = np.random.default_rng(0)
        image = _image("red", rng)
        assert teacher.add_images("red", [image, image.copy()]) == 1


def test_embed_gives_what_the_head_sees_and_caches_only_when_asked(tmp_path):
    rng = np.random.default_rng(7)
    images = [_image(c, rng) for c in ("red", "green", "blue")]
    cache = tmp_path / "cache"
    with Teacher(EMBEDDER, TeachOptions(cache_dir=cache)) as teacher:
        plain = teacher.embed(images)
        assert plain.shape == (3, teacher.embedder.dim) and plain.dtype == np.float32
        assert teacher.embedded == 0  # a frame's embedding is not kept
        assert np.array_equal(teacher.embed(images, cached=True), plain)
        assert (teacher.embedded, teacher.cached) == (3, 0)
        teacher.save_cache()
        assert teacher.embed(np.zeros((0, 40, 40, 3), np.uint8)).shape == (0, teacher.embedder.dim)
    with Teacher(EMBEDDER, TeachOptions(cache_dir=cache)) as again:
        assert np.array_equal(again.embed(images, cached=True), plain)
        assert (again.embedded, again.cached) == (0, 3)
        again.add_images("red", images[:1])
        again.add_images("green", images[1:2])
        again.fit()
        assert np.allclose(again.scores(images[:2]), again.head.scores(plain[:2]))


def test_split_is_stable_when_images_are_added(tmp_path):
    data = _folder(tmp_path / "d", per_class=10)
    with Teacher(EMBEDDER) as teacher:
        teacher.add_folder(data)
        before = {k for k, s in teacher._samples.items() if s.validation}
        report = teacher.fit()
        assert report.validation_samples == len(before) > 0
        _folder(data, per_class=5, seed=9)
        teacher.add_folder(data)
        after = {k for k, s in teacher._samples.items() if s.validation}
        assert before <= after


def test_augment_adds_copies_of_training_images_only(tmp_path, data):
    with Teacher(EMBEDDER, TeachOptions(augment=2, validation=0.3)) as teacher:
        teacher.add_folder(data)
        report = teacher.fit()
    train = sum(c.train for c in report.classes)
    assert report.train_samples == 3 * train
    assert report.validation_samples == sum(c.validation for c in report.classes)


def test_report_has_a_per_class_table(tmp_path, data):
    with Teacher(EMBEDDER) as teacher:
        teacher.add_folder(data)
        text = teacher.fit().format()
    assert "train accuracy" in text
    for color in CLASS_COLORS:
        assert color in text


def test_python_api_add_images_and_remove_class(tmp_path):
    images, labels = _images(per_class=6, seed=1)
    names = sorted(CLASS_COLORS)
    with Teacher(EMBEDDER) as teacher:
        for c, name in enumerate(names):
            teacher.add_images(name, [im for im, y in zip(images, labels, strict=True) if y == c])
        teacher.remove_class("green")
        assert teacher.classes == ["blue", "red"]
        report = teacher.fit()
        assert [c.name for c in report.classes] == ["blue", "red"]
        teacher.export(tmp_path / "b")
    assert resolve_model(tmp_path / "b").labels == ["blue", "red"]


def test_refusals(tmp_path, data):
    with Teacher(EMBEDDER) as teacher:
        with pytest.raises(TeachError, match="two classes"):
            teacher.fit()
        with pytest.raises(TeachError, match="not fitted"):
            teacher.export(tmp_path / "b")
        teacher.add_folder(data)
        teacher.fit()
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "notes.txt").write_text("mine")
        with pytest.raises(TeachError, match="other files"):
            teacher.export(busy)
        assert (busy / "notes.txt").exists()
    with pytest.raises(TeachError, match="no class folders"):
        Teacher(EMBEDDER).add_folder(tmp_path / "busy")


def test_edgetpu_embedder_with_its_cpu_twin(tmp_path, data):
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(EMBEDDER, models / "tiny.tflite")
    shutil.copy(EDGETPU, models / "tiny_edgetpu.tflite")
    out = tmp_path / "bundle"
    with _teach(models / "tiny_edgetpu.tflite", data, out):
        pass
    assert (out / "model_edgetpu.tflite").exists()
    tpu = ModelGraph.read((out / "model_edgetpu.tflite").read_bytes())
    assert tpu.op_names == ["edgetpu-custom-op", *HEAD_OPS]
    cpu = ModelGraph.read((out / "model.tflite").read_bytes())
    assert cpu.op_names[-len(HEAD_OPS) :] == list(HEAD_OPS)
    # Both carry the same head.
    weights = [next(t for t in g.tensors if t.name == "teach/weights").buffer for g in (tpu, cpu)]
    assert all(w > 0 for w in weights)
    # The CPU refuses the Edge TPU model clearly.
    with pytest.raises(DelegateError, match="Edge TPU") as err:
        open_engine(
            resolve_model(out / "model_edgetpu.tflite"), EngineOptions(delegate=Delegate.CPU)
        )
    assert "--delegate edgetpu" in err.value.hint
    # And the bundle runs: on the CPU, and with --delegate auto, which finds no Edge TPU here and
    # falls back to the CPU model.
    for delegate in (Delegate.CPU, Delegate.AUTO):
        with Classifier(ClassifierOptions(model=out, delegate=delegate)) as clf:
            assert clf.engine.delegate is Delegate.CPU
            assert clf.classify(_images(1, 2)[0][0]).top.label in CLASS_COLORS


def test_a_bundle_with_an_edgetpu_model_gets_the_head_on_both(tmp_path, data):
    # What the catalogue installs for an Edge TPU twin: model.tflite + model_edgetpu.tflite.
    folder = tmp_path / "embedder-edgetpu"
    folder.mkdir()
    shutil.copy(EMBEDDER, folder / "model.tflite")
    shutil.copy(EDGETPU, folder / "model_edgetpu.tflite")
    out = tmp_path / "bundle"
    with _teach(folder, data, out):
        pass
    tpu = ModelGraph.read((out / "model_edgetpu.tflite").read_bytes())
    assert tpu.op_names == ["edgetpu-custom-op", *HEAD_OPS]
    cpu = ModelGraph.read((out / "model.tflite").read_bytes())
    assert "edgetpu-custom-op" not in cpu.op_names
    assert cpu.op_names[-len(HEAD_OPS) :] == list(HEAD_OPS)


def test_edgetpu_embedder_without_twin_or_edgetpu_is_refused(tmp_path):
    lone = tmp_path / "lone_edgetpu.tflite"
    shutil.copy(EDGETPU, lone)
    with pytest.raises(EdgecamError, match="Edge TPU") as err:
        Teacher(lone)
    assert "CPU version" in err.value.hint or "Coral" in err.value.hint


# -- the command line --------------------------------------------------------------------------


def test_cli_teach_then_info_and_classify(tmp_path, data):
    out = tmp_path / "bundle"
    proc = run_cli(
        "teach", "--embedder", str(EMBEDDER), "--data", str(data), "--out", str(out),
        "--cache", str(tmp_path / "cache"), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["train_accuracy"] == 1.0 and len(report["classes"]) == 3
    info = run_cli("info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    ops = json.loads(info.stdout)["ops"]
    text = json.dumps(ops)
    for op in HEAD_OPS:
        assert op in text
    image = tmp_path / "red.png"
    cv2.imwrite(str(image), _image("red", np.random.default_rng(5)))
    classify = run_cli("classify", "--model", str(out), str(image))
    assert classify.returncode == 0, classify.stderr
    assert ": red" in classify.stdout


def test_cli_teach_errors_are_one_line(tmp_path):
    proc = run_cli(
        "teach", "--embedder", str(EMBEDDER), "--data", str(tmp_path / "nope"),
        "--out", str(tmp_path / "b"), "--no-cache",
    )  # fmt: skip
    assert_one_line_error(proc, "not found")


# -- the shared MobileNet embedder (skips in a user's clone) -----------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/models is not here (a user's clone)")
def test_shared_mobilenet_embedder_end_to_end(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from teach_data import write_folder

    train = write_folder(tmp_path / "train", per_class=6, seed=0)
    test = write_folder(tmp_path / "test", per_class=3, seed=1)
    out = tmp_path / "bundle"
    with _teach(SHARED, train, out, threads=2) as teacher:
        paths = sorted(test.rglob("*.png"))
        images = [cv2.imread(str(p)) for p in paths]
        expected = teacher.scores(images)
    with Classifier(ClassifierOptions(model=out, threads=2, delegate=Delegate.CPU)) as clf:
        assert [op for op in clf.engine.ops if op != "DELEGATE"][-1] == "SOFTMAX"
        for image, want in zip(images, expected, strict=True):
            raw = clf.engine.run(clf.preprocess(image)).reshape(-1)
            assert np.max(np.abs(raw - want)) < 1e-4
            assert int(raw.argmax()) == int(want.argmax())


@pytest.mark.parametrize("embedder", [EMBEDDER, CLASSIFIER], ids=["embedder", "classifier"])
def test_the_signature_names_the_new_output(embedder):
    from edgecam.runtime.backends import load_backend

    emb = read_embedder(embedder)
    head = Head(np.eye(3, 12, dtype=np.float32), np.zeros(3, np.float32))
    interpreter = load_backend(Runtime.AUTO).Interpreter(model_content=emb.with_head(head))
    signatures = interpreter.get_signature_list()
    assert signatures == {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}
    runner = interpreter.get_signature_runner()
    image = np.zeros(emb.input.shape, emb.input.dtype)
    out = runner(image=image)
    assert out["probabilities"].shape == (1, 3)


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.exists(), reason="../shared/models is not here (a user's clone)")
def test_shared_edgetpu_embedder_gets_the_head_after_its_custom_op(tmp_path):
    import sys

    sys.path.insert(0, str(REPO / "benchmarks"))
    from teach_data import write_folder

    tpu_model = SHARED.with_name(SHARED.stem + "_edgetpu.tflite")
    train = write_folder(tmp_path / "train", per_class=3, seed=0)
    out = tmp_path / "bundle"
    with _teach(tpu_model, train, out, threads=2) as teacher:
        assert teacher.cpu_embedder is not None  # embedded with the CPU twin
    graph = ModelGraph.read((out / "model_edgetpu.tflite").read_bytes())
    assert graph.op_names == ["edgetpu-custom-op", *HEAD_OPS]
    embedding = graph.tensors[graph.ops[0].outputs[0]]
    assert embedding.shape == (1, 1, 1, 1024) and embedding.dtype == "uint8"
    assert embedding.scale == pytest.approx(0.0235285, rel=1e-4)
    with pytest.raises(DelegateError, match="Edge TPU"):
        open_engine(
            resolve_model(out / "model_edgetpu.tflite"), EngineOptions(delegate=Delegate.CPU)
        )


def test_augmented_copies_are_deterministic_and_differ():
    from edgecam.teach.augment import augment

    image = _image("red", np.random.default_rng(0))
    a, b, c = augment(image, 1), augment(image, 1), augment(image, 2)
    assert np.array_equal(a, b)
    assert a.dtype == np.uint8 and a.ndim == 3
    assert a.shape != c.shape or not np.array_equal(a, c)
    assert min(a.shape[:2]) >= int(0.8 * 40)


def test_int8_embedder_head_starts_with_dequantize_version_2():
    emb = read_embedder(INT8)
    head = Head(np.eye(3, 12, dtype=np.float32), np.zeros(3, np.float32))
    out = ModelGraph.read(emb.with_head(head))
    # [1, 12] already: no RESHAPE.
    assert out.op_names[-4:] == ["DEQUANTIZE", "L2_NORMALIZATION", "FULLY_CONNECTED", "SOFTMAX"]
    assert (6, None, 2) in out.op_codes  # DEQUANTIZE v2 reads int8


def test_a_teach_bundle_can_be_taught_again(tmp_path, data):
    first = tmp_path / "first"
    with _teach(EMBEDDER, data, first):
        pass
    emb = read_embedder(first)  # a bundle folder: its model.tflite, cut before the old head
    assert emb.kind == "classifier"
    assert not {"L2_NORMALIZATION", "FULLY_CONNECTED"} & {
        emb.graph.ops[i].name for i in emb.keep_ops
    }
    with _teach(first, data, tmp_path / "second") as teacher:
        assert teacher.report.train_accuracy == 1.0


def test_importing_teach_loads_no_runtime_and_no_tensorflow():
    import subprocess
    import sys

    from conftest import CLI_CWD, cli_env

    code = (
        "import sys, edgecam.teach, edgecam.teach.graph, edgecam.teach.embedder\n"
        "bad = {m.split('.')[0] for m in sys.modules} & "
        "{'tensorflow', 'ai_edge_litert', 'tflite_runtime', 'flatbuffers', 'PyQt6'}\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, env=cli_env()
    )
    assert proc.returncode == 0, proc.stderr
