"""``edgecam doctor``: what works on this device, and what to do about what does not.

One row per check, each ``ok``, ``warn`` or ``missing`` with a fix line. Only two checks are
essential: a TFLite runtime imports, and the bundled default model loads and classifies the
demo samples; everything else (an Edge TPU, a GPU, a camera, a display) is optional hardware
whose absence is a row, not a failure.

Nothing here needs root or changes the system. What could crash or hang (importing a runtime,
opening a delegate, Picamera2) runs in a child process (:mod:`edgecam.doctor_probes`).
Everything the checks read goes through :class:`Probes`: a root folder under which ``/dev``,
``/sys`` and ``/etc`` are read, the library finder, the user and groups, the child runner, so
tests can build a fake device tree in a temporary folder.
"""

from __future__ import annotations

import enum
import json
import os
import platform
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from edgecam import __version__

#: The Coral USB Accelerator's USB ids: before its firmware is loaded (Global Unichip) and
#: after (Google); libedgetpu loads the firmware the first time it opens the device.
CORAL_USB_IDS = {("1a6e", "089a"): "before its firmware loads", ("18d1", "9302"): "ready"}
#: Where udev rules live (under the probed root).
UDEV_RULE_DIRS = ("etc/udev/rules.d", "lib/udev/rules.d", "usr/lib/udev/rules.d")
VULKAN_LIBRARY = "libvulkan.so.1"
#: Coral's Debian packages of libedgetpu (standard and maximum clock, and the legacy build).
EDGETPU_PACKAGES = ("libedgetpu1-std", "libedgetpu1-max", "libedgetpu1-legacy-std")
#: The runtimes, in the order ``--runtime auto`` tries them: (distribution, module to import).
RUNTIMES = (
    ("ai-edge-litert", "ai_edge_litert.interpreter"),
    ("tflite-runtime", "tflite_runtime.interpreter"),
    ("tensorflow", "tensorflow"),
)
#: Seconds a child probe may take (TensorFlow alone imports in seconds on a Pi).
CHILD_TIMEOUT_S = {"runtime": 120.0, "model": 120.0, "gpu": 60.0, "edgetpu": 60.0}
DEFAULT_CHILD_TIMEOUT_S = 30.0
#: /sys/class/video4linux names of nodes that are not cameras (the Pi's codecs and ISP).
NOT_A_CAMERA = re.compile(r"codec|isp|hevc|pispbe|rpivid|decoder|encoder", re.IGNORECASE)
EDGETPU_MODEL_HINT = (
    "edgecam ships no Edge TPU model: run `edgecam doctor --edgetpu-model M_edgetpu.tflite` "
    "with one compiled by edgetpu_compiler, e.g. Coral's "
    "mobilenet_v2_1.0_224_quant_edgetpu.tflite (github.com/google-coral/test_data)"
)


class Status(str, enum.Enum):
    """How one check came out."""

    OK = "ok"
    WARN = "warn"
    MISSING = "missing"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    """One row of the report.

    Attributes:
        name: a short id (``edgetpu-device``), stable for scripts reading ``--json``.
        status: ok, warn or missing.
        detail: what was found.
        fix: what to do about it (empty when nothing is to be done).
        essential: a missing essential check makes ``edgecam doctor`` exit non-zero.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""
    essential: bool = False

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "fix": self.fix,
            "essential": self.essential,
        }


def _real_groups() -> frozenset[str]:
    try:
        import grp
    except ImportError:  # Windows
        return frozenset()
    names = set()
    for gid in {*os.getgroups(), os.getgid()}:
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            names.add(str(gid))
    return frozenset(names)


def _real_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container)
        return str(os.getuid()) if hasattr(os, "getuid") else "?"


def _node_group(path: Path) -> str:
    gid = path.stat().st_gid
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def _can_open(path: Path) -> bool:
    return os.access(path, os.R_OK | os.W_OK)


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _run(cmd: list[str], timeout: float = 10.0) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _display_problem() -> str | None:
    from edgecam.gui import display_problem

    return display_problem(probe=True)


def run_child(probe: str, *args: str) -> dict:
    """Run one probe of :mod:`edgecam.doctor_probes` in a fresh interpreter; its result dict.

    The child runs from the folder this ``edgecam`` was imported from, so it imports the same
    one. A crash, a timeout or no result line is ``{"error": ...}`` (``crashed``: the signal).
    """
    from edgecam.doctor_probes import MARK

    timeout = CHILD_TIMEOUT_S.get(probe, DEFAULT_CHILD_TIMEOUT_S)
    home = Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env.pop("EDGECAM_VERBOSE", None)
    cmd = [sys.executable, "-m", "edgecam.doctor_probes", probe, *args]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, cwd=home, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not answer within {timeout:g} s", "timed_out": True}
    except OSError as exc:
        return {"error": f"could not start {sys.executable} ({exc.strerror})"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            try:
                return json.loads(line[len(MARK) :])
            except ValueError:
                break
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        return {"error": f"the process crashed ({name})", "crashed": name}
    return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}


def _machine() -> str:
    return platform.machine()


def _pointer_bits() -> int:
    return struct.calcsize("P") * 8


def _python_version() -> tuple[int, int, int]:
    return tuple(sys.version_info[:3])  # type: ignore[return-value]


def _numpy_version() -> str | None:
    try:
        import numpy
    except ImportError:
        return None
    return numpy.__version__


def _usable_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


@dataclass
class Probes:
    """Everything the checks read from the machine; the defaults read this one.

    Attributes:
        root: ``/dev``, ``/sys``, ``/proc/device-tree``, ``/etc/group`` and the udev rule
            folders are read under it.
        find_library: a shared library's file name -> its path, or None.
        user, uid: who runs the doctor.
        groups: the groups this process has (a group added since the login is not among them).
        can_open: whether this user can read and write a device node.
        node_group: the group that owns a device node.
        child: runs a probe of :mod:`edgecam.doctor_probes` (see :func:`run_child`).
        run: runs a command (``dpkg-query``) and returns the completed process.
        has_module: whether a module could be imported (without importing it).
        display_problem: why no window can open, or None.
        edgetpu_model: an Edge TPU compiled model to invoke when a device is present.
    """

    root: Path = Path("/")
    system: str = field(default_factory=platform.system)
    machine: str = field(default_factory=_machine)
    pointer_bits: int = field(default_factory=_pointer_bits)
    python_version: tuple[int, int, int] = field(default_factory=_python_version)
    cpu_count: int | None = field(default_factory=os.cpu_count)
    usable_cores: int | None = field(default_factory=_usable_cores)
    numpy_version: str | None = field(default_factory=_numpy_version)
    find_library: Callable[[str], str | None] | None = None
    user: str = field(default_factory=_real_user)
    uid: int = field(default_factory=lambda: os.getuid() if hasattr(os, "getuid") else 1000)
    groups: frozenset[str] = field(default_factory=_real_groups)
    can_open: Callable[[Path], bool] = _can_open
    node_group: Callable[[Path], str] = _node_group
    child: Callable[..., dict] = run_child
    run: Callable[..., subprocess.CompletedProcess] = _run
    has_module: Callable[[str], bool] = _has_module
    display_problem: Callable[[], str | None] = _display_problem
    edgetpu_model: Path | None = None

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.find_library is None:
            self.find_library = lambda name: find_library(name, self.root)

    def path(self, absolute: str) -> Path:
        """``absolute`` (``/dev/video0``) under :attr:`root`."""
        return self.root / absolute.lstrip("/")

    @property
    def real_root(self) -> bool:
        return self.root.resolve() == Path("/").resolve()


def _library_dirs(root: Path) -> list[Path]:
    dirs = [root / d for d in ("lib", "lib64", "usr/lib", "usr/lib64", "usr/local/lib")]
    for base in ("usr/lib", "lib"):  # Debian's multiarch folders: usr/lib/aarch64-linux-gnu
        dirs.extend(sorted((root / base).glob("*-linux-gnu*")))
    dirs.extend(root / d for d in ("opt/homebrew/lib",))
    return dirs


def find_library(name: str, root: Path = Path("/")) -> str | None:
    """Where the dynamic linker would find ``name`` (``libedgetpu.so.1``), or None.

    Under the real root: ``$LD_LIBRARY_PATH``, then the ``ldconfig`` cache, then the usual
    folders; under another root (tests), the usual folders there.
    """
    root = Path(root)
    real = root.resolve() == Path("/").resolve()
    if real:
        for folder in filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)):
            if (Path(folder) / name).exists():
                return str(Path(folder) / name)
        cached = _ldconfig_lookup(name)
        if cached:
            return cached
    for folder in _library_dirs(root):
        if (folder / name).exists():
            return str(folder / name)
    return None


def _ldconfig_lookup(name: str) -> str | None:
    for ldconfig in ("/sbin/ldconfig", "/usr/sbin/ldconfig"):
        if not os.path.exists(ldconfig):
            continue
        try:
            out = _run([ldconfig, "-p"]).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        for line in out.splitlines():  # "\tlibedgetpu.so.1 (libc6,AArch64) => /usr/lib/..."
            left, _, right = line.partition("=>")
            if left.strip().split(" ")[0] == name and right.strip():
                return right.strip()
        return None
    return None


class _Doctor:
    """The checks, sharing what the child probes found (each probe runs once)."""

    def __init__(self, probes: Probes) -> None:
        self.p = probes
        self._cache: dict[tuple, dict] = {}

    def child(self, probe: str, *args: str) -> dict:
        key = (probe, *args)
        if key not in self._cache:
            self._cache[key] = self.p.child(probe, *args)
        return self._cache[key]

    # --- the system ---------------------------------------------------------------------

    def pi_model(self) -> str | None:
        try:
            text = self.p.path("/proc/device-tree/model").read_bytes()
        except OSError:
            return None
        return text.replace(b"\x00", b"").decode(errors="replace").strip() or None

    def on_raspberry_pi(self) -> bool:
        return "raspberry pi" in (self.pi_model() or "").lower()

    def etc_group_members(self, group: str) -> set[str] | None:
        """Members /etc/group lists for ``group`` (None: no such group or no file)."""
        try:
            lines = self.p.path("/etc/group").read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in lines:
            parts = line.split(":")
            if len(parts) >= 4 and parts[0] == group:
                return {m for m in parts[3].split(",") if m}
        return None

    def group_problem(self, group: str, why: str) -> tuple[Status, str, str] | None:
        """Why this user lacks ``group`` (status, detail, fix), or None when they have it."""
        if self.p.uid == 0 or group in self.p.groups:
            return None
        user = self.p.user
        if user in (self.etc_group_members(group) or set()):
            return (
                Status.WARN,
                f"{user} was added to the {group} group after this login began",
                "log out and in again (or reboot) for the new group to apply",
            )
        return (
            Status.MISSING,
            f"{user} is not in the {group} group ({why})",
            f"sudo usermod -aG {group} {user}, then log out and in again",
        )

    def checks(self) -> list[Check]:
        rows: list[Check] = []
        for check in (
            self.check_edgecam,
            self.check_python,
            self.check_platform,
            self.check_runtimes,
            self.check_numpy,
            self.check_default_model,
            self.check_xnnpack,
            self.check_threads,
            self.check_edgetpu_library,
            self.check_edgetpu_device,
            self.check_edgetpu_permissions,
            self.check_edgetpu_invoke,
            self.check_vulkan,
            self.check_gpu,
            self.check_cameras,
            self.check_picamera2,
            self.check_display,
        ):
            found = check()
            rows.extend([found] if isinstance(found, Check) else found)
        return rows

    def check_edgecam(self) -> Check:
        where = Path(__file__).resolve().parent
        return Check("edgecam", Status.OK, f"{__version__} ({where})")

    def check_python(self) -> Check:
        major, minor, micro = self.p.python_version
        text = f"{major}.{minor}.{micro}, {self.p.pointer_bits}-bit"
        if (major, minor) < (3, 10):
            return Check(
                "python",
                Status.MISSING,
                text,
                "edgecam needs Python 3.10 or newer",
                essential=True,
            )
        if not (3, 11) <= (major, minor) <= (3, 13):
            return Check(
                "python",
                Status.WARN,
                f"{text}: ai-edge-litert has wheels for Python 3.11-3.13, tflite-runtime 2.14 "
                "for 3.11",
                "use Python 3.11 (Raspberry Pi OS 12 has it) in a venv",
            )
        return Check("python", Status.OK, text)

    def check_platform(self) -> Check:
        machine, bits = self.p.machine, self.p.pointer_bits
        board = self.pi_model()
        text = f"{self.p.system} {machine}" + (f", {board}" if board else "")
        arm = machine.lower().startswith(("arm", "aarch"))
        if arm and (bits == 32 or not machine.lower().startswith(("aarch64", "arm64"))):
            what = (
                "a 32-bit Python on a 64-bit kernel"
                if machine.lower().startswith(("aarch64", "arm64"))
                else "a 32-bit OS"
            )
            return Check(
                "platform",
                Status.WARN,
                f"{text}: {what}; neither ai-edge-litert nor tflite-runtime 2.14 has wheels "
                "for 32-bit ARM (armv7l)",
                "install Raspberry Pi OS (64-bit) (Pi 3, 4, 5 and Zero 2 W run it)",
            )
        if machine.lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
            return Check(
                "platform",
                Status.WARN,
                f"{text}: no TFLite runtime wheels are known for {machine}",
                "use an x86-64 or 64-bit ARM (aarch64) machine",
            )
        return Check("platform", Status.OK, f"{text}, {bits}-bit")

    # --- runtimes -----------------------------------------------------------------------

    def runtimes(self) -> dict[str, dict | None]:
        """Each runtime's probe result (None: not installed), in ``--runtime auto`` order."""
        found: dict[str, dict | None] = {}
        for dist, module in RUNTIMES:
            if self.p.has_module(module.split(".")[0]):
                found[dist] = self.child("runtime", module, dist)
            else:
                found[dist] = None
        return found

    def working_runtime(self) -> str | None:
        for dist, result in self.runtimes().items():
            if result is not None and "error" not in result:
                return dist
        return None

    def check_runtimes(self) -> list[Check]:
        rows = []
        absent = []
        for dist, result in self.runtimes().items():
            if result is None:
                absent.append(dist)
                continue
            if "error" not in result:
                rows.append(Check(dist, Status.OK, f"{result['version']} imports"))
                continue
            rows.append(
                Check(
                    dist,
                    Status.WARN,
                    f"installed but does not import: {result['error']}",
                    self._runtime_fix(dist, result),
                )
            )
        working = self.working_runtime()
        not_installed = f"; not installed: {', '.join(absent)}" if absent else ""
        if working:
            version = self.runtimes()[working]["version"]  # type: ignore[index]
            summary = Check(
                "runtime",
                Status.OK,
                f"--runtime auto uses {working} {version}{not_installed}",
                essential=True,
            )
        else:
            summary = Check(
                "runtime",
                Status.MISSING,
                "no TFLite runtime imports" + not_installed,
                self._install_hint(),
                essential=True,
            )
        return [summary, *rows]

    def _runtime_fix(self, dist: str, result: dict) -> str:
        numpy = self.p.numpy_version or ""
        if dist == "tflite-runtime" and numpy.split(".")[0].isdigit() and int(numpy[0]) >= 2:
            return (
                f"tflite-runtime 2.14 is built for numpy 1 and numpy {numpy} is installed: "
                "pip install 'numpy<2', or use ai-edge-litert, which works with both"
            )
        if result.get("crashed"):
            return f"reinstall {dist} in a fresh venv (pip install --force-reinstall {dist})"
        return f"pip install --force-reinstall {dist}, or use another runtime"

    def _install_hint(self) -> str:
        major, minor, _ = self.p.python_version
        if self.p.pointer_bits == 32:
            return "no runtime has wheels for a 32-bit OS: install Raspberry Pi OS (64-bit)"
        if (3, 11) <= (major, minor) <= (3, 13):
            return "pip install 'edgecam[litert]' (ai-edge-litert, the maintained runtime)"
        return "use Python 3.11-3.13 and pip install 'edgecam[litert]'"

    def check_numpy(self) -> Check:
        numpy = self.p.numpy_version
        if numpy is None:
            return Check("numpy", Status.MISSING, "not installed", "pip install 'numpy<2'")
        major = int(numpy.split(".")[0]) if numpy.split(".")[0].isdigit() else 0
        if self.runtimes().get("tflite-runtime") is not None and major >= 2:
            return Check(
                "numpy",
                Status.WARN,
                f"{numpy} with tflite-runtime 2.14, which is built for numpy 1 (its import "
                "fails or crashes)",
                "pip install 'numpy<2' (edgecam's tflite-runtime extra pins it), or use "
                "ai-edge-litert, which works with numpy 1 and 2",
            )
        users = [d for d, r in self.runtimes().items() if r is not None and "error" not in r]
        note = f" (fits {', '.join(users)})" if users else ""
        return Check("numpy", Status.OK, f"{numpy}{note}")

    # --- the default model, XNNPACK, threads ---------------------------------------------

    def model(self) -> dict:
        if self.working_runtime() is None:
            return {"error": "no TFLite runtime imports", "no_runtime": True}
        return self.child("model")

    def check_default_model(self) -> Check:
        result = self.model()
        if "error" in result:
            fix = (
                self._install_hint()
                if result.get("no_runtime")
                else "reinstall edgecam (pip install --force-reinstall edgecam), or run "
                "`edgecam classify SAMPLE -v` to see the whole error"
            )
            return Check(
                "default-model",
                Status.MISSING,
                f"does not load: {result['error']}",
                fix,
                essential=True,
            )
        samples = result["samples"]
        right = [s for s in samples if s["correct"]]
        wrong = ", ".join(f"{s['file']} -> {s['got']}" for s in samples if not s["correct"])
        text = (
            f"{result['name']}: {len(right)} of {len(samples)} demo samples right "
            f"({result['runtime']}, loaded in {result['load_s']:.2f} s)"
        )
        if samples and len(right) == len(samples):
            return Check("default-model", Status.OK, text, essential=True)
        status = Status.WARN if len(right) * 2 >= len(samples) > 0 else Status.MISSING
        return Check(
            "default-model",
            status,
            f"{text}; wrong: {wrong or 'no samples found'}",
            "the model or its preprocessing is broken here: reinstall edgecam and report it",
            essential=True,
        )

    def check_xnnpack(self) -> Check:
        result = self.model()
        if "error" in result:
            return Check("xnnpack", Status.MISSING, "not checked: the default model did not load")
        dtype = f"{result['input_dtype']} input"
        if result["xnnpack"]:
            return Check("xnnpack", Status.OK, f"XNNPACK runs the default model ({dtype})")
        runtime = result["runtime"]
        text = f"{runtime} runs the default model ({dtype}) on its built-in kernels, not XNNPACK"
        if runtime.startswith("tflite-runtime"):
            # docs/BENCHMARKS.md: tflite-runtime 2.14's XNNPACK does not take int8 models.
            text += " (int8 models: about 10x slower than ai-edge-litert, docs/BENCHMARKS.md)"
            fix = "use ai-edge-litert (pip install 'edgecam[litert]'), whose XNNPACK runs int8"
        else:
            fix = f"update {runtime.split(' ')[0]}, or use ai-edge-litert"
        return Check("xnnpack", Status.WARN, text, fix)

    def check_threads(self) -> Check:
        result = self.model()
        cores, usable = self.p.cpu_count, self.p.usable_cores
        cores_text = f"{cores} cores" + (
            f", {usable} usable by this process" if usable and usable != cores else ""
        )
        if "error" in result:
            return Check("threads", Status.MISSING, f"not checked ({cores_text})")
        threads = result["threads"]
        chosen = f"{threads} thread{'s' if threads != 1 else ''}" if threads else "?"
        timed = re.search(r"\(([^()]*\bms)\)", result["delegate"])
        how = f" ({timed.group(1)})" if timed else ""
        text = f"--threads auto picks {chosen} for the default model{how}; {cores_text}"
        if usable and cores and usable < min(4, cores):
            return Check(
                "threads",
                Status.WARN,
                text,
                f"only {usable} of {cores} cores are free to edgecam (CPU affinity or a "
                f"container limit): give --threads {usable} at most",
            )
        return Check("threads", Status.OK, text)

    # --- the Edge TPU --------------------------------------------------------------------

    def edgetpu_library(self) -> tuple[str, str | None]:
        """(the file name, its path or None)."""
        from edgecam.errors import DelegateError
        from edgecam.runtime.delegates import edgetpu_library_name

        try:
            name = edgetpu_library_name(self.p.system)
        except DelegateError:
            return "libedgetpu", None
        return name, self.p.find_library(name)  # type: ignore[misc]

    def edgetpu_package(self) -> str | None:
        """``libedgetpu1-std 16.0`` from dpkg, where it can be read."""
        if not self.p.real_root:
            return None
        try:
            proc = self.p.run(
                [
                    "dpkg-query",
                    "-W",
                    "-f",
                    "${Package} ${Version} ${db:Status-Abbrev}\\n",
                    *EDGETPU_PACKAGES,
                ]
            )
        except (OSError, subprocess.SubprocessError):
            return None
        for line in proc.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].startswith("i"):
                return f"{parts[0]} {parts[1]}"
        return None

    def check_edgetpu_library(self) -> Check:
        from edgecam.runtime.delegates import EDGETPU_INSTALL_HINT

        name, path = self.edgetpu_library()
        if path is None:
            return Check(
                "edgetpu-library", Status.MISSING, f"{name} not found", EDGETPU_INSTALL_HINT
            )
        package = self.edgetpu_package()
        version = f" ({package})" if package else " (version unknown: not from a Debian package)"
        return Check("edgetpu-library", Status.OK, f"{path}{version}")

    def usb_corals(self) -> list[dict]:
        """Coral USB Accelerators in /sys/bus/usb/devices, with their state and port speed."""
        found = []
        for dev in sorted(self.p.path("/sys/bus/usb/devices").glob("*")):
            try:
                ids = (
                    (dev / "idVendor").read_text().strip().lower(),
                    (dev / "idProduct").read_text().strip().lower(),
                )
            except OSError:
                continue
            if ids not in CORAL_USB_IDS:
                continue
            info = {"port": dev.name, "ids": ids, "state": CORAL_USB_IDS[ids]}
            for key in ("speed", "busnum", "devnum"):
                try:
                    info[key] = (dev / key).read_text().strip()
                except OSError:
                    info[key] = None
            found.append(info)
        return found

    def apex_nodes(self) -> list[Path]:
        return sorted(self.p.path("/dev").glob("apex_*"))

    def check_edgetpu_device(self) -> Check:
        usb, apex = self.usb_corals(), self.apex_nodes()
        if not usb and not apex:
            return Check(
                "edgetpu-device",
                Status.MISSING,
                "no Coral found (no USB device 1a6e:089a or 18d1:9302, no /dev/apex_*)",
                "plug the Coral USB Accelerator in (a USB 3 port); a PCIe/M.2 Coral needs "
                "Coral's gasket-dkms driver, which makes /dev/apex_0",
            )
        parts, slow = [], []
        for dev in usb:
            vendor, product = dev["ids"]
            speed = dev["speed"]
            speed_text = f", {speed} Mbit/s" if speed else ""
            parts.append(
                f"USB Accelerator {vendor}:{product} at {dev['port']} ({dev['state']}{speed_text})"
            )
            if speed and speed.replace(".", "").isdigit() and float(speed) < 5000:
                slow.append(dev["port"])
        parts.extend(f"PCIe/M.2 {node.name}" for node in apex)
        text = "; ".join(parts)
        if slow:
            return Check(
                "edgetpu-device",
                Status.WARN,
                f"{text}: on a USB 2 port",
                "plug it into a USB 3 (blue) port: USB 2 makes it several times slower",
            )
        return Check("edgetpu-device", Status.OK, text)

    def udev_rules(self) -> dict[tuple[str, str], tuple[str, str]]:
        """USB ids a udev rule under the root covers -> (rule file, how it grants access)."""
        covered: dict[tuple[str, str], tuple[str, str]] = {}
        for folder in UDEV_RULE_DIRS:
            for rules in sorted(self.p.path("/" + folder).glob("*.rules")):
                try:
                    text = rules.read_text(errors="replace").replace("\\\n", " ")
                except OSError:
                    continue
                for line in text.splitlines():
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    vendor = re.search(r'ATTRS?\{idVendor\}=="([0-9a-fA-F]{4})"', line)
                    if not vendor:
                        continue
                    product = re.search(r'ATTRS?\{idProduct\}=="([0-9a-fA-F]{4})"', line)
                    for ids in CORAL_USB_IDS:
                        if vendor.group(1).lower() == ids[0] and (
                            product is None or product.group(1).lower() == ids[1]
                        ):
                            covered.setdefault(ids, (str(rules), _grant(line)))
        return covered

    def check_edgetpu_permissions(self) -> Check:
        problems: list[tuple[Status, str, str]] = []
        covered = self.udev_rules()
        missing_ids = [ids for ids in CORAL_USB_IDS if ids not in covered]
        if missing_ids:
            names = " and ".join(f"{v}:{p}" for v, p in missing_ids)
            problems.append(
                (
                    Status.MISSING,
                    f"no udev rule for the Coral USB ids {names}",
                    "sudo cp deploy/99-coral-edgetpu.rules /etc/udev/rules.d/ && sudo udevadm "
                    "control --reload-rules && sudo udevadm trigger (libedgetpu1-std from "
                    "Coral's repository installs such a rule too)",
                )
            )
        groups = {grant for _, grant in covered.values() if grant.startswith("group ")}
        for grant in sorted(groups):
            problem = self.group_problem(grant.split(" ", 1)[1], "the udev rule's group")
            if problem:
                problems.append(problem)
        for dev in self.usb_corals():
            node = self._usb_node(dev)
            if node is not None and node.exists() and not self._can_open(node):
                problems.append(
                    (
                        Status.MISSING,
                        f"{self.p.user} cannot open {node} (the Coral at {dev['port']})",
                        "install the udev rule and join its group (above), then replug it",
                    )
                )
        for node in self.apex_nodes():
            if not self._can_open(node):
                group = self._safe_group(node)
                problems.append(
                    (
                        Status.MISSING,
                        f"{self.p.user} cannot open {node} (group {group})",
                        'a udev rule SUBSYSTEM=="apex", MODE="0660", GROUP="apex" and sudo '
                        f"usermod -aG apex {self.p.user} (Coral's M.2/PCIe guide)",
                    )
                )
        if not problems:
            rules = ", ".join(sorted({f"{Path(f).name} ({g})" for f, g in covered.values()}))
            who = "root" if self.p.uid == 0 else self.p.user
            return Check("edgetpu-permissions", Status.OK, f"udev rule {rules}; runs as {who}")
        worst = Status.MISSING if any(s is Status.MISSING for s, _, _ in problems) else Status.WARN
        return Check(
            "edgetpu-permissions",
            worst,
            "; ".join(d for _, d, _ in problems),
            "; ".join(dict.fromkeys(f for _, _, f in problems)),
        )

    def _usb_node(self, dev: dict) -> Path | None:
        if not (dev.get("busnum") and dev.get("devnum")):
            return None
        try:
            return self.p.path(f"/dev/bus/usb/{int(dev['busnum']):03d}/{int(dev['devnum']):03d}")
        except ValueError:
            return None

    def _can_open(self, node: Path) -> bool:
        return self.p.uid == 0 or self.p.can_open(node)

    def _safe_group(self, node: Path) -> str:
        try:
            return self.p.node_group(node)
        except OSError:
            return "?"

    def check_edgetpu_invoke(self) -> Check:
        if not self.usb_corals() and not self.apex_nodes():
            return Check(
                "edgetpu-invoke",
                Status.MISSING,
                "not tried: no Edge TPU device",
                "" if self.p.edgetpu_model is None else "plug the Coral in and run it again",
            )
        name, path = self.edgetpu_library()
        if path is None:
            return Check("edgetpu-invoke", Status.MISSING, f"not tried: {name} not found")
        if self.working_runtime() is None:
            return Check("edgetpu-invoke", Status.MISSING, "not tried: no TFLite runtime")
        model = self.p.edgetpu_model
        result = self.child("edgetpu", *([str(Path(model).resolve())] if model else []))
        if "error" in result:
            text = result["error"]
            fix = "check the device and permission rows above, then replug the Coral"
            if "runtime version" in text:
                fix = (
                    "the model was compiled for a newer Edge TPU runtime: update libedgetpu "
                    "(sudo apt-get upgrade libedgetpu1-std) or recompile it with "
                    "edgetpu_compiler --min_runtime_version for this one"
                )
            return Check("edgetpu-invoke", Status.MISSING, f"failed: {text}", fix)
        if model is None:
            return Check(
                "edgetpu-invoke",
                Status.WARN,
                f"libedgetpu opened the device ({result['runtime']}); no model invoked",
                EDGETPU_MODEL_HINT,
            )
        return Check(
            "edgetpu-invoke",
            Status.OK,
            f"{Path(model).name} ran on the Edge TPU: first invoke {result['first_ms']:.1f} ms "
            f"(loads the weights), then {result['median_ms']:.2f} ms ({result['runtime']})",
        )

    # --- the GPU -------------------------------------------------------------------------

    def check_vulkan(self) -> Check:
        if self.p.system != "Linux":
            return Check("vulkan", Status.WARN, f"not checked on {self.p.system}")
        path = self.p.find_library(VULKAN_LIBRARY)  # type: ignore[misc]
        if path is None:
            return Check(
                "vulkan",
                Status.MISSING,
                f"the Vulkan loader ({VULKAN_LIBRARY}) is not installed",
                "only for --delegate gpu: sudo apt-get install libvulkan1 and the GPU's Vulkan "
                "driver (mesa-vulkan-drivers)",
            )
        return Check("vulkan", Status.OK, f"{VULKAN_LIBRARY} at {path}")

    def check_gpu(self) -> Check:
        litert = self.runtimes().get("ai-edge-litert")
        if litert is None or "error" in litert:
            return Check(
                "gpu",
                Status.MISSING,
                "not tried: the GPU accelerator comes with ai-edge-litert, which does not import",
                "only for --delegate gpu: pip install 'edgecam[litert]'",
            )
        result = self.child("gpu")
        if "error" in result:
            why = result.get("message") or result["error"]
            return Check(
                "gpu",
                Status.MISSING,
                f"the LiteRT GPU accelerator does not run here: {why}",
                "only for --delegate gpu, which needs a GPU with a Vulkan driver; --delegate "
                "auto runs on the CPU meanwhile",
            )
        return Check(
            "gpu",
            Status.OK,
            f"{result['delegate']} runs the default model (first run {result['first_ms']:.1f} ms)",
        )

    # --- cameras and the window ----------------------------------------------------------

    def video_nodes(self) -> list[tuple[Path, str]]:
        """(``/dev/videoN``, its driver's name) for every V4L2 node."""
        nodes = []
        for node in self.p.path("/dev").glob("video*"):
            if not node.name[5:].isdigit():
                continue
            try:
                name = self.p.path(f"/sys/class/video4linux/{node.name}/name").read_text().strip()
            except OSError:
                name = ""
            nodes.append((node, name))
        return sorted(nodes, key=lambda item: int(item[0].name[5:]))

    def check_cameras(self) -> Check:
        nodes = self.video_nodes()
        cameras = [(n, name) for n, name in nodes if not NOT_A_CAMERA.search(name)]
        others = len(nodes) - len(cameras)
        other_text = f" ({others} codec/ISP nodes left out)" if others else ""
        if not cameras:
            return Check(
                "cameras",
                Status.MISSING,
                f"no /dev/video* camera{other_text}",
                "plug in a USB camera; the Raspberry Pi camera goes through Picamera2 "
                "(--source picamera, below)",
            )
        listed = ", ".join(f"{n.name} ({name})" if name else n.name for n, name in cameras)
        blocked = [n for n, _ in cameras if not self._can_open(n)]
        if not blocked:
            return Check("cameras", Status.OK, f"{listed}{other_text}")
        group = self._safe_group(blocked[0])
        problem = self.group_problem(group, "it owns the camera nodes") or (
            Status.MISSING,
            f"{self.p.user} cannot open {blocked[0]}",
            f"check the permissions of {blocked[0]} (ls -l)",
        )
        return Check(
            "cameras",
            problem[0],
            f"{listed}: {', '.join(n.name for n in blocked)} not readable by {self.p.user} "
            f"(group {group}); {problem[1]}",
            problem[2],
        )

    def check_picamera2(self) -> Check:
        on_pi = self.on_raspberry_pi()
        if not self.p.has_module("picamera2"):
            if on_pi:
                fix = (
                    "sudo apt install python3-picamera2, and create the venv with "
                    "--system-site-packages so it sees it"
                )
            else:
                fix = "only for --source picamera on a Raspberry Pi"
            return Check("picamera2", Status.MISSING, "Picamera2 is not importable", fix)
        result = self.child("picamera2")
        if "error" in result:
            return Check(
                "picamera2",
                Status.MISSING,
                f"Picamera2 does not import: {result['error']}",
                "sudo apt install --reinstall python3-picamera2 python3-libcamera",
            )
        count = result["cameras"]
        text = f"Picamera2 {result['version']}, {count} camera{'s' if count != 1 else ''} found"
        if count == 0:
            return Check(
                "picamera2",
                Status.WARN,
                text,
                "check the ribbon cable (contacts the right way round); "
                "`rpicam-hello --list-cameras` lists what libcamera sees",
            )
        return Check("picamera2", Status.OK, text)

    def check_display(self) -> Check:
        problem = self.p.display_problem()
        if problem is None:
            return Check("display", Status.OK, "the desktop window can open")
        if "not installed" in problem:
            fix = "pip install 'edgecam[gui]' for the window (headless and services need none)"
        elif "no display" in problem:
            fix = "start it from the desktop session for the window; headless needs none"
        else:
            fix = "install Qt's platform libraries (Debian: libxcb-cursor0), or run headless"
        return Check("display", Status.WARN, f"{problem}: `edgecam run` runs headless", fix)


def _grant(rule: str) -> str:
    """How a udev rule line grants access: ``group plugdev``, ``everyone``, ``uaccess``."""
    mode = re.search(r'MODE:?="0?([0-7]{3})"', rule)
    if mode and int(mode.group(1)[2]) & 6 == 6:
        return "everyone"
    group = re.search(r'GROUP:?="([^"]+)"', rule)
    if group:
        return f"group {group.group(1)}"
    if "uaccess" in rule:
        return "uaccess (the desktop user only)"
    return "root only"


def run_checks(probes: Probes | None = None) -> list[Check]:
    """Every check, in report order."""
    return _Doctor(probes or Probes()).checks()


def healthy(checks: Iterable[Check]) -> bool:
    """No essential check is missing."""
    return not any(c.essential and c.status is Status.MISSING for c in checks)


def format_report(checks: list[Check]) -> str:
    """The human report: a header, one row per check with its fix below, a verdict."""
    width = max(len(c.name) for c in checks)
    lines = [f"edgecam doctor: edgecam {__version__}, {sys.executable}", ""]
    for c in checks:
        lines.append(f"{c.status.value:<8} {c.name:<{width}}  {c.detail}")
        if c.fix and c.status is not Status.OK:
            lines.append(f"{'':<8} {'':<{width}}  fix: {c.fix}")
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    tally = f"{counts[Status.OK]} ok, {counts[Status.WARN]} warn, {counts[Status.MISSING]} missing"
    lines.append("")
    if healthy(checks):
        lines.append(f"edgecam runs here ({tally}; missing optional hardware is not a failure).")
    else:
        bad = ", ".join(c.name for c in checks if c.essential and c.status is Status.MISSING)
        lines.append(f"edgecam cannot run here: {bad} ({tally}).")
    return "\n".join(lines)


def report_json(checks: list[Check]) -> str:
    return json.dumps(
        {
            "edgecam": __version__,
            "python": sys.executable,
            "ok": healthy(checks),
            "checks": [c.to_dict() for c in checks],
        },
        indent=2,
    )
