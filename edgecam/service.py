"""``edgecam service``: a systemd unit that runs headless mode on boot.

``install`` checks the run options with the ``run`` command's own parser (and the model and
source they name) before anything is written, makes relative paths absolute (a service does not
start in the user's folder), writes the unit atomically, then runs ``systemctl daemon-reload``
and ``enable --now`` where systemd is there. The unit runs this very interpreter
(``python -m edgecam run --headless ...``), restarts it after a failure and logs to the journal;
it stops it with SIGINT, which edgecam ends cleanly (final stats line, exit 130).

A user unit (``~/.config/systemd/user``) is the default; ``--system`` writes one to
``/etc/systemd/system`` that runs as the invoking user. ``--unit-dir`` or ``$EDGECAM_UNIT_DIR``
puts the unit elsewhere (tests, packaging).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from edgecam import __version__, defaults
from edgecam.errors import ConfigError, EdgecamError
from edgecam.files import atomic_write_text

log = logging.getLogger(__name__)

UNIT_DIR_ENV = "EDGECAM_UNIT_DIR"
#: The first line of every unit edgecam writes: uninstall and a reinstall only touch those.
MARKER = "# Written by `edgecam service install`"
DEFAULT_NAME = "edgecam"
RESTART_S = 5
#: The run options that name files: their relative values are made absolute.
PATH_OPTIONS = {
    "--model": "model",
    "-m": "model",
    "--labels": "labels",
    "--source": "source",
    "-s": "source",
    "--gpu-delegate": "gpu_delegate",
}
_CANONICAL = {"model": "--model", "labels": "--labels", "source": "--source"}
_CANONICAL["gpu_delegate"] = "--gpu-delegate"
#: Window-only run options: a service runs headless.
WINDOW_ONLY = {"fullscreen": "--fullscreen", "snapshot_dir": "--snapshot-dir"}
_UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\-]+$")


class ServiceError(EdgecamError):
    """The unit cannot be written, or systemd refused it."""


@dataclass(frozen=True)
class ServiceSpec:
    """Which unit: its name, user or system, and the folder it lives in.

    Attributes:
        name: the unit's name without ``.service``.
        system: a system unit (runs as ``run_as``) instead of a user unit.
        unit_dir: the folder for the unit file; None: ``$EDGECAM_UNIT_DIR``, else systemd's.
        run_as: the user a system unit runs as (default: ``$SUDO_USER``, else this user).
    """

    name: str = DEFAULT_NAME
    system: bool = False
    unit_dir: Path | None = None
    run_as: str | None = None

    def __post_init__(self) -> None:
        name = self.name.removesuffix(".service")
        if not _UNIT_NAME.match(name) or name.startswith("-"):
            raise ConfigError(
                f"'{self.name}' cannot be a systemd unit name",
                "use letters, digits, '-', '_', '.' or ':', e.g. --name edgecam-door",
            )
        object.__setattr__(self, "name", name)

    @property
    def unit_name(self) -> str:
        return f"{self.name}.service"

    @property
    def custom_dir(self) -> bool:
        return self.unit_dir is not None or bool(os.environ.get(UNIT_DIR_ENV))

    @property
    def directory(self) -> Path:
        if self.unit_dir is not None:
            return Path(self.unit_dir).expanduser().absolute()
        if os.environ.get(UNIT_DIR_ENV):
            return Path(os.environ[UNIT_DIR_ENV]).expanduser().absolute()
        if self.system:
            return Path("/etc/systemd/system")
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config) / "systemd" / "user"

    @property
    def path(self) -> Path:
        return self.directory / self.unit_name

    @property
    def user(self) -> str | None:
        """The ``User=`` of a system unit (None for a user unit, or to run as root)."""
        if not self.system:
            return None
        user = self.run_as or os.environ.get("SUDO_USER") or _current_user()
        return None if user == "root" else user

    def systemctl_args(self, *args: str) -> list[str]:
        return [*([] if self.system else ["--user"]), *args]

    def journal_command(self) -> str:
        return f"journalctl {'' if self.system else '--user '}-u {self.unit_name} -f"


def _current_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


# --- systemd's quoting ------------------------------------------------------------------

_CONTROL = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def systemd_quote(word: str, env_expansion: bool = True) -> str:
    """One word of a command line (or an ``Environment=`` assignment) by systemd's rules.

    Specifiers (``%``) are doubled everywhere, as ``$`` is where systemd expands variables
    (ExecStart); a word with spaces, quotes, backslashes or control characters is put in
    double quotes with C escapes; a lone ``;`` (a command separator) is ``\\;``.
    """
    if word == ";":
        return "\\;"
    text = word.replace("\\", "\\\\").replace("%", "%%")
    if env_expansion:
        text = text.replace("$", "$$")
    plain = word and not any(c.isspace() or c in "\"'\\" or ord(c) < 32 for c in word)
    if plain:
        return text
    text = text.replace('"', '\\"')
    text = "".join(
        _CONTROL.get(c, f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c) for c in text
    )
    return f'"{text}"'


def exec_line(argv: list[str]) -> str:
    """``ExecStart=``'s value for ``argv`` (the first word an absolute path).

    systemd expands no variables in the program's path and refuses one with quotes,
    backslashes or control characters in it.
    """
    if not argv or not os.path.isabs(argv[0]):
        raise ServiceError(f"the service's program must be an absolute path, got {argv[:1]}")
    if any(c in "\"'\\" or ord(c) < 32 or ord(c) == 127 for c in argv[0]):
        raise ServiceError(
            f"systemd cannot run {argv[0]}: its path holds quotes, backslashes or control "
            "characters",
            "create the venv in a folder whose path has none",
        )
    program = systemd_quote(argv[0], env_expansion=False)
    return " ".join([program, *(systemd_quote(word) for word in argv[1:])])


# --- the run options --------------------------------------------------------------------


def _absolute(value: str, kind: str, cwd: Path) -> str:
    """``value`` as an absolute path when it names an existing file (the source: a path)."""
    if kind == "source" and (
        value.isdigit() or value.lower() == "picamera" or "://" in value or not value
    ):
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = cwd / path
    return str(path) if path.exists() else value


def _rewrite_paths(argv: list[str], cwd: Path) -> list[str]:
    out = list(argv)
    i = 0
    while i < len(out):
        token = out[i]
        if token == "--":
            break
        if token in PATH_OPTIONS and i + 1 < len(out):
            out[i + 1] = _absolute(out[i + 1], PATH_OPTIONS[token], cwd)
            i += 2
            continue
        option, eq, value = token.partition("=")
        if eq and option in PATH_OPTIONS and option.startswith("--"):
            out[i] = f"{option}={_absolute(value, PATH_OPTIONS[option], cwd)}"
        elif token[:2] in ("-m", "-s") and len(token) > 2 and not token.startswith("--"):
            value = token[2:].removeprefix("=")
            out[i] = token[:2] + _absolute(value, PATH_OPTIONS[token[:2]], cwd)
        i += 1
    return out


def _parse_run(argv: list[str]) -> argparse.Namespace:
    """Parse with the ``run`` command's own parser (argparse's usage error and exit 2)."""
    from edgecam.cli import build_parser

    return build_parser().parse_args(["run", *argv])


def check_run_args(run_args: list[str], cwd: Path | None = None) -> list[str]:
    """The ``run`` arguments a service should get, checked and with absolute paths.

    The options go through ``edgecam run``'s parser (a bad one is its usage error), then the
    model is resolved and the source named as ``run`` would (no runtime is loaded and no
    camera opened). Relative paths of files that exist become absolute.

    Raises:
        ConfigError: a window-only option, or a model or source ``run`` would refuse.
        ModelError, LabelsError, SourceError: the model, labels or source as ``run`` says.
    """
    from edgecam.bundle import resolve_model
    from edgecam.capture.sources import open_source
    from edgecam.cli import _run_options

    cwd = Path.cwd() if cwd is None else cwd
    argv = list(run_args)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if argv[:1] == ["run"]:
        argv = argv[1:]
    argv = [a for a in argv if a != "--headless"]
    args = _parse_run(argv)
    for dest, flag in WINDOW_ONLY.items():
        if getattr(args, dest, None):
            raise ConfigError(
                f"{flag} is for the window, and a service runs headless", f"leave {flag} out"
            )
    argv = _rewrite_paths(argv, cwd)
    args = _parse_run(argv)
    for dest, flag in _CANONICAL.items():  # abbreviated options (--mod x): give them in full
        value = getattr(args, dest, None)
        if value is not None and str(value) != _absolute(str(value), dest, cwd):
            argv += [flag, _absolute(str(value), dest, cwd)]
    args = _parse_run(argv)
    if args.model is None and os.environ.get(defaults.DEFAULT_MODEL_ENV):
        model, _ = defaults.default_model()
        argv += ["--model", _absolute(str(model), "model", cwd)]
        log.warning("the service gets --model %s from $%s", argv[-1], defaults.DEFAULT_MODEL_ENV)
        args = _parse_run(argv)
    options = _run_options(args, args.model).classifier_options()
    resolve_model(options.model, options.labels)
    if args.source is None:
        log.warning("no --source: the service uses camera 0, or the demo clip when there is none")
    else:
        open_source(args.source, loop=args.loop, pace=not args.no_pace, fps=args.fps)
    return argv


# --- the unit ----------------------------------------------------------------------------


def python_executable() -> str:
    """This interpreter's absolute path, symlinks kept (a venv's python is one)."""
    return os.path.abspath(sys.executable)


def _needs_pythonpath(python: str) -> str | None:
    """The folder to put on PYTHONPATH when ``python`` outside this shell cannot import edgecam."""
    home = str(Path(__file__).resolve().parent.parent)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        proc = subprocess.run(
            [python, "-c", "import edgecam, os; print(os.path.dirname(edgecam.__path__[0]))"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path.home() if Path.home().is_dir() else "/",
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return home
    found = proc.stdout.strip()
    if proc.returncode == 0 and found and Path(found).resolve() == Path(home):
        return None
    return home


def unit_text(spec: ServiceSpec, run_argv: list[str], python: str | None = None) -> str:
    """The unit file that runs ``python -m edgecam run --headless --results changes RUN_ARGV``."""
    python = python or python_executable()
    # A line per frame would flood the journal; the user's own --results comes later and wins.
    argv = [python, "-m", "edgecam", "run", "--headless", "--results", "changes", *run_argv]
    env = ["PYTHONUNBUFFERED=1"]
    pythonpath = _needs_pythonpath(python)
    if pythonpath:
        env.append(f"PYTHONPATH={pythonpath}")
    lines = [
        f"{MARKER} (edgecam {__version__}); `edgecam service uninstall"
        f"{' --system' if spec.system else ''}"
        f"{'' if spec.name == DEFAULT_NAME else ' --name ' + spec.name}` removes it.",
        f"# Runs at boot, restarts {RESTART_S} s after a failure; logs: {spec.journal_command()}",
        "[Unit]",
        "Description=edgecam live classification (headless)",
    ]
    if spec.system:
        lines += ["Wants=network-online.target", "After=network-online.target"]
    lines += [
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={exec_line(argv)}",
        # Paths are absolute; the home folder is where saved settings and snapshots live.
        "WorkingDirectory=~",
        *(f"Environment={systemd_quote(e, env_expansion=False)}" for e in env),
        "Restart=on-failure",
        f"RestartSec={RESTART_S}",
        # SIGINT is Ctrl-C: edgecam closes the camera, prints its final stats, exits 130.
        "KillSignal=SIGINT",
        "SuccessExitStatus=130",
        "TimeoutStopSec=15",
        "StandardOutput=journal",
        "StandardError=journal",
        f"SyslogIdentifier={spec.name}",
    ]
    if spec.user:
        lines.append(f"User={spec.user}")
    lines += [
        "",
        "[Install]",
        f"WantedBy={'multi-user.target' if spec.system else 'default.target'}",
    ]
    return "\n".join(lines) + "\n"


# --- systemctl ---------------------------------------------------------------------------


def _systemctl() -> str | None:
    return shutil.which("systemctl")


def _run_systemctl(systemctl: str, spec: ServiceSpec, *args: str) -> subprocess.CompletedProcess:
    cmd = [systemctl, *spec.systemctl_args(*args)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, 124, "", "systemctl did not answer within 90 s")
    except OSError as exc:
        return subprocess.CompletedProcess(cmd, 127, "", f"cannot run {systemctl}: {exc.strerror}")


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else ""


def _commands(spec: ServiceSpec) -> list[str]:
    target = str(spec.path) if spec.custom_dir else spec.unit_name
    ctl = "systemctl" + ("" if spec.system else " --user")
    return [f"{ctl} daemon-reload", f"{ctl} enable --now {target}"]


def _linger_note(spec: ServiceSpec) -> str | None:
    if spec.system:
        return None
    user = _current_user()
    if Path("/var/lib/systemd/linger", user).exists():
        return None
    return (
        f"a user unit starts at boot only with lingering on, which is off for {user}: "
        f"sudo loginctl enable-linger {user}"
    )


def _owned(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8", errors="replace").startswith(MARKER)
    except OSError:
        return False


def install(
    spec: ServiceSpec,
    run_args: list[str],
    *,
    start: bool = True,
    print_only: bool = False,
    out=None,
) -> int:
    """Write the unit (atomically), then reload systemd and enable and start it.

    With ``print_only`` the unit goes to ``out`` and nothing else happens. With ``start``
    False, or where there is no systemctl, it says what to run instead.
    """
    out = out or sys.stdout
    text = unit_text(spec, check_run_args(run_args))
    if print_only:
        out.write(text)
        return 0
    path = spec.path
    if path.exists() and not _owned(path):
        raise ServiceError(
            f"{path} exists and was not written by edgecam",
            "remove it yourself, or choose another --name",
        )
    if spec.system and not spec.user:
        log.warning("the system unit runs edgecam as root: give --run-as USER to avoid it")
    if not spec.system and not spec.custom_dir and hasattr(os, "getuid") and os.getuid() == 0:
        log.warning("a user unit for root (under sudo?): --system writes one that runs at boot")
    try:
        atomic_write_text(path, text)
    except PermissionError:
        raise ServiceError(
            f"cannot write {path} (permission denied)",
            "a system unit needs root: sudo "
            f"{python_executable()} -m edgecam service install --system ..."
            if spec.system
            else f"check the permissions of {spec.directory}",
        ) from None
    except OSError as exc:
        raise ServiceError(f"cannot write {path} ({exc.strerror})", "check the folder") from None
    print(f"wrote {path}", file=out)
    commands = _commands(spec)
    systemctl = _systemctl()
    if not start or systemctl is None:
        if systemctl is None:
            log.warning(
                "systemctl not found (this system does not run systemd?): the unit is written "
                "but not started"
            )
        print("to start it now and at every boot:", file=out)
        for command in commands:
            print(f"  {command}", file=out)
        return 0
    for args in (["daemon-reload"], ["enable", "--now", commands[1].rsplit(" ", 1)[1]]):
        proc = _run_systemctl(systemctl, spec, *args)
        if proc.returncode != 0:
            raise ServiceError(
                f"{path} is written, but `systemctl {' '.join(spec.systemctl_args(*args))}` "
                f"failed ({_first_line(proc.stderr) or f'exit status {proc.returncode}'})",
                "run it yourself "
                + ("as root" if spec.system else "in the user's own login session (not su/sudo)")
                + ": "
                + " && ".join(commands),
            )
    print(f"enabled and started {spec.unit_name}; its log: {spec.journal_command()}", file=out)
    note = _linger_note(spec)
    if note:
        log.warning(note)
    return 0


def uninstall(spec: ServiceSpec, *, stop: bool = True, out=None) -> int:
    """Stop and disable the unit, remove its file and reload systemd."""
    out = out or sys.stdout
    path = spec.path
    if not path.exists():
        raise ServiceError(
            f"no {spec.unit_name} at {path}",
            "give the --name / --system / --unit-dir it was installed with "
            "(edgecam service status shows where it looks)",
        )
    if not _owned(path):
        raise ServiceError(f"{path} was not written by edgecam", "remove it yourself")
    systemctl = _systemctl() if stop else None
    if systemctl:
        proc = _run_systemctl(systemctl, spec, "disable", "--now", spec.unit_name)
        if proc.returncode != 0:
            log.warning(
                "systemctl %s failed (%s); removing the unit anyway",
                " ".join(spec.systemctl_args("disable", "--now", spec.unit_name)),
                _first_line(proc.stderr) or f"exit status {proc.returncode}",
            )
    try:
        path.unlink()
    except OSError as exc:
        raise ServiceError(f"cannot remove {path} ({exc.strerror})", "run it as root") from None
    print(f"removed {path}", file=out)
    if systemctl:
        _run_systemctl(systemctl, spec, "daemon-reload")
    elif stop:
        ctl = "systemctl" + ("" if spec.system else " --user")
        print(f"if it was running: {ctl} disable --now {spec.unit_name}", file=out)
    return 0


def status(spec: ServiceSpec, *, out=None) -> int:
    """Where the unit is, what it runs, and what systemd says. 0: installed; 1: not."""
    out = out or sys.stdout
    path = spec.path
    if not path.exists():
        print(f"{spec.unit_name}: not installed (no {path})", file=out)
        return 1
    exec_start = next(
        (
            line
            for line in path.read_text(errors="replace").splitlines()
            if line.startswith("ExecStart=")
        ),
        "ExecStart=?",
    )
    print(f"{spec.unit_name}: {path}", file=out)
    print(f"  {exec_start}", file=out)
    systemctl = _systemctl()
    if systemctl is None:
        print("  systemctl not found: systemd is not running here", file=out)
        return 0
    for query in ("is-enabled", "is-active"):
        proc = _run_systemctl(systemctl, spec, query, spec.unit_name)
        answer = _first_line(proc.stdout) or _first_line(proc.stderr) or f"exit {proc.returncode}"
        print(f"  {query}: {answer}", file=out)
    note = _linger_note(spec)
    if note:
        print(f"  note: {note}", file=out)
    print(f"  log: {spec.journal_command()}", file=out)
    return 0
