"""`edgecam doctor`: the real probes where they run here (runtimes, numpy, XNNPACK, the default
model, no GPU, no Edge TPU, no camera), and controlled environments where they cannot: a fake
/dev, /sys, /etc and /proc tree in tmp_path, injected libraries, groups and child results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy
import pytest
from conftest import CLI_CWD, HAS_LITERT, REPO, assert_one_line_error, cli_env, run_cli

from edgecam import __version__, doctor
from edgecam.doctor import Check, Probes, Status, find_library, run_checks

RUNTIME = "ai-edge-litert" if HAS_LITERT else "tflite-runtime"
DEPLOY_RULE = REPO / "deploy" / "99-coral-edgetpu.rules"
ALL_NAMES = [
    "edgecam",
    "python",
    "platform",
    "runtime",
    "numpy",
    "default-model",
    "xnnpack",
    "threads",
    "edgetpu-library",
    "edgetpu-device",
    "edgetpu-permissions",
    "edgetpu-invoke",
    "vulkan",
    "gpu",
    "cameras",
    "picamera2",
    "display",
]


# --- the real probes, one run of the command for the whole module -------------------------


@pytest.fixture(scope="module")
def real_report() -> dict:
    proc = run_cli("doctor", "--json", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    report = json.loads(proc.stdout)
    report["rows"] = {row["name"]: row for row in report["checks"]}
    return report


def _has_real(glob: str) -> bool:
    return any(Path("/").glob(glob.lstrip("/")))


def test_the_real_report_has_every_check_and_is_healthy(real_report):
    assert real_report["ok"] is True
    assert real_report["edgecam"] == __version__
    names = [row["name"] for row in real_report["checks"]]
    for name in ALL_NAMES:
        assert name in names
    assert {row["status"] for row in real_report["checks"]} <= {"ok", "warn", "missing"}
    essential = {row["name"] for row in real_report["checks"] if row["essential"]}
    assert essential == {"runtime", "default-model"}


def test_real_runtime_and_numpy(real_report):
    rows = real_report["rows"]
    assert rows["runtime"]["status"] == "ok"
    assert f"--runtime auto uses {RUNTIME} {version(RUNTIME)}" in rows["runtime"]["detail"]
    assert rows[RUNTIME]["status"] == "ok"
    assert rows[RUNTIME]["detail"] == f"{version(RUNTIME)} imports"
    assert rows["numpy"]["status"] == "ok"
    assert rows["numpy"]["detail"].startswith(numpy.__version__)
    if not HAS_LITERT:  # the Pi environment: numpy < 2 with tflite-runtime
        assert int(numpy.__version__.split(".")[0]) < 2


def test_real_default_model_xnnpack_and_threads(real_report):
    rows = real_report["rows"]
    model = rows["default-model"]
    assert model["status"] == "ok", model
    assert "10 of 10 demo samples right" in model["detail"]
    assert RUNTIME in model["detail"]
    if HAS_LITERT:
        assert rows["xnnpack"]["status"] == "ok"
        assert rows["xnnpack"]["detail"].startswith("XNNPACK runs the default model")
    else:  # tflite-runtime 2.14 leaves int8 models to its own kernels
        assert rows["xnnpack"]["status"] == "warn"
        assert "built-in kernels, not XNNPACK" in rows["xnnpack"]["detail"]
        assert "ai-edge-litert" in rows["xnnpack"]["fix"]
    threads = rows["threads"]
    assert threads["status"] in ("ok", "warn")
    assert "--threads auto picks " in threads["detail"]
    assert f"{os.cpu_count()} cores" in threads["detail"]
    if not HAS_LITERT:  # the measured rule: more threads are slower there
        assert "picks 1 thread " in threads["detail"]


@pytest.mark.skipif(
    bool(find_library("libedgetpu.so.1")) or _has_real("/sys/bus/usb/devices/*/idVendor"),
    reason="this machine has libedgetpu or USB devices",
)
def test_real_no_edgetpu_here(real_report):
    rows = real_report["rows"]
    assert rows["edgetpu-library"]["status"] == "missing"
    assert "libedgetpu.so.1 not found" in rows["edgetpu-library"]["detail"]
    assert "libedgetpu1-std" in rows["edgetpu-library"]["fix"]
    assert rows["edgetpu-device"]["status"] == "missing"
    assert rows["edgetpu-invoke"] == {
        "name": "edgetpu-invoke",
        "status": "missing",
        "detail": "not tried: no Edge TPU device",
        "fix": "",
        "essential": False,
    }


def test_real_no_gpu_here(real_report):
    gpu = real_report["rows"]["gpu"]
    if HAS_LITERT:
        if gpu["status"] == "ok":
            pytest.skip("this machine has a GPU the LiteRT accelerator runs on")
        assert gpu["status"] == "missing"
        assert "no GPU adapter found" in gpu["detail"]
    else:
        assert gpu["status"] == "missing"
        assert "ai-edge-litert" in gpu["detail"]


@pytest.mark.skipif(_has_real("/dev/video*"), reason="this machine has /dev/video* nodes")
def test_real_no_camera_here(real_report):
    rows = real_report["rows"]
    assert rows["cameras"]["status"] == "missing"
    assert rows["cameras"]["detail"] == "no /dev/video* camera"
    assert rows["picamera2"]["status"] == "missing"  # not a Raspberry Pi


def test_real_display_without_one(real_report):
    # run_cli hides the display, as over SSH on a Pi.
    display = real_report["rows"]["display"]
    assert display["status"] == "warn"
    assert "`edgecam run` runs headless" in display["detail"]


def test_the_human_report():
    proc = run_cli("doctor", timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"edgecam doctor: edgecam {__version__}, ")
    for name in ALL_NAMES:
        assert any(line.split()[1:2] == [name] for line in lines if line.strip()), name
    assert any(line.strip().startswith("fix: ") for line in lines)
    assert lines[-1].startswith("edgecam runs here (")


def test_a_missing_edgetpu_model_is_one_error_line():
    proc = run_cli("doctor", "--edgetpu-model", "nope_edgetpu.tflite")
    assert_one_line_error(proc, "--edgetpu-model: no file nope_edgetpu.tflite")


# --- controlled environments -------------------------------------------------------------


class FakeChild:
    """Child probe results by probe name; records what was asked."""

    def __init__(self, **results: dict) -> None:
        self.results = {
            "runtime": {"version": "2.3.0", "numpy": "1.26.4"},
            "model": {
                "model": "/x/default",
                "name": "fashion",
                "input_dtype": "uint8",
                "runtime": "ai-edge-litert 2.3.0",
                "delegate": "cpu (XNNPACK, 2 threads, fastest here (1: 0.2 ms, 2: 0.1 ms))",
                "xnnpack": True,
                "threads": 2,
                "load_s": 0.1,
                "samples": [
                    {"file": f"{i}_x.png", "expected": "x", "got": "X", "correct": True}
                    for i in range(10)
                ],
            },
            "gpu": {"error": "the GPU accelerator could not start (no GPU adapter found)"},
            "edgetpu": {"runtime": "ai-edge-litert 2.3.0", "opened": True},
            "picamera2": {"version": "0.3.19", "cameras": 1},
            **results,
        }
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, probe: str, *args: str) -> dict:
        self.calls.append((probe, *args))
        result = self.results[probe]
        return result(*args) if callable(result) else result


def probes(root: Path, **kw) -> Probes:
    """A Raspberry Pi 5 with ai-edge-litert, as the tests want it, under ``root``."""
    settings = {
        "root": root,
        "system": "Linux",
        "machine": "aarch64",
        "pointer_bits": 64,
        "python_version": (3, 11, 2),
        "cpu_count": 4,
        "usable_cores": 4,
        "numpy_version": "1.26.4",
        "user": "pi",
        "uid": 1000,
        "groups": frozenset({"pi", "plugdev", "video"}),
        "can_open": lambda path: True,
        "node_group": lambda path: "video",
        "child": FakeChild(),
        "has_module": lambda name: name == "ai_edge_litert",
        "display_problem": lambda: None,
        "run": _no_commands,
    }
    settings.update(kw)
    return Probes(**settings)


def _no_commands(cmd, timeout=10.0):
    raise AssertionError(f"no command should run here: {cmd}")


def rows(p: Probes) -> dict[str, Check]:
    return {c.name: c for c in run_checks(p)}


def write(root: Path, path: str, text: str | bytes = "") -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return target


def usb_device(root: Path, port: str, ids: str, speed: str = "5000", bus: int = 2, dev: int = 3):
    vendor, product = ids.split(":")
    for name, value in (
        ("idVendor", vendor),
        ("idProduct", product),
        ("speed", speed),
        ("busnum", str(bus)),
        ("devnum", str(dev)),
    ):
        write(root, f"/sys/bus/usb/devices/{port}/{name}", value + "\n")
    write(root, f"/dev/bus/usb/{bus:03d}/{dev:03d}")


def test_an_empty_tree_is_healthy_with_optional_hardware_missing(tmp_path):
    found = rows(probes(tmp_path))
    assert doctor.healthy(found.values())
    for name in ("edgetpu-library", "edgetpu-device", "edgetpu-invoke", "vulkan", "cameras"):
        assert found[name].status is Status.MISSING, found[name]
    assert found["edgetpu-permissions"].status is Status.MISSING
    assert "1a6e:089a and 18d1:9302" in found["edgetpu-permissions"].detail
    assert "deploy/99-coral-edgetpu.rules" in found["edgetpu-permissions"].fix


@pytest.mark.parametrize(
    ("ids", "state"), [("1a6e:089a", "before its firmware loads"), ("18d1:9302", "ready")]
)
def test_a_coral_usb_accelerator_before_and_after_its_firmware(tmp_path, ids, state):
    usb_device(tmp_path, "2-1", ids)
    usb_device(tmp_path, "1-1.3", "046d:0825", bus=1, dev=4)  # a webcam: not a Coral
    found = rows(probes(tmp_path))
    device = found["edgetpu-device"]
    assert device.status is Status.OK
    assert device.detail == f"USB Accelerator {ids} at 2-1 ({state}, 5000 Mbit/s)"


def test_a_coral_on_a_usb2_port_is_a_warning(tmp_path):
    usb_device(tmp_path, "1-1", "18d1:9302", speed="480")
    device = rows(probes(tmp_path))["edgetpu-device"]
    assert device.status is Status.WARN
    assert "USB 3" in device.fix


def test_a_pcie_coral(tmp_path):
    write(tmp_path, "/dev/apex_0")
    found = rows(probes(tmp_path))
    assert found["edgetpu-device"].status is Status.OK
    assert found["edgetpu-device"].detail == "PCIe/M.2 apex_0"


def test_the_shipped_udev_rule_covers_both_ids_for_plugdev(tmp_path):
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    usb_device(tmp_path, "2-1", "1a6e:089a")
    perms = rows(probes(tmp_path))["edgetpu-permissions"]
    assert perms.status is Status.OK, perms
    assert perms.detail == "udev rule 99-coral-edgetpu.rules (group plugdev); runs as pi"


def test_the_deploy_rule_file():
    text = DEPLOY_RULE.read_text()
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(rules) == 2
    for ids in ('"1a6e", ATTRS{idProduct}=="089a"', '"18d1", ATTRS{idProduct}=="9302"'):
        (line,) = [r for r in rules if ids in r]
        assert line.startswith('SUBSYSTEMS=="usb", ATTRS{idVendor}==')
        assert line.endswith('MODE="0664", GROUP="plugdev"')


def test_a_package_rule_under_lib_udev_and_a_vendor_only_rule(tmp_path):
    write(
        tmp_path,
        "/lib/udev/rules.d/60-libedgetpu1-std.rules",
        'SUBSYSTEMS=="usb", ATTRS{idVendor}=="1a6e", MODE="0664", GROUP="plugdev"\n'
        '# SUBSYSTEMS=="usb", ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302"\n'
        'SUBSYSTEMS=="usb", ATTRS{idVendor}=="18d1", \\\n'
        '  ATTRS{idProduct}=="9302", MODE="0666"\n',
    )
    perms = rows(probes(tmp_path))["edgetpu-permissions"]
    assert perms.status is Status.OK, perms
    assert "(everyone)" in perms.detail and "(group plugdev)" in perms.detail


def test_a_rule_for_one_id_only(tmp_path):
    write(
        tmp_path,
        "/etc/udev/rules.d/70-coral.rules",
        'SUBSYSTEMS=="usb", ATTRS{idVendor}=="18d1", ATTRS{idProduct}=="9302", GROUP="plugdev"\n',
    )
    perms = rows(probes(tmp_path))["edgetpu-permissions"]
    assert perms.status is Status.MISSING
    assert perms.detail == "no udev rule for the Coral USB ids 1a6e:089a"


def test_not_in_plugdev(tmp_path):
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    write(tmp_path, "/etc/group", "plugdev:x:46:\nvideo:x:44:pi\n")
    perms = rows(probes(tmp_path, groups=frozenset({"pi"})))["edgetpu-permissions"]
    assert perms.status is Status.MISSING
    assert "pi is not in the plugdev group" in perms.detail
    assert perms.fix == "sudo usermod -aG plugdev pi, then log out and in again"


def test_added_to_plugdev_since_the_login(tmp_path):
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    write(tmp_path, "/etc/group", "plugdev:x:46:alice,pi\n")
    perms = rows(probes(tmp_path, groups=frozenset({"pi"})))["edgetpu-permissions"]
    assert perms.status is Status.WARN
    assert "added to the plugdev group after this login began" in perms.detail
    assert "log out and in again" in perms.fix


def test_root_needs_no_group(tmp_path):
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    found = rows(probes(tmp_path, uid=0, user="root", groups=frozenset({"root"})))
    assert found["edgetpu-permissions"].status is Status.OK
    assert found["edgetpu-permissions"].detail.endswith("runs as root")


def test_a_usb_node_the_user_cannot_open(tmp_path):
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    usb_device(tmp_path, "2-1", "18d1:9302", bus=2, dev=7)
    blocked = tmp_path / "dev/bus/usb/002/007"
    found = rows(probes(tmp_path, can_open=lambda path: path != blocked))
    perms = found["edgetpu-permissions"]
    assert perms.status is Status.MISSING
    assert f"pi cannot open {blocked} (the Coral at 2-1)" in perms.detail


def test_an_apex_node_the_user_cannot_open(tmp_path):
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    node = write(tmp_path, "/dev/apex_0")
    perms = rows(probes(tmp_path, can_open=lambda p: False, node_group=lambda p: "root"))[
        "edgetpu-permissions"
    ]
    assert perms.status is Status.MISSING
    assert f"pi cannot open {node} (group root)" in perms.detail
    assert 'SUBSYSTEM=="apex"' in perms.fix and "usermod -aG apex pi" in perms.fix


def test_the_library_finder_reads_the_tree(tmp_path):
    assert find_library("libedgetpu.so.1", tmp_path) is None
    lib = write(tmp_path, "/usr/lib/aarch64-linux-gnu/libedgetpu.so.1")
    assert find_library("libedgetpu.so.1", tmp_path) == str(lib)
    found = rows(probes(tmp_path))  # the default finder, under the root
    assert found["edgetpu-library"].status is Status.OK
    assert found["edgetpu-library"].detail == f"{lib} (version unknown: not from a Debian package)"
    assert found["vulkan"].status is Status.MISSING
    vulkan = write(tmp_path, "/usr/lib/libvulkan.so.1")
    assert rows(probes(tmp_path))["vulkan"].detail == f"libvulkan.so.1 at {vulkan}"


def test_missing_library_paths(tmp_path):
    found = rows(probes(tmp_path, find_library=lambda name: None))
    lib = found["edgetpu-library"]
    assert lib.status is Status.MISSING and lib.detail == "libedgetpu.so.1 not found"
    assert "apt-get install libedgetpu1-std" in lib.fix
    assert found["vulkan"].status is Status.MISSING
    assert "libvulkan1" in found["vulkan"].fix


def test_the_libedgetpu_version_from_dpkg():
    asked = []

    def run(cmd, timeout=10.0):
        asked.append(cmd)
        out = "libedgetpu1-std 16.0 ii \nlibedgetpu1-max 16.0 un \n"
        return subprocess.CompletedProcess(cmd, 1, out, "")

    p = Probes(root=Path("/"), find_library=lambda name: f"/usr/lib/{name}", run=run)
    check = doctor._Doctor(p).check_edgetpu_library()
    assert check.status is Status.OK
    assert check.detail == "/usr/lib/libedgetpu.so.1 (libedgetpu1-std 16.0)"
    assert asked[0][:2] == ["dpkg-query", "-W"]


def _edgetpu_ready(root: Path) -> None:
    usb_device(root, "2-1", "18d1:9302")
    write(root, "/usr/lib/libedgetpu.so.1")


def test_the_edgetpu_invoke_without_a_model(tmp_path):
    _edgetpu_ready(tmp_path)
    child = FakeChild()
    invoke = rows(probes(tmp_path, child=child))["edgetpu-invoke"]
    assert invoke.status is Status.WARN
    assert invoke.detail == "libedgetpu opened the device (ai-edge-litert 2.3.0); no model invoked"
    assert "--edgetpu-model" in invoke.fix and "edgetpu_compiler" in invoke.fix
    assert ("edgetpu",) in child.calls


def test_the_edgetpu_invoke_with_a_model(tmp_path):
    _edgetpu_ready(tmp_path)
    model = write(tmp_path, "m_edgetpu.tflite", b"x")
    child = FakeChild(edgetpu={"runtime": "r 1", "opened": True, "first_ms": 812, "median_ms": 2.5})
    invoke = rows(probes(tmp_path, child=child, edgetpu_model=model))["edgetpu-invoke"]
    assert invoke.status is Status.OK
    assert invoke.detail.startswith("m_edgetpu.tflite ran on the Edge TPU: first invoke 812.0 ms")
    assert ("edgetpu", str(model.resolve())) in child.calls


def test_the_edgetpu_runtime_version_skew(tmp_path):
    _edgetpu_ready(tmp_path)
    model = write(tmp_path, "m_edgetpu.tflite", b"x")
    error = (
        "Failed precondition: Package requires runtime version (14), which is newer than this "
        "runtime version (13)."
    )
    child = FakeChild(edgetpu={"error": error})
    invoke = rows(probes(tmp_path, child=child, edgetpu_model=model))["edgetpu-invoke"]
    assert invoke.status is Status.MISSING
    assert "runtime version (14)" in invoke.detail
    assert "--min_runtime_version" in invoke.fix


def test_the_edgetpu_invoke_is_not_tried_without_a_device_or_library(tmp_path):
    child = FakeChild()
    invoke = rows(probes(tmp_path, child=child))["edgetpu-invoke"]
    assert invoke.detail == "not tried: no Edge TPU device"
    usb_device(tmp_path, "2-1", "18d1:9302")
    invoke = rows(probes(tmp_path, child=child))["edgetpu-invoke"]
    assert invoke.detail == "not tried: libedgetpu.so.1 not found"
    assert not [c for c in child.calls if c[0] == "edgetpu"]


def test_the_gpu_outcomes(tmp_path):
    gpu = rows(probes(tmp_path))["gpu"]
    assert gpu.status is Status.MISSING and "no GPU adapter found" in gpu.detail
    ok = FakeChild(gpu={"delegate": "gpu (LiteRT WebGPU accelerator)", "first_ms": 40.0})
    gpu = rows(probes(tmp_path, child=ok))["gpu"]
    assert gpu.status is Status.OK and gpu.detail.startswith("gpu (LiteRT WebGPU accelerator)")
    no_litert = probes(tmp_path, has_module=lambda name: name == "tflite_runtime")
    gpu = rows(no_litert)["gpu"]
    assert gpu.status is Status.MISSING and "ai-edge-litert" in gpu.detail
    assert not [c for c in no_litert.child.calls if c[0] == "gpu"]


def test_cameras_and_their_permissions(tmp_path):
    write(tmp_path, "/dev/video0")
    write(tmp_path, "/sys/class/video4linux/video0/name", "HD Webcam C525\n")
    for n in (10, 11):  # the Pi's codec nodes are no cameras
        write(tmp_path, f"/dev/video{n}")
        write(tmp_path, f"/sys/class/video4linux/video{n}/name", "bcm2835-codec-decode\n")
    cams = rows(probes(tmp_path))["cameras"]
    assert cams.status is Status.OK
    assert cams.detail == "video0 (HD Webcam C525) (2 codec/ISP nodes left out)"

    write(tmp_path, "/etc/group", "video:x:44:\n")
    blocked = probes(tmp_path, can_open=lambda p: False, groups=frozenset({"pi"}))
    cams = rows(blocked)["cameras"]
    assert cams.status is Status.MISSING
    assert "video0 not readable by pi (group video)" in cams.detail
    assert cams.fix == "sudo usermod -aG video pi, then log out and in again"

    write(tmp_path, "/etc/group", "video:x:44:pi\n")
    cams = rows(probes(tmp_path, can_open=lambda p: False, groups=frozenset({"pi"})))["cameras"]
    assert cams.status is Status.WARN and "after this login began" in cams.detail


def test_only_codec_nodes_is_no_camera(tmp_path):
    write(tmp_path, "/dev/video19")
    write(tmp_path, "/sys/class/video4linux/video19/name", "bcm2835-isp\n")
    cams = rows(probes(tmp_path))["cameras"]
    assert cams.status is Status.MISSING
    assert cams.detail == "no /dev/video* camera (1 codec/ISP nodes left out)"


def test_picamera2_outcomes(tmp_path):
    write(tmp_path, "/proc/device-tree/model", b"Raspberry Pi 5 Model B Rev 1.0\x00")
    found = rows(probes(tmp_path))
    assert found["picamera2"].status is Status.MISSING
    assert "python3-picamera2" in found["picamera2"].fix
    assert "--system-site-packages" in found["picamera2"].fix
    assert "Raspberry Pi 5 Model B Rev 1.0" in found["platform"].detail

    with_pc2 = {"has_module": lambda name: name in ("ai_edge_litert", "picamera2")}
    pc2 = rows(probes(tmp_path, **with_pc2))["picamera2"]
    assert pc2.status is Status.OK and pc2.detail == "Picamera2 0.3.19, 1 camera found"
    none = FakeChild(picamera2={"version": "0.3.19", "cameras": 0})
    pc2 = rows(probes(tmp_path, child=none, **with_pc2))["picamera2"]
    assert pc2.status is Status.WARN and "rpicam-hello --list-cameras" in pc2.fix
    broken = FakeChild(picamera2={"error": "ModuleNotFoundError: No module named 'libcamera'"})
    pc2 = rows(probes(tmp_path, child=broken, **with_pc2))["picamera2"]
    assert pc2.status is Status.MISSING and "libcamera" in pc2.detail


@pytest.mark.parametrize(
    ("machine", "bits", "status", "needle"),
    [
        ("aarch64", 64, Status.OK, "Linux aarch64"),
        ("x86_64", 64, Status.OK, "Linux x86_64"),
        ("armv7l", 32, Status.WARN, "a 32-bit OS"),
        ("aarch64", 32, Status.WARN, "a 32-bit Python on a 64-bit kernel"),
        ("riscv64", 64, Status.WARN, "no TFLite runtime wheels are known for riscv64"),
    ],
)
def test_platforms(tmp_path, machine, bits, status, needle):
    check = rows(probes(tmp_path, machine=machine, pointer_bits=bits))["platform"]
    assert check.status is status
    assert needle in check.detail
    if status is Status.WARN and machine.startswith("a"):
        assert "Raspberry Pi OS (64-bit)" in check.fix


@pytest.mark.parametrize(
    ("version", "status"),
    [
        ((3, 9, 2), Status.MISSING),
        ((3, 11, 2), Status.OK),
        ((3, 13, 1), Status.OK),
        ((3, 14, 0), Status.WARN),
    ],
)
def test_python_versions(tmp_path, version, status):
    assert rows(probes(tmp_path, python_version=version))["python"].status is status


def test_no_runtime_is_essential(tmp_path):
    found = rows(probes(tmp_path, has_module=lambda name: False))
    assert found["runtime"].status is Status.MISSING and found["runtime"].essential
    assert "pip install 'edgecam[litert]'" in found["runtime"].fix
    assert "not installed: ai-edge-litert, tflite-runtime, tensorflow" in found["runtime"].detail
    assert found["default-model"].status is Status.MISSING
    assert not doctor.healthy(found.values())
    assert "edgecam cannot run here: runtime, default-model" in doctor.format_report(
        list(found.values())
    )


def test_tflite_runtime_with_numpy_2(tmp_path):
    child = FakeChild(runtime={"error": "ImportError: numpy.core.multiarray failed to import"})
    found = rows(
        probes(
            tmp_path,
            numpy_version="2.1.3",
            has_module=lambda name: name == "tflite_runtime",
            child=child,
        )
    )
    assert found["tflite-runtime"].status is Status.WARN
    assert "does not import: ImportError" in found["tflite-runtime"].detail
    assert "pip install 'numpy<2'" in found["tflite-runtime"].fix
    assert found["numpy"].status is Status.WARN
    assert "2.1.3 with tflite-runtime 2.14" in found["numpy"].detail
    assert found["runtime"].status is Status.MISSING
    assert ("runtime", "tflite_runtime.interpreter", "tflite-runtime") in child.calls


def test_a_runtime_that_crashes_on_import_and_one_that_works(tmp_path):
    def runtime(module, dist):
        if dist == "tflite-runtime":
            return {"error": "the process crashed (SIGSEGV)", "crashed": "SIGSEGV"}
        return {"version": "2.3.0", "numpy": "2.0.2"}

    both = {"ai_edge_litert", "tflite_runtime"}
    found = rows(probes(tmp_path, has_module=both.__contains__, child=FakeChild(runtime=runtime)))
    assert found["runtime"].status is Status.OK
    assert found["runtime"].detail.startswith("--runtime auto uses ai-edge-litert 2.3.0")
    assert found["tflite-runtime"].status is Status.WARN
    assert "crashed (SIGSEGV)" in found["tflite-runtime"].detail
    assert "--force-reinstall tflite-runtime" in found["tflite-runtime"].fix


def _model_with(right: int) -> dict:
    result = FakeChild().results["model"]
    samples = [
        {"file": f"{i}_coat.png", "expected": "coat", "got": "Coat" if i < right else "Shirt"}
        for i in range(10)
    ]
    for s in samples:
        s["correct"] = s["got"] == "Coat"
    return {**result, "samples": samples}


def test_the_default_model_outcomes(tmp_path):
    good = rows(probes(tmp_path))["default-model"]
    assert good.status is Status.OK and "10 of 10 demo samples right" in good.detail
    some = rows(probes(tmp_path, child=FakeChild(model=_model_with(7))))["default-model"]
    assert some.status is Status.WARN and "7 of 10" in some.detail
    assert "wrong: 7_coat.png -> Shirt" in some.detail
    bad = rows(probes(tmp_path, child=FakeChild(model=_model_with(2))))
    assert bad["default-model"].status is Status.MISSING
    assert not doctor.healthy(bad.values())
    broken = rows(probes(tmp_path, child=FakeChild(model={"error": "x is corrupt"})))
    assert broken["default-model"].status is Status.MISSING
    assert broken["default-model"].detail == "does not load: x is corrupt"
    assert broken["xnnpack"].status is Status.MISSING
    assert broken["threads"].status is Status.MISSING


def test_xnnpack_and_threads_on_tflite_runtime(tmp_path):
    model = {
        **FakeChild().results["model"],
        "runtime": "tflite-runtime 2.14.0",
        "xnnpack": False,
        "threads": 1,
        "delegate": "cpu (built-in kernels, 1 thread, fastest here (1: 1.4 ms, 2: 9.1 ms))",
    }
    found = rows(probes(tmp_path, child=FakeChild(model=model), usable_cores=2))
    assert found["xnnpack"].status is Status.WARN
    assert "built-in kernels, not XNNPACK" in found["xnnpack"].detail
    threads = found["threads"]
    assert threads.detail == (
        "--threads auto picks 1 thread for the default model (1: 1.4 ms, 2: 9.1 ms); "
        "4 cores, 2 usable by this process"
    )
    assert threads.status is Status.WARN and "--threads 2" in threads.fix


@pytest.mark.parametrize(
    ("problem", "fix"),
    [
        (None, ""),
        ("PyQt6 is not installed (pip install 'edgecam[gui]')", "edgecam[gui]"),
        ("no display (DISPLAY and WAYLAND_DISPLAY are not set)", "desktop session"),
        ("Qt cannot open a window (could not load the Qt platform plugin)", "libxcb-cursor0"),
    ],
)
def test_display_outcomes(tmp_path, problem, fix):
    check = rows(probes(tmp_path, display_problem=lambda: problem))["display"]
    assert check.status is (Status.OK if problem is None else Status.WARN)
    assert fix in check.fix


def test_the_json_and_text_reports(tmp_path):
    checks = run_checks(probes(tmp_path))
    data = json.loads(doctor.report_json(checks))
    assert data["ok"] is True
    assert [c["name"] for c in data["checks"]][:4] == ["edgecam", "python", "platform", "runtime"]
    text = doctor.format_report(checks)
    assert "missing  edgetpu-device" in text
    assert "fix: plug the Coral USB Accelerator in" in text


def test_the_command_reads_the_tree_given_with_root(tmp_path):
    usb_device(tmp_path, "2-1", "18d1:9302")
    write(tmp_path, "/etc/udev/rules.d/99-coral-edgetpu.rules", DEPLOY_RULE.read_text())
    write(tmp_path, "/dev/video0")
    proc = run_cli("doctor", "--json", "--root", str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = {row["name"]: row for row in json.loads(proc.stdout)["checks"]}
    device = found["edgetpu-device"]["detail"]
    assert device == "USB Accelerator 18d1:9302 at 2-1 (ready, 5000 Mbit/s)"
    assert found["cameras"]["status"] == "ok" and found["cameras"]["detail"] == "video0"
    assert found["edgetpu-permissions"]["detail"].startswith("udev rule 99-coral-edgetpu.rules")


def test_an_essential_failure_exits_non_zero(monkeypatch, capsys):
    from edgecam import cli

    missing = Check("runtime", Status.MISSING, "no TFLite runtime imports", "pip", essential=True)
    monkeypatch.setattr(doctor, "run_checks", lambda probes: [missing])
    assert cli.main(["doctor"]) == 1
    assert "edgecam cannot run here: runtime" in capsys.readouterr().out


# --- the child processes -----------------------------------------------------------------


def test_a_real_child_probe_reports_an_import_error():
    result = doctor.run_child("runtime", "no_such_runtime_module", "no-such-dist")
    assert result == {"error": "ModuleNotFoundError: No module named 'no_such_runtime_module'"}


def _script(tmp_path: Path, body: str) -> str:
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_crashing_child_is_a_result(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor.sys, "executable", _script(tmp_path, "kill -SEGV $$"))
    assert doctor.run_child("runtime", "x", "y") == {
        "error": "the process crashed (SIGSEGV)",
        "crashed": "SIGSEGV",
    }


def test_a_hanging_child_is_a_result(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor.sys, "executable", _script(tmp_path, "sleep 10"))
    monkeypatch.setitem(doctor.CHILD_TIMEOUT_S, "runtime", 0.3)
    result = doctor.run_child("runtime", "x", "y")
    assert result == {"error": "did not answer within 0.3 s", "timed_out": True}


def test_a_child_without_a_result_line(tmp_path, monkeypatch):
    monkeypatch.setattr(doctor.sys, "executable", _script(tmp_path, "echo oops >&2; exit 3"))
    assert doctor.run_child("runtime", "x", "y") == {"error": "oops"}


def test_importing_the_doctor_probes_nothing():
    code = (
        "import sys, edgecam.doctor, edgecam.doctor_probes, edgecam.cli\n"
        "edgecam.cli.build_parser()\n"
        "bad = {m.split('.')[0] for m in sys.modules} & "
        "{'ai_edge_litert', 'tflite_runtime', 'tensorflow', 'PyQt6', 'picamera2'}\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=CLI_CWD,
        env=cli_env(),
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean"
