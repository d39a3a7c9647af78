"""`edgecam service`: units generated into tmp_path and checked (with `systemd-analyze verify`
where it runs), systemd's quoting, the run options checked before anything is written, and
install / status / uninstall against a fake `systemctl` on PATH (and none)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLI_CWD, FIXTURES, REPO, assert_one_line_error, cli_env

from edgecam import service
from edgecam.service import ServiceError, ServiceSpec, exec_line, systemd_quote

PYTHON = os.path.abspath(sys.executable)
BUNDLE = FIXTURES / "bundle_int8"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def edgecam(*args: str, cwd: Path | None = None, path: str | None = None, **env: str):
    """``python -m edgecam ARGS`` in a fresh process (``path``: its $PATH)."""
    environment = cli_env(**env)
    if path is not None:
        environment["PATH"] = path
    return subprocess.run(
        [PYTHON, "-m", "edgecam", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or CLI_CWD,
        env=environment,
    )


def unit_lines(text: str) -> dict[str, list[str]]:
    """``key -> [values]`` of a unit file (all sections)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture
def fake_systemctl(tmp_path):
    """A `systemctl` that records its arguments; exit status and stderr set through files."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "systemctl.log"
    script = bin_dir / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{log}"\n'
        f'if [ -f "{tmp_path}/fail" ]; then cat "{tmp_path}/fail" >&2; exit 1; fi\n'
        'case "$1 $2" in *is-enabled*) echo enabled;; *is-active*) echo active;; esac\n'
    )
    script.chmod(0o755)

    class Fake:
        path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        calls_file = log

        @staticmethod
        def calls() -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

        @staticmethod
        def fail(text: str) -> None:
            (tmp_path / "fail").write_text(text)

    return Fake


def _no_systemctl_path(tmp_path: Path) -> str:
    """A $PATH without systemctl (only a folder holding nothing)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    return str(empty)


# --- the unit ----------------------------------------------------------------------------


def test_print_writes_a_user_unit_for_headless_mode(tmp_path):
    proc = edgecam("service", "install", "--print", "--source", "picamera", "--unit-dir", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # --print writes nothing
    keys = unit_lines(proc.stdout)
    assert proc.stdout.startswith(service.MARKER)
    # A line per frame would flood the journal: the unit prints only changes of the top-1.
    assert keys["ExecStart"] == [
        f"{PYTHON} -m edgecam run --headless --results changes --source picamera"
    ]
    assert keys["Restart"] == ["on-failure"]
    assert keys["StandardOutput"] == ["journal"] and keys["StandardError"] == ["journal"]
    assert keys["KillSignal"] == ["SIGINT"] and keys["SuccessExitStatus"] == ["130"]
    assert keys["WantedBy"] == ["default.target"]
    assert "User" not in keys and "After" not in keys
    assert "journalctl --user -u edgecam.service -f" in proc.stdout


def test_a_system_unit_runs_as_the_given_user(tmp_path):
    proc = edgecam(
        "service", "install", "--print", "--system", "--run-as", "pi", "--name", "door",
        "--source", "0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    keys = unit_lines(proc.stdout)
    assert keys["User"] == ["pi"]
    assert keys["WantedBy"] == ["multi-user.target"]
    assert keys["After"] == ["network-online.target"]
    assert keys["SyslogIdentifier"] == ["door"]
    assert "`edgecam service uninstall --system --name door` removes it" in proc.stdout


def test_a_system_unit_for_root_says_so(tmp_path):
    proc = edgecam("service", "install", "--print", "--system", "--run-as", "root")
    assert proc.returncode == 0, proc.stderr
    assert "User" not in unit_lines(proc.stdout)
    assert "runs edgecam as root" not in proc.stderr  # only install itself warns


def test_relative_paths_become_absolute(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(BUNDLE, work / "my bundle")
    (work / "clips").mkdir()
    shutil.copy(FIXTURES.parent.parent / "assets/demo/samples/2_trouser.png", work / "clips")
    proc = edgecam(
        "service", "install", "--print", "-m", "my bundle", "--source=clips", "--threads", "1",
        "--json", cwd=work,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (exec_start,) = unit_lines(proc.stdout)["ExecStart"]
    assert exec_start == (
        f"{PYTHON} -m edgecam run --headless --results changes "
        f'-m "{work}/my bundle" --source={work}/clips --threads 1 --json'
    )


def test_the_run_options_are_checked_before_anything_is_written(tmp_path):
    units = tmp_path / "units"
    cases = [
        # the run command's own parser says it, as for `edgecam run`
        (["--threads", "0"], "edgecam run: error: argument --threads/-t: must be at least 1"),
        (["--delegate", "tpu"], "argument --delegate/-d: invalid choice: 'tpu'"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ]
    for args, needle in cases:
        proc = edgecam("service", "install", "--unit-dir", units, *args)
        assert proc.returncode == 2, proc.stderr
        assert needle in proc.stderr
        assert "usage: edgecam" in proc.stderr and "Traceback" not in proc.stderr
    for args, needle in [
        (["--model", "nope"], "model not found: nope"),
        (["--source", "missing.mp4"], "source not found: missing.mp4"),
        (["--fullscreen"], "--fullscreen is for the window, and a service runs headless"),
        (["--source", "0", "--fps", "5"], "--fps applies to image folders and images"),
    ]:
        proc = edgecam("service", "install", "--unit-dir", units, *args)
        assert_one_line_error(proc, needle)
    assert not units.exists()


def test_a_bad_unit_name_and_stray_arguments(tmp_path):
    assert_one_line_error(
        edgecam("service", "install", "--print", "--name", "my service"),
        "'my service' cannot be a systemd unit name",
    )
    assert_one_line_error(
        edgecam("service", "status", "--source", "0", "--unit-dir", tmp_path),
        "edgecam service status takes no run options (--source 0)",
    )
    proc = edgecam("service")
    assert proc.returncode == 2 and "required: ACTION" in proc.stderr


def test_the_default_model_from_the_environment_is_baked_in(tmp_path):
    proc = edgecam(
        "service", "install", "--print", "--source", "0", EDGECAM_DEFAULT_MODEL=str(BUNDLE)
    )
    assert proc.returncode == 0, proc.stderr
    assert unit_lines(proc.stdout)["ExecStart"][0].endswith(f"--source 0 --model {BUNDLE}")
    assert "EDGECAM_DEFAULT_MODEL" in proc.stderr


def test_an_interpreter_that_cannot_import_edgecam_gets_pythonpath():
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no /usr/bin/python3")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [system_python, "-c", "import edgecam"], capture_output=True, cwd="/", env=env
    )
    if probe.returncode == 0:
        pytest.skip(f"{system_python} imports edgecam")
    home = str(Path(service.__file__).resolve().parent.parent)
    assert service._needs_pythonpath(system_python) == home
    text = service.unit_text(ServiceSpec(), ["--source", "0"], python=system_python)
    assert f"Environment=PYTHONPATH={home}" in text.splitlines()
    # This interpreter, started from / without PYTHONPATH: the edgecam under test (an editable
    # install, or the installed wheel the Pi suite runs on) needs none; a checkout tested
    # against another installed copy does.
    plain = subprocess.run(
        [PYTHON, "-c", "import edgecam, os; print(os.path.dirname(edgecam.__path__[0]))"],
        capture_output=True,
        text=True,
        cwd="/",
        env=env,
    )
    same = plain.returncode == 0 and Path(plain.stdout.strip()).resolve() == Path(home)
    assert service._needs_pythonpath(PYTHON) == (None if same else home)


# --- systemd's quoting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "quoted"),
    [
        ("plain", "plain"),
        ("/abs/path.tflite", "/abs/path.tflite"),
        ("a b", '"a b"'),
        ("100%", "100%%"),
        ("$HOME", "$$HOME"),
        ('say "hi"', '"say \\"hi\\""'),
        ("it's", '"it\'s"'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there", '"tab\\there"'),
        ("", '""'),
        (";", "\\;"),
        ("rtsp://u:p@cam/%20x", "rtsp://u:p@cam/%%20x"),
    ],
)
def test_systemd_quote(word, quoted):
    assert systemd_quote(word) == quoted


def test_the_program_path(tmp_path):
    assert exec_line(["/opt/my venv/bin/python", "-m", "edgecam"]).startswith(
        '"/opt/my venv/bin/python" -m'
    )
    # systemd expands no variables in the program's path: a $ stays single there.
    assert exec_line(["/opt/$x/python"]) == "/opt/$x/python"
    for bad in ("/opt/it's/python", '/opt/"q"/python', "/opt/a\\b/python"):
        with pytest.raises(ServiceError, match="quotes, backslashes or control characters"):
            exec_line([bad])
    with pytest.raises(ServiceError, match="absolute path"):
        exec_line(["python"])


# --- systemd-analyze verify ----------------------------------------------------------------


def _analyze(unit: Path, user: bool, tmp_path: Path) -> subprocess.CompletedProcess:
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(exist_ok=True, mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SYSTEMD_LOG_COLOR="0")
    cmd = [SYSTEMD_ANALYZE, *(["--user"] if user else []), "verify", str(unit)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def verify(tmp_path):
    """``verify(unit_text, user) -> CompletedProcess``; skips where systemd-analyze cannot run."""
    if SYSTEMD_ANALYZE is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    probe = tmp_path / "probe.service"
    probe.write_text(f"[Service]\nExecStart={PYTHON} -c pass\n")
    proc = _analyze(probe, user=False, tmp_path=tmp_path)
    if proc.returncode != 0:
        pytest.skip(f"systemd-analyze verify cannot run here: {proc.stderr.strip()[:200]}")

    def run(text: str, user: bool, name: str = "edgecam.service") -> subprocess.CompletedProcess:
        unit = tmp_path / "verify" / name
        unit.parent.mkdir(exist_ok=True)
        unit.write_text(text)
        return _analyze(unit, user, tmp_path)

    return run


@pytest.mark.parametrize("system", [False, True])
def test_generated_units_verify(verify, system):
    spec = ServiceSpec(system=system, run_as="pi" if system else None)
    args = ["--model", str(BUNDLE), "--source", "rtsp://cam/live 1?x=%20&y=$z", "--json"]
    proc = verify(service.unit_text(spec, args), user=not system)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr  # no unknown key, no bad value


def test_a_program_path_with_spaces_percent_and_dollar_verifies(verify, tmp_path):
    folder = tmp_path / "my venv 100% $HOME"
    folder.mkdir()
    program = folder / "python"
    program.symlink_to(PYTHON)
    text = service.unit_text(ServiceSpec(), ["--source", "0"], python=str(program))
    proc = verify(text, user=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
    # The control: the same path unquoted is read as another program.
    naive = text.replace(exec_line([str(program)]), str(program))
    assert naive != text
    proc = verify(naive, user=True, name="naive.service")
    assert proc.returncode != 0 and "is not executable" in proc.stderr


@pytest.mark.parametrize(
    "word", ["a b", "100%", 'say "hi"', "it's", "back\\slash", "tab\there", "x;y", "ü é"]
)
def test_systemd_reads_a_quoted_word_back(verify, word):
    # systemd names the program it could not find: the word, as systemd parsed it.
    program = f"/nonexistent/{word}"
    quoted = systemd_quote(program, env_expansion=False)
    proc = verify(f"[Service]\nExecStart={quoted} --flag\n", user=False)
    assert proc.returncode != 0
    found = re.search(
        r"(?:Command (.*) is not executable: |Executable name contains special characters: (.*)$)",
        proc.stderr,
        re.MULTILINE,
    )
    assert found, proc.stderr
    assert (found.group(1) or found.group(2)) == program


# --- install, status, uninstall ------------------------------------------------------------


def test_install_writes_enables_and_starts(tmp_path, fake_systemctl):
    units = tmp_path / "units"
    proc = edgecam(
        "service", "install", "--unit-dir", units, "--source", "picamera", "--model", BUNDLE,
        path=fake_systemctl.path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    unit = units / "edgecam.service"
    assert [p.name for p in units.iterdir()] == ["edgecam.service"]  # no temporary file left
    assert f"wrote {unit}" in proc.stdout
    assert "journalctl --user -u edgecam.service -f" in proc.stdout
    assert fake_systemctl.calls() == ["--user daemon-reload", f"--user enable --now {unit}"]
    keys = unit_lines(unit.read_text())
    assert keys["ExecStart"] == [
        f"{PYTHON} -m edgecam run --headless --results changes --source picamera --model {BUNDLE}"
    ]


def test_a_system_install_uses_systemctl_without_user(tmp_path, fake_systemctl):
    units = tmp_path / "units"
    proc = edgecam(
        "service", "install", "--system", "--run-as", "pi", "--unit-dir", units,
        "--source", "0", path=fake_systemctl.path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert fake_systemctl.calls() == [
        "daemon-reload",
        f"enable --now {units / 'edgecam.service'}",
    ]
    assert "journalctl -u edgecam.service -f" in proc.stdout


def test_install_where_systemctl_fails(tmp_path, fake_systemctl):
    fake_systemctl.fail("Failed to connect to bus: No medium found")
    units = tmp_path / "units"
    proc = edgecam(
        "service", "install", "--unit-dir", units, "--source", "0", path=fake_systemctl.path
    )
    line = assert_one_line_error(
        proc,
        f"{units / 'edgecam.service'} is written, but `systemctl --user daemon-reload` failed "
        "(Failed to connect to bus: No medium found)",
    )
    assert "systemctl --user enable --now" in line
    assert (units / "edgecam.service").is_file()


def test_install_without_systemd_says_what_to_run(tmp_path):
    units = tmp_path / "units"
    no_ctl = _no_systemctl_path(tmp_path)
    proc = edgecam("service", "install", "--unit-dir", units, "--source", "0", path=no_ctl)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "systemctl not found (this system does not run systemd?)" in proc.stderr
    assert "systemctl --user daemon-reload" in proc.stdout
    assert f"systemctl --user enable --now {units / 'edgecam.service'}" in proc.stdout
    assert (units / "edgecam.service").is_file()


def test_no_start_and_the_environment_variable(tmp_path, fake_systemctl):
    units = tmp_path / "from-env"
    proc = edgecam(
        "service", "install", "--no-start", "--source", "0",
        path=fake_systemctl.path, EDGECAM_UNIT_DIR=str(units),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (units / "edgecam.service").is_file()
    assert fake_systemctl.calls() == []
    assert "to start it now and at every boot:" in proc.stdout


def test_a_reinstall_replaces_its_own_unit_but_no_other(tmp_path):
    units = tmp_path / "units"
    no_ctl = _no_systemctl_path(tmp_path)
    for source in ("0", "1"):
        proc = edgecam("service", "install", "--unit-dir", units, "--source", source, path=no_ctl)
        assert proc.returncode == 0, proc.stderr
    assert unit_lines((units / "edgecam.service").read_text())["ExecStart"][0].endswith("1")
    foreign = units / "other.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n")
    proc = edgecam("service", "install", "--unit-dir", units, "--name", "other", path=no_ctl)
    assert_one_line_error(proc, f"{foreign} exists and was not written by edgecam")
    assert foreign.read_text() == "[Service]\nExecStart=/bin/true\n"


def test_status_and_uninstall(tmp_path, fake_systemctl):
    units = tmp_path / "units"
    proc = edgecam("service", "status", "--unit-dir", units, path=fake_systemctl.path)
    assert proc.returncode == 1
    assert "edgecam.service: not installed" in proc.stdout
    proc = edgecam(
        "service", "uninstall", "--unit-dir", units, "--name", "door", path=fake_systemctl.path
    )
    assert_one_line_error(proc, f"no door.service at {units / 'door.service'}")

    proc = edgecam(
        "service", "install", "--unit-dir", units, "--name", "door", "--source", "0",
        path=fake_systemctl.path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = edgecam(
        "service", "status", "--unit-dir", units, "--name", "door", path=fake_systemctl.path
    )
    assert proc.returncode == 0, proc.stderr
    assert f"door.service: {units / 'door.service'}" in proc.stdout
    assert "ExecStart=" in proc.stdout and "--source 0" in proc.stdout
    assert "is-enabled: enabled" in proc.stdout and "is-active: active" in proc.stdout

    proc = edgecam(
        "service", "uninstall", "--unit-dir", units, "--name", "door", path=fake_systemctl.path
    )
    assert proc.returncode == 0, proc.stderr
    assert not (units / "door.service").exists()
    assert fake_systemctl.calls()[-2:] == [
        "--user disable --now door.service",
        "--user daemon-reload",
    ]


def test_uninstall_leaves_a_foreign_unit_alone(tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    (units / "edgecam.service").write_text("[Service]\nExecStart=/bin/true\n")
    proc = edgecam("service", "uninstall", "--unit-dir", units, path=_no_systemctl_path(tmp_path))
    assert_one_line_error(proc, "was not written by edgecam")
    assert (units / "edgecam.service").exists()


def test_an_unwritable_unit_folder_is_one_error_line(tmp_path):
    if os.getuid() == 0:
        pytest.skip("root can write anywhere")
    units = tmp_path / "units"
    units.mkdir(mode=0o500)
    proc = edgecam("service", "install", "--unit-dir", units, "--source", "0")
    assert_one_line_error(proc, "permission denied")


def test_the_documented_commands_exist():
    text = (REPO / "docs" / "DEPLOY.md").read_text()
    for needle in ("edgecam doctor", "edgecam service install", "99-coral-edgetpu.rules"):
        assert needle in text


def test_importing_the_service_module_probes_nothing():
    code = (
        "import sys, edgecam.service\n"
        "bad = {m.split('.')[0] for m in sys.modules} & "
        "{'ai_edge_litert', 'tflite_runtime', 'tensorflow', 'PyQt6', 'cv2'}\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    proc = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, env=cli_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean"
