"""Import hygiene: edgecam never imports TensorFlow, Qt stays in edgecam/gui, imports are cheap."""

from __future__ import annotations

import ast
import subprocess
import sys

import cv2
from conftest import CLI_CWD, FIXTURES, REPO, solid

PACKAGE = REPO / "edgecam"
HEAVY = ("tensorflow", "keras", "tf_keras")
QT = ("PyQt6", "PyQt5", "PySide6", "PySide2")


def _imported_roots(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_tensorflow_import_statement_in_edgecam():
    offenders = [
        str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if _imported_roots(p) & set(HEAVY)
    ]
    assert offenders == []


def test_qt_only_inside_edgecam_gui():
    offenders = [
        str(p.relative_to(REPO))
        for p in PACKAGE.rglob("*.py")
        if _imported_roots(p) & set(QT) and "gui" not in p.relative_to(PACKAGE).parts
    ]
    assert offenders == []


def test_importing_and_classifying_loads_neither_tensorflow_nor_qt(tmp_path):
    image = tmp_path / "red.png"
    cv2.imwrite(str(image), solid("red"))
    code = f"""
import sys
import edgecam, edgecam.cli, edgecam.pipeline, edgecam.headless, edgecam.capture, edgecam.vision
import edgecam.runtime.engine, edgecam.runtime.model_info, edgecam.runtime.benchmark
after_import = {{m.split('.')[0] for m in sys.modules}}
# Importing is cheap: no runtime is loaded until a model is.
assert not after_import & {{'ai_edge_litert', 'tflite_runtime'}}, after_import
assert edgecam.cli.main(['classify', {str(image)!r}, '--model',
                         {str(FIXTURES / "color_float32.tflite")!r}]) == 0
loaded = {{m.split('.')[0] for m in sys.modules}}
bad = loaded & {set(HEAVY + QT)!r}
assert not bad, bad
print('clean')
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean")
