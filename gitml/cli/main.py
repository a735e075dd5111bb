"""The root `gitml` group: shared context, the error boundary, command groups."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from gitml.cli.output import say
from gitml.errors import GitmlError, PermissionDeniedError
from gitml.version import __version__

if TYPE_CHECKING:
    from gitml.store.repository import Repository

# What a shell reports for git when the reader of its output goes away (128 + SIGPIPE).
CLOSED_PIPE_STATUS = 141


class Context:
    """Built once per invocation by the root group; commands ask it for the repository."""

    def __init__(self, directory: str | None):
        self.directory = Path(directory or os.getcwd())
        self._repo: Repository | None = None
        self.recovered: list = []  # runs committed by the recovery done on opening
        self.unrecovered: list[str] = []  # runs it could not commit, with why

    @property
    def repo(self) -> Repository:
        """The repository, opened once; abandoned runs are recovered first."""
        if self._repo is None:
            from gitml.store.layout import may_need_recovery
            from gitml.store.repository import open_repository

            repo = self._repo = open_repository(self.directory)
            if repo.root is not None and may_need_recovery(repo.state_dir):
                from gitml.tracking.recovery import recover_abandoned_runs

                recovery = recover_abandoned_runs(repo)
                self.recovered = recovery.committed
                self.unrecovered = recovery.failed
                for run in self.recovered:
                    say(f"recovered run {run.name} ({run.id}) as {run.status}")
                for problem in recovery.failed:
                    say(
                        f"warning: cannot recover run {problem} (its files stay in "
                        ".git/gitml/recovering/; later commands try again)"
                    )
            _report_background_fold(repo)
            return repo
        return self._repo

    @property
    def opened_repo(self) -> Repository | None:
        """The repository if a command has opened it, else None (nothing is opened)."""
        return self._repo


def _report_background_fold(repo: Repository) -> None:
    """What a fold started in the background by an earlier run could not do, said once
    (git says what its gc.log holds in the same way)."""
    from gitml.store.layout import FOLD_LOG_FILE

    if not (repo.state_dir / FOLD_LOG_FILE).exists():
        return  # the usual case, known without importing the folding's module
    from gitml.tracking.autofold import BACKGROUND, take_fold_log

    for line in take_fold_log(repo):
        say(f"warning: {line} {BACKGROUND}")


# Command name → "module:attribute". Modules are imported only when their
# command runs, so `gitml run` does not pay for the imports of `gitml serve`.
COMMANDS = {
    "run": "gitml.cli.run:run",
    "ls": "gitml.cli.runs:ls",
    "show": "gitml.cli.runs:show",
    "artifacts": "gitml.cli.artifacts:artifacts",
    "recover": "gitml.cli.runs:recover",
    "demo": "gitml.cli.demo:demo",
    "push": "gitml.cli.sharing:push",
    "fetch": "gitml.cli.sharing:fetch",
    "pull": "gitml.cli.sharing:pull",
    "remote": "gitml.cli.sharing:remote_group",
    "hooks": "gitml.cli.sharing:hooks_group",
    "rm": "gitml.cli.cleanup:rm",
    "gc": "gitml.cli.cleanup:gc",
    "archive": "gitml.cli.cleanup:archive",
    "diff": "gitml.cli.compare:diff",
    "compare": "gitml.cli.compare:compare",
    "metrics": "gitml.cli.compare:metrics",
    "plot": "gitml.cli.compare:plot",
    "checkout": "gitml.cli.reproduce:checkout",
    "branch": "gitml.cli.reproduce:branch",
    "rerun": "gitml.cli.reproduce:rerun",
    "model": "gitml.cli.model:model",
    "tag": "gitml.cli.model:tag",
    "env": "gitml.cli.env:env",
    "predict": "gitml.cli.models:predict",
    "import": "gitml.cli.imports:import_group",
    "serve": "gitml.cli.models:serve",
    "ui": "gitml.cli.ui:ui",
    "sweep": "gitml.cli.sweep:sweep",
}


class RootGroup(click.Group):
    """Loads commands lazily and turns errors into one line on stderr: exit 1 for gitml's
    errors, 2 for usage errors (as click, and git, exit on bad usage)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        ctx.meta["gitml.command"] = name  # for usage errors click reports without a context
        module_name, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """A bad option of gitml itself (before the command) is one line too."""
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as error:
            say(f"error: {_usage_line(error, 'gitml')}")
            ctx.exit(error.exit_code)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitmlError as error:
            say(f"error: {error}")
            ctx.exit(1)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a group without its command (`gitml model`): click shows its help
        except click.UsageError as error:
            fallback = " ".join(["gitml", *ctx.meta.get("gitml.command", "").split()])
            say(f"error: {_usage_line(error, fallback)}")
            ctx.exit(error.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            say("interrupted")
            ctx.exit(130)
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(CLOSED_PIPE_STATUS)
        except OSError as error:
            if not PermissionDeniedError.applies_to(error):
                _unexpected(ctx, error)
            say(f"error: {_permission_denied(ctx, error)}")
            ctx.exit(1)
        except Exception as error:
            _unexpected(ctx, error)


def _unexpected(ctx: click.Context, error: Exception) -> NoReturn:
    """A bug: one line asking for a report, or the traceback with --traceback."""
    if ctx.meta.get("gitml.traceback"):
        raise error
    say(
        f"unexpected error: {type(error).__name__}: {error} "
        "(rerun with `gitml --traceback …` to see where; please report it)"
    )
    ctx.exit(1)


def _silence_stdout() -> None:
    """The reader of our output went away (`gitml ls | head -1`): send what is still
    buffered to /dev/null, so that flushing it at exit raises nothing (the recipe of
    Python's `signal` documentation). gitml then ends without a word, as git does."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a file (tests capture it): nothing is flushed to a pipe


def _permission_denied(ctx: click.Context, error: OSError) -> PermissionDeniedError:
    """A file gitml may not touch, with the folder to look at: `.git/gitml` when the file
    is in it (a repository owned by another user), else the file itself."""
    opened = ctx.obj.opened_repo if isinstance(ctx.obj, Context) else None
    return PermissionDeniedError.from_os_error(error, opened.state_dir if opened else None)


def _usage_line(error: click.UsageError, fallback: str) -> str:
    """click's complaint in one line, with where to read the usage (click prints three)."""
    message = " ".join(line.strip() for line in error.format_message().splitlines() if line.strip())
    message = message[:1].lower() + message[1:]
    command = error.ctx.command_path if error.ctx is not None else fallback
    return f"{message.rstrip('.')} (see `{command} --help`)"


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False),
    help="Run as if gitml was started in this folder (like `git -C`).",
)
@click.option(
    "--traceback", is_flag=True, help="Show where an unexpected error happened (for a bug report)."
)
@click.version_option(__version__, message="gitml %(version)s")
@click.pass_context
def cli(ctx: click.Context, directory: str | None, traceback: bool) -> None:
    """Experiment tracking kept in your git repository.

    Every run is a commit on a hidden ref (refs/gitml/runs/<id>) holding the
    code it ran, its params, metrics, artifacts and output.
    """
    ctx.meta["gitml.traceback"] = traceback
    ctx.obj = Context(directory)
    from gitml.cli.output import TransferBar
    from gitml.store.cas.progress import listen

    listen(TransferBar)  # large artifacts moving to or from a store


def main() -> None:
    if _closed_std_streams().get(1):
        say(
            "error: standard output is closed, so gitml has nowhere to write; "
            "redirect it to a file or to /dev/null instead"
        )
        sys.exit(1)
    try:
        cli.main(prog_name="gitml")  # standalone: always ends with SystemExit
    finally:
        _flush_stdout()


def _closed_std_streams() -> dict[int, bool]:
    """Which of stdin, stdout and stderr were closed when gitml started (`gitml ls >&-`);
    each is opened on /dev/null, as git does, so that no file gitml opens takes its
    number (and receives what is meant for the terminal, or a child's input)."""
    closed = {}
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        closed[fd] = getattr(sys, name) is None
        if closed[fd]:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: `fd`, lower ones are open
            setattr(sys, name, open(fd, mode, closefd=False))  # noqa: SIM115 - lives as long as gitml
    return closed


def _flush_stdout() -> None:
    """Write what is still buffered now, while a closed pipe can be handled: at
    interpreter exit, Python would print `Exception ignored ... BrokenPipeError`."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(CLOSED_PIPE_STATUS)
