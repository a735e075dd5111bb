"""Run a command as a gitml run: stream and capture its output, forward signals,
gather the environment while it runs, and record how it ended."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitml.envs.cache import user_cache_dir
from gitml.envs.packages import installed_packages, interpreter_for
from gitml.errors import ArtifactError, CommandStartError, GitmlError, InvalidValueError
from gitml.store.layout import ENV_FREEZE_FILE
from gitml.store.repository import Repository
from gitml.store.secret_files import SecretRule
from gitml.tracking.artifacts import check_source, store_folder
from gitml.tracking.autofold import AutoFold, fold_after_run
from gitml.tracking.record import RunSummary
from gitml.tracking.run import StartedRun, discard_run, finish_run, set_owner

if TYPE_CHECKING:
    from gitml.envs.activate import Activation
    from gitml.tracking.staging import Staging

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class CommandResult:
    summary: RunSummary
    exit_code: int
    artifact_errors: list[str] = field(default_factory=list)
    artifact_warnings: list[str] = field(default_factory=list)  # files left out, and why
    output_warnings: list[str] = field(default_factory=list)  # output not captured in full
    logging_warnings: list[str] = field(default_factory=list)  # MLflow logged elsewhere
    # models the script logged with registered_model_name=: (model name, artifact path)
    registrations: list[tuple[str, str]] = field(default_factory=list)
    fold: AutoFold = field(default_factory=AutoFold)  # older runs folded once it was committed

    @property
    def exit_status(self) -> int:
        """What gitml exits with: the command's exit code, else 1 if an artifact could
        not be stored."""
        return self.exit_code or (1 if self.artifact_errors else 0)


def check_command(
    command: list[str], search_path: str | None = None, cwd: Path | None = None
) -> None:
    """Refuse, before anything is written, a command that cannot start: not found, or a
    script whose `#!` line names an interpreter that is not there. `cwd` is the folder
    it will run in (where `./script` is)."""
    if not command:
        raise InvalidValueError(
            "no command given: put it after `--`, e.g. gitml run -- python train.py"
        )
    if any("\0" in argument for argument in command):  # a fetched run's may
        raise InvalidValueError(
            f"the command {command!r} holds a NUL byte, which no program can be given"
        )
    program = command[0]
    if os.sep in program and cwd is not None:
        program = os.path.join(cwd, program)
    found = shutil.which(program, path=search_path)
    if found is None:
        raise InvalidValueError(f"command not found: {command[0]} (check the spelling and PATH)")
    _check_interpreter(command[0], Path(found), cwd, search_path)


def _check_interpreter(
    shown: str, program: Path, cwd: Path | None, search_path: str | None
) -> None:
    """The kernel runs a script through the interpreter its `#!` line names, and
    refuses to start it when that interpreter does not exist; `#!/usr/bin/env NAME`
    starts, then fails (exit 127) when NAME is not on PATH."""
    try:
        with open(program, "rb") as file:
            first = file.readline(256)
    except OSError:
        return  # not readable: starting it will say why
    if not first.startswith(b"#!"):
        return
    words = first[2:].split()
    if not words:
        raise InvalidValueError(f"{shown}: its #! line names no interpreter")
    interpreter = os.fsdecode(words[0])
    path = Path(cwd or ".", interpreter)
    if not path.is_file():
        raise InvalidValueError(f"{shown}: interpreter {interpreter} not found")
    if not os.access(path, os.X_OK):
        raise InvalidValueError(f"{shown}: interpreter {interpreter} is not executable")
    named = os.fsdecode(words[1]) if path.name == "env" and len(words) == 2 else "-"
    plain = not named.startswith("-") and "=" not in named  # no option, no VAR=value
    if plain and shutil.which(named, path=search_path) is None:
        raise InvalidValueError(f"{shown}: interpreter {named} not found on PATH")


def start_command(
    repo: Repository,
    started: StartedRun,
    command: list[str],
    activation: "Activation | None" = None,
    cwd: Path | None = None,
) -> subprocess.Popen:
    """Start the run's command, its output piped to gitml. When the system refuses to
    start it (not a program it can run: ENOEXEC; no permission), the run is discarded,
    as if it had never begun, and CommandStartError says why."""
    from gitml.envs.activate import Activation

    activation = activation or Activation.local()
    env = child_environment(started, repo)
    try:
        child = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=activation.apply(env),
            cwd=cwd,
        )
    except OSError as error:
        discard_run(repo, started.staging)
        raise CommandStartError(command[0], error) from None
    set_owner(started.staging, child.pid)
    return child


def check_artifact_paths(
    repo: Repository,
    paths: list[str],
    secrets: SecretRule | None = None,
    base: Path | None = None,
) -> list[Path]:
    """Artifact paths (relative to `base`, default the current folder) must lie inside
    the work tree and outside .git; they may not exist yet. Checked again once the
    command has run: it may have made a link leading out. A path named like a secret
    (`secrets`) is refused here, before the command runs."""
    refuse_empty_artifact_paths(paths)
    root = repo.work_tree.resolve()
    git_dirs = _git_dirs(repo)
    checked = [check_source(Path(base or "", text), text, git_dirs, root) for text in paths]
    secrets = secrets or SecretRule()
    for text, resolved in zip(paths, checked, strict=True):
        for path in (text, str(resolved)):
            pattern = secrets.secret_pattern(path)
            if pattern is not None:
                raise ArtifactError(
                    f"artifact {text!r} looks like a secret (it matches {pattern!r}); "
                    f"{secrets.how_to_allow(path)}"
                )
    return checked


def refuse_empty_artifact_paths(paths: list[str]) -> None:
    """An empty path would read as the current folder: the whole work tree, silently."""
    if any(not text.strip() for text in paths):
        raise InvalidValueError(
            "an empty --artifact path names nothing; give a file or folder "
            "(--artifact . for the whole work tree)"
        )


def _git_dirs(repo: Repository) -> list[Path]:
    return [repo.git_dir.resolve(), repo.common_dir.resolve()]


def child_environment(started: StartedRun, repo: Repository) -> dict[str, str]:
    meta = started.staging.meta
    env = dict(os.environ)
    env.update(
        {
            "GITML_RUN_DIR": str(started.staging.path),
            "GITML_RUN_ID": meta["id"],
            "GITML_RUN_NAME": meta["name"],
            "GITML_REPO": str(repo.work_tree),
            "GITML_PARAMS": json.dumps(started.staging.read_params()),
            # MLflow's client logs into this run (gitml/mlflow_plugin: a bare `gitml:` is
            # the repository of GITML_REPO); a script's own set_tracking_uri still wins
            "MLFLOW_TRACKING_URI": "gitml:",
        }
    )
    env.setdefault("PYTHONUNBUFFERED", "1")  # so output streams live through the pipe
    return env


def execute(
    repo: Repository,
    started: StartedRun,
    command: list[str],
    artifacts: list[Path],
    activation: "Activation | None" = None,
    cwd: Path | None = None,
    child: subprocess.Popen | None = None,
    echo: bool = True,
) -> CommandResult:
    """Run `command` for the started run, then commit the run. Returns the script's exit code.

    `activation` puts a venv or conda environment first on the command's PATH (default:
    the current one) and lends the command gitml's logging API; `cwd` is the folder it
    runs in (default: gitml's own); `child` is the command already started by
    `start_command`, if it was; `echo` False keeps its output off gitml's own (a sweep's
    trials run side by side: their output is only captured).
    """
    from gitml.envs.activate import Activation

    staging = started.staging
    activation = activation or Activation.local()
    env = child_environment(started, repo)
    if child is None:
        child = start_command(repo, started, command, activation, cwd)
    interrupted = threading.Event()
    previous = _forward_signals(child, interrupted)
    capture = _Capture(staging)
    workers = [
        threading.Thread(target=_pump, args=(child.stdout, echo and _stream(sys.stdout), capture)),
        threading.Thread(target=_pump, args=(child.stderr, echo and _stream(sys.stderr), capture)),
        threading.Thread(
            target=_record_environment,
            args=(staging, command, activation.apply(env, with_gitml=False), cwd),
        ),
    ]
    for worker in workers:
        worker.daemon = True
        worker.start()
    try:
        returncode = child.wait()
        for worker in workers:
            worker.join()
    finally:
        _restore_signals(previous)
    exit_code = 128 - returncode if returncode < 0 else returncode
    status = _status(staging, returncode, interrupted.is_set())
    errors, warnings = _store_artifacts(repo, staging, artifacts)
    elsewhere = mlflow_logged_elsewhere(repo, cwd, staging.meta["start_ms"])
    registrations = staging.registration_requests()
    summary = finish_run(repo, staging, status, exit_code)
    fold = fold_after_run(repo)
    return CommandResult(
        summary, exit_code, errors, warnings, capture.problems, elsewhere, registrations, fold
    )


MLFLOW_STORES = ("mlruns", "mlflow.db")  # where MLflow logs when no tracking URI is set


def mlflow_logged_elsewhere(repo: Repository, cwd: Path | None, start_ms: int) -> list[str]:
    """One warning when MLflow's own store in the work tree (`mlruns/`, `mlflow.db`, at
    its root or where the command ran) changed during the run: the script set its own
    tracking URI, so what it logged with MLflow is not in the run."""
    root = repo.work_tree.resolve()
    changed = sorted(
        path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        for folder in {root, (cwd or Path.cwd()).resolve()}
        for path in (folder / name for name in MLFLOW_STORES)
        if _newest_change(path) * 1000 >= start_ms
    )
    if not changed:
        return []
    return [
        f"the command logged with MLflow to {' and '.join(changed)}, not to this run: it "
        "sets its own tracking URI (mlflow.set_tracking_uri); leave that out to log into gitml"
    ]


def _newest_change(path: Path) -> float:
    """When `path` last changed (a folder: it or an entry two levels down); 0 if absent."""
    try:
        newest = path.stat().st_mtime
    except OSError:
        return 0.0
    if path.is_dir():
        for child in path.iterdir():
            with contextlib.suppress(OSError):
                newest = max(newest, child.stat().st_mtime)
                if child.is_dir():
                    newest = max([newest, *(g.stat().st_mtime for g in child.iterdir())])
    return newest


def _status(staging, returncode: int, interrupted: bool) -> str:
    """killed (signal), failed (non-zero exit), else what the script gave
    `gitml.end_run(status=...)`, if it ended the run itself; else finished."""
    if interrupted or returncode < 0:
        return "killed"
    if returncode:
        return "failed"
    return staging.declared_status() or "finished"


def _stream(stream):
    return getattr(stream, "buffer", stream)


_HELD_LINE_LIMIT = 65536  # a "line" longer than this is captured without waiting for its end


class _Capture:
    """The captured output that both pumps append to, one whole piece at a time. When
    the system refuses a write (a file size limit: EFBIG, a full disk), capturing
    stops and the problem is kept; the command goes on, its output still shown."""

    def __init__(self, staging: "Staging") -> None:
        self.staging = staging
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def append(self, data: bytes) -> None:
        with self.lock:
            if self.problems:
                return
            try:
                self.staging.append_output(data)
            except OSError as error:
                reason = (error.strerror or str(error)).lower()
                self.problems.append(f"the run's output was not captured in full: {reason}")


def _pump(pipe, terminal, capture: _Capture) -> None:
    """Copy one of the script's streams to the terminal as it comes (`terminal` False:
    only captured), and to the captured output a whole line at a time: stdout and stderr
    share that file, and two pumps appending raw chunks could cut a line of one with a
    piece of the other."""
    fd = pipe.fileno()
    held = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        if terminal:
            try:
                terminal.write(chunk)
                terminal.flush()
            except (OSError, ValueError):
                pass  # our own stdout went away; keep capturing
        held += chunk
        end = max(held.rfind(b"\n"), held.rfind(b"\r")) + 1  # progress bars end in \r
        if len(held) > _HELD_LINE_LIMIT:
            end = len(held)
        if end:
            capture.append(held[:end])
            held = held[end:]
    if held:
        capture.append(held)
    pipe.close()


def _record_environment(staging, command: list[str], env: dict[str, str], cwd) -> None:
    """The packages of the Python the command runs, seen as the command sees them (its
    PATH and variables, without the folder through which gitml lends it the logging API)."""
    interpreter = interpreter_for(command, env.get("PATH"), cwd)
    packages = installed_packages(interpreter, user_cache_dir(), env)
    staging.add_env_file(ENV_FREEZE_FILE, "".join(p + "\n" for p in packages).encode())
    import gitml.store.objects  # noqa: F401  -- warm the import while the script runs


def _forward_signals(child: subprocess.Popen, interrupted: threading.Event) -> dict:
    def forward(signum, _frame):
        interrupted.set()
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {}
    for signum in FORWARDED_SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
            previous[signum] = signal.signal(signum, forward)
    return previous


def _restore_signals(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _store_artifacts(
    repo: Repository, staging, artifacts: list[Path]
) -> tuple[list[str], list[str]]:
    """Copy --artifact files and folders into the run; problems are reported, not raised.
    Returns the errors and the warnings (files of a folder left out as secrets)."""
    errors, warnings = [], []
    root = repo.work_tree.resolve()
    for path in artifacts:
        shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            resolved = check_source(path, shown, _git_dirs(repo), root)
            if resolved.is_dir():
                left_out = store_folder(staging, resolved, path.name, [root], shown)
                warnings += [
                    f"{name} looks like a secret and was left out of artifact {shown!r}; "
                    f"{staging.secrets.how_to_allow(name)}"
                    for name in left_out
                ]
            elif resolved.is_file():
                staging.add_artifact_file(resolved, path.name)
            else:
                errors.append(
                    f"artifact {shown!r} was not found after the run; nothing stored for it"
                )
        except GitmlError as error:
            errors.append(str(error))
    return errors, warnings
