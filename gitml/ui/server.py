"""Starting `gitml ui`: check the extra is installed, bind, print the address, serve."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from gitml.errors import MissingExtraError
from gitml.store.repository import Repository

DEFAULT_PORT = 5050


@dataclass
class UiOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    open_browser: bool = True


def require_extra() -> None:
    """MissingExtraError naming `gitml[ui]` when a package it brings is missing (plotly
    is looked for, not imported: the pages only need its plotly.min.js)."""
    import importlib
    import importlib.util

    for package in ("starlette", "uvicorn"):
        try:
            importlib.import_module(package)
        except ImportError:
            raise MissingExtraError("gitml ui", package, "ui") from None
    try:
        found = importlib.util.find_spec("plotly") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError("gitml ui", "plotly", "ui")


def serve(
    repo: Repository,
    options: UiOptions,
    report: Callable[[str], None],
    announce: Callable[[str], None],
) -> int:
    """Serve the pages and API of `repo` until SIGTERM or SIGINT; the exit code.
    `report` gets warnings, `announce` the line saying where the pages are."""
    require_extra()
    import uvicorn

    from gitml.models.server import bind, is_loopback
    from gitml.ui.app import create_app
    from gitml.ui.security import allowed_hosts, new_token
    from gitml.ui.state import Ui
    from gitml.ui.watch import Watcher

    if not is_loopback(options.host):
        report(
            f"warning: listening on {options.host}: anyone who can reach this address can "
            "read every run of the repository"
        )
    sock = bind(options.host, options.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    ui = Ui(repo, new_token(), Watcher(repo))
    ui.start()  # the runs listing is prepared while the server starts
    app = create_app(ui, allowed_hosts(host))
    config = uvicorn.Config(
        app,
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,  # open event streams never end by themselves
    )
    url = f"http://{shown}:{port}/"
    announce(f"gitml ui: serving {repo.root or repo.git_dir} at {url}")
    if options.open_browser:
        threading.Timer(0.5, _open, [url]).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_quietly)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        ui.stop()
    return 0


def _open(url: str) -> None:
    import contextlib
    import webbrowser

    with contextlib.suppress(Exception):  # no browser here: the address is printed
        webbrowser.open(url)


def _stop_quietly(signum, frame) -> None:
    raise SystemExit(0)
