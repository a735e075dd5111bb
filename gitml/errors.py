"""One error tree for gitml.

Domain and store code raise these; the CLI turns them into one line on stderr
and a non-zero exit. Each subclass carries the facts a caller may need.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any


def shortened(items: list[str], limit: int, more: str = " and {} more") -> str:
    """The first `limit` items, comma-separated, then how many more (`more` says how)."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else shown + more.format(len(items) - limit)


class GitmlError(Exception):
    """Base of every error gitml raises on purpose."""


class NotARepositoryError(GitmlError):
    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"not a git repository: {path} (run gitml inside a git work tree, or `git init` first)"
        )


class BareRepositoryError(GitmlError):
    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"{path} is a bare repository: runs need a work tree to snapshot "
            "(clone it and run gitml in the clone)"
        )


def killed_by(signum: int) -> str:
    """`killed by SIGXFSZ (file size limit exceeded)`: a signal by its name and meaning,
    as a person reads it (a subprocess reports it as a negative exit status, -25)."""
    import signal

    try:
        name = signal.Signals(signum).name
    except ValueError:
        return f"killed by signal {signum}"
    meaning = signal.strsignal(signum) or ""
    return (
        f"killed by {name} ({meaning[:1].lower()}{meaning[1:]})" if meaning else f"killed by {name}"
    )


# git's words for a lock file another process holds (a ref's, packed-refs', the index's)
_LOCKED = r"Unable to create '([^'\n]+\.lock)': File exists"  # compiled on first use


class GitCommandError(GitmlError):
    def __init__(self, args: list[str], stderr: str, returncode: int):
        self.args_ = args
        self.stderr = stderr
        self.returncode = returncode
        locked = re.search(_LOCKED, stderr)
        if locked:  # git's own words end in advice about an editor
            detail = (
                f"another git process holds {locked.group(1)}: try again once it ends (if no "
                "git runs, one that was killed left the file: remove it)"
            )
        elif stderr.strip():
            detail = stderr.strip().splitlines()[-1]
        else:
            detail = killed_by(-returncode) if returncode < 0 else f"exit {returncode}"
        super().__init__(f"git {' '.join(args[:2])} failed: {detail}")


class RefBlockedError(GitmlError):
    """A ref stands where git keeps a folder of the refs gitml writes (`refs/gitml/runs`
    itself a ref): git can write none of them."""

    def __init__(self, ref: str, blocker: str):
        self.ref, self.blocker = ref, blocker
        super().__init__(
            f"cannot write {ref}: {blocker} is a ref, where git keeps the folder of such refs "
            f"(a plain git fetch may have brought it); delete it: git update-ref -d {blocker}"
        )


class GitConfigError(GitmlError):
    """A git config file (or GIT_CONFIG_* variable) that cannot be read as git config."""

    def __init__(self, source: str, problem: str):
        self.source = source
        super().__init__(
            f"git config {source} cannot be read ({problem}); fix it "
            "(`git config --list --show-origin` shows where each setting comes from)"
        )


class LockTimeoutError(GitmlError):
    def __init__(self, path, timeout: float):
        self.path = path
        super().__init__(
            f"another gitml process held {path} for {timeout:g} s; try again once it has finished"
        )


class RunNotFoundError(GitmlError):
    def __init__(self, ref: str, candidates: list[str] | None = None):
        self.ref = ref
        self.candidates = candidates or []
        if self.candidates:
            listed = shortened(self.candidates, 10, more=" (and {} more)")
            msg = f"{ref!r} is ambiguous: it matches {listed}; use more characters of the id"
        else:
            msg = f"no run matches {ref!r} (see `gitml ls --all` for run ids and names)"
        super().__init__(msg)


class RunNameTakenError(GitmlError):
    def __init__(self, name: str, run_id: str):
        self.name = name
        self.run_id = run_id
        super().__init__(f"run name '{name}' is already used by run {run_id}; choose another name")


class PermissionDeniedError(GitmlError):
    """The operating system refused gitml a file: most often `.git/gitml` belongs to another
    user (a repository shared read-only); `folder` is then where to look."""

    def __init__(self, path: str, folder: str | None = None, reason: str = "permission denied"):
        self.path = path
        self.folder = folder
        if folder is not None:
            message = f"cannot write {path}: {reason} (check the permissions of {folder})"
        else:
            message = f"{reason}: {path} (check its permissions and its folder's)"
        super().__init__(message)

    @staticmethod
    def applies_to(error: OSError) -> bool:
        """A refusal with a file name: no permission, or a read-only file system."""
        refused = isinstance(error, PermissionError) or error.errno == errno.EROFS
        return refused and error.filename is not None

    @classmethod
    def from_os_error(cls, error: OSError, state_dir: Path | None) -> PermissionDeniedError:
        """The error for a file refused in `state_dir` (`.git/gitml`), or anywhere else."""
        path = Path(error.filename).absolute()
        reason = "read-only file system" if error.errno == errno.EROFS else "permission denied"
        if state_dir is not None and path == state_dir:
            return cls(str(path), str(state_dir.parent), reason)  # .git itself is read-only
        if state_dir is not None and state_dir in path.parents:
            return cls(str(path), str(state_dir), reason)
        return cls(str(path), reason=reason)


class InvalidValueError(GitmlError):
    """A user-supplied value (param, metric, tag, key, option) is malformed."""


class MetricTooLargeError(InvalidValueError):
    """A metric history over gitml.metricHistoryLimit: a point that would grow it past
    the limit, or a history (fetched from a remote) too large to read."""

    def __init__(self, label: str, key: str, size: int, limit: int, doing: str):
        self.size = size
        self.limit = limit
        super().__init__(
            f"{label}: metric {key[:200]!r} {doing} {size:,} bytes, over "
            f"gitml.metricHistoryLimit ({limit:,} bytes); raise it to read or write it, "
            "e.g. git config gitml.metricHistoryLimit 256m"
        )


class ExperimentNotFoundError(InvalidValueError):
    """An experiment, or an experiment's tag, that does not exist (MLflow's 404)."""


class ExperimentExistsError(InvalidValueError):
    """An experiment name another experiment has or had (MLflow's RESOURCE_ALREADY_EXISTS)."""


class CommandStartError(InvalidValueError):
    """The system refused to start a run's command (its `error`); nothing was recorded."""

    def __init__(self, program: str, error: OSError):
        self.program = program
        self.error = error
        if error.errno == errno.ENOEXEC:
            reason = "not a program this system can run (a script needs a #! line)"
        elif isinstance(error, FileNotFoundError):
            reason = "not found (a missing program, or the interpreter its #! line names)"
        else:
            reason = (error.strerror or str(error)).lower()
        super().__init__(f"{program}: cannot start: {reason}; nothing was recorded")


class ArtifactError(GitmlError):
    """An artifact cannot be stored (outside the repo, too large, missing, ...)."""


class RunStateError(GitmlError):
    """An operation does not fit the state of the run (none active, already ended, ...)."""


class ReservedPathError(GitmlError):
    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"the work tree contains '{path}', which gitml reserves for run records; "
            "rename it or add it to .gitignore"
        )


class UnsafePathError(GitmlError):
    """A path from a git tree (a fetched run, a registry tag) that would leave the folder
    it is written to: `..`, an absolute path, a `.git` part, a path through a link."""

    def __init__(self, path: str, reason: str, where: str):
        self.path = path
        self.reason = reason
        super().__init__(
            f"{where} holds the path {path!r}, which {reason}: nothing of it was written "
            "(it may come from a remote you should not trust)"
        )


class RemoteError(GitmlError):
    """A transfer with a git remote failed; the message says why and what to do."""

    def __init__(self, remote: str, message: str):
        self.remote = remote
        super().__init__(re.sub(_PASSWORD_IN_URL, r"\1:***@", message))


# `scheme://user:password@host`: a password never reaches the terminal (git hides it too).
_PASSWORD_IN_URL = r"(\w[\w+.-]*://[^/\s:@]*):[^/\s@]*@"  # compiled on first use


class PartialTransferError(GitmlError):
    """A push or fetch that failed (`error`, whose message this is) after it had moved
    runs (`transferred`, the transfer's result so far), so that both can be reported."""

    def __init__(self, error: GitmlError, transferred: Any):  # a sharing TransferResult
        self.error = error
        self.transferred = transferred
        super().__init__(str(error))


class NoRemoteError(RemoteError):
    def __init__(self, detail: str):
        super().__init__(
            "", f"{detail} (name a remote, e.g. `gitml push origin`, or add one: git remote add)"
        )


class RemoteUnreachableError(RemoteError):
    def __init__(self, remote: str, detail: str):
        super().__init__(
            remote, f"cannot reach remote '{remote}': {detail} (check the URL and the network)"
        )


class RemoteAuthError(RemoteError):
    def __init__(self, remote: str, detail: str):
        super().__init__(
            remote,
            f"authentication to remote '{remote}' failed: {detail} "
            "(check your credentials, as for `git push`)",
        )


class NotARemoteRepositoryError(RemoteError):
    def __init__(self, remote: str, detail: str):
        super().__init__(
            remote,
            f"remote '{remote}' is not a git repository: {detail} (check `git remote -v`)",
        )


class PushRejectedError(RemoteError):
    def __init__(self, remote: str, refs: list[str], reason: str, local: str | None = None):
        self.refs = refs
        self.reason = reason
        shown = shortened(refs, 3)
        super().__init__(
            remote,
            f"remote '{remote}' rejected the push of {shown}: {reason}; "
            f"{local or 'nothing was changed locally'}",
        )


class RunsRefusedError(RemoteError):
    """Runs a push could not send (the remote refused them, or their large artifacts
    could not be uploaded), while the others were sent."""

    def __init__(self, remote: str, refused: dict[str, str], sent: int):
        self.refused = refused
        listed = shortened([f"{run} ({why})" for run, why in refused.items()], 3)
        others = f"the other {sent} run(s) were pushed" if sent else "no run was pushed"
        super().__init__(
            remote, f"remote '{remote}' did not take {len(refused)} run(s): {listed}; {others}"
        )


class DocumentError(GitmlError):
    """A YAML or JSON document gitml cannot read: not valid, too large, nested too
    deep, or with aliases that stand for too much (see `gitml.documents`)."""

    def __init__(self, path: str, problem: str, line: int | None = None):
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}, line {line}" if line else path
        super().__init__(f"{where}: {problem}")


class RecordError(GitmlError):
    """A run record (run.json) that is not of the shape gitml writes: fetched from a clone
    that wrote it wrong, or written by hand. The message says which field, as the end of
    a sentence about the record ("has a command that is not a list of words")."""


class ProjectFileError(DocumentError):
    """A project file (gitml.yaml, MLproject) or environment spec is malformed."""


class EnvironmentBuildError(GitmlError):
    """An environment could not be found, created or installed into."""


class FilterSyntaxError(GitmlError):
    """A run filter that does not parse; `column` (1-based) is where it went wrong."""

    def __init__(self, expression: str, column: int, message: str):
        self.expression = expression
        self.column = column
        self.reason = message
        shown = expression if len(expression) <= 200 else expression[:200] + " …"
        super().__init__(f"invalid filter at column {column}: {message} (in: {shown})")


class UnknownKeyError(GitmlError):
    """A key (to sort by, show, plot, ...) that no run has; `known` lists those that exist."""

    def __init__(self, purpose: str, key: str, known: list[str], reason: str = "no run has it"):
        self.key = key
        self.known = known
        listed = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
        super().__init__(f"cannot {purpose} {key!r}: {reason} (known keys: {listed or 'none'})")


class SecretLeftOutWarning(UserWarning):
    """A file named like a secret was left out of a folder artifact."""


class CheckoutConflictError(GitmlError):
    """Restoring a run's code would replace files no commit holds."""

    def __init__(self, paths: list[str]):
        self.paths = paths
        shown = shortened(paths, 10)
        super().__init__(
            f"restoring the run would overwrite or remove files no commit holds: {shown}; "
            "commit them or move them away, or use --force (gitml saves them first, in a "
            "backup that never leaves this repository, and tells you how to get them back)"
        )


class NestedRepositoryError(GitmlError):
    """Restoring a run's code would remove a folder holding another git repository."""

    def __init__(self, folder: str, repository: str):
        self.folder = folder
        self.repository = repository
        super().__init__(
            f"restoring the run would remove the folder {folder}, which holds the git "
            f"repository {repository}; move it out of the way first (gitml never removes "
            "a repository, even with --force)"
        )


class ModelError(GitmlError):
    """A model cannot be saved, found or loaded (unknown flavor, missing MLmodel, bad URI, ...)."""


class ModelInputError(GitmlError):
    """Input a model cannot take: a body that cannot be read, rows that form no table."""


class SignatureMismatchError(ModelInputError):
    """Input or params the model's signature refuses: a missing column, a wrong shape, a
    type that does not fit (MLflow's schema enforcement; INVALID_PARAMETER_VALUE over HTTP)."""


class RegistryError(GitmlError):
    """A model registry request that does not fit the registry: an unknown model,
    version or stage assignment, a version that exists, a run without the artifact."""


class ModelNotFoundError(RegistryError):
    """A registered model, version or alias that does not exist (MLflow's 404)."""


class ModelExistsError(RegistryError):
    """A registered model created again (MLflow's RESOURCE_ALREADY_EXISTS)."""


class RegistryConflictError(RemoteError):
    """A registry tag here and one on the remote have the same name but differ, and
    the one here cannot be renamed: it was pushed to another remote already."""

    def __init__(self, remote: str, tags: list[str]):
        self.tags = tags
        shown = shortened(tags, 5)
        super().__init__(
            remote,
            f"{shown} differs on remote '{remote}' and was pushed to another remote "
            "already, so gitml does not rename it; if that remote can lose it, delete it "
            "there and here (`git tag -d`), then write the event again",
        )


class MissingExtraError(GitmlError):
    """An optional feature needs a package that is not installed."""

    def __init__(self, feature: str, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs {package}, which is not installed: pip install 'gitml[{extra}]'"
        )


class MlflowImportError(GitmlError):
    """An MLflow store cannot be read for `gitml import mlflow` (unreachable, damaged)."""


class SweepError(GitmlError):
    """A sweep that cannot start, go on or be resumed as asked (its driver still runs,
    its storage cannot be opened, ...)."""


class ServeError(GitmlError):
    """The model server cannot start (address in use, bad host, no server library, ...)."""


class LargeObjectError(GitmlError):
    """An object of the large-artifact store (docs/tracking.md#large-artifacts) that
    cannot be stored, found or read."""


class ObjectMissingError(LargeObjectError):
    """No store reachable from here holds the object a pointer names."""

    def __init__(self, artifact: str, sha256: str, where: str, hint: str):
        self.artifact = artifact
        self.sha256 = sha256
        super().__init__(
            f"artifact {artifact!r} ({where}) is stored by content (sha256 {sha256[:12]}) and "
            f"no store reachable from here holds it; {hint}"
        )


class ObjectMismatchError(LargeObjectError):
    """Bytes downloaded for an artifact whose sha256 is not the one its pointer names."""

    def __init__(self, artifact: str, reason: str, source: str):
        self.artifact = artifact
        super().__init__(
            f"artifact {artifact!r}: the bytes {source} gave {reason}; nothing was kept (the "
            "store's copy is damaged or was replaced: upload it again from a machine that "
            "has it)"
        )
