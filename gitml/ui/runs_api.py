"""`/api/runs…`: the runs table, the fast selection, one run's record, metrics, files,
output, code and environment (docs/ui.md)."""

from __future__ import annotations

import codecs
import contextlib
import gzip
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gitml.store.layout import ENV_DIR, ENV_FREEZE_FILE, LOGS_DIR, OUTPUT_FILE
from gitml.store.paths import check_tree_path
from gitml.tracking.readers import RunReader, open_run
from gitml.tracking.record import RUNNING, RunSummary
from gitml.ui.answers import JSON, BadRequest, answer, dumps
from gitml.ui.downsample import Points
from gitml.ui.state import Ui

DEFAULT_POINTS = 2_000
MAX_PATCH = 4 << 20  # characters of a code diff sent; the rest is cut


def _ui(request: Request) -> Ui:
    return request.app.state.ui


def _query(request: Request) -> tuple[str | None, list[str]]:
    return request.query_params.get("filter"), request.query_params.getlist("sort")


def _selected(runs: list[RunSummary], request: Request) -> list[RunSummary] | None:
    """The runs the filter and sort keys choose; None when none are given."""
    from gitml.compare.sorting import RunQuery, select_runs

    text, sort = _query(request)
    if not (text and text.strip()) and not sort:
        return None
    return select_runs(runs, RunQuery(text, sort))


def runs(request: Request) -> Response:
    """`GET /api/runs[?filter=&sort=]`: the table, column-wise."""
    from gitml.ui.table import runs_table

    ui = _ui(request)
    snapshot = ui.runs_now()
    selected = _selected(snapshot.runs, request)
    if selected is not None:
        return _json(request, dumps(runs_table(selected)))
    # the ETag names this launch and listing: a page coming back revalidates for free
    headers = {"etag": f'"{ui.launch}-{snapshot.version}"', "cache-control": "no-cache"}
    # who made the answer: prepared at start, in the background as runs changed, or
    # by a request (for the browser's devtools, the benches and the tests)
    headers["server-timing"] = f'listing;desc="{snapshot.made_by}"'
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers=headers)
    return _json(request, snapshot.body, snapshot.gzipped, headers)


def _json(
    request: Request, body: bytes, gzipped: bytes | None = None, headers: dict | None = None
) -> Response:
    """A JSON answer, gzipped (at level 1, unless given) when the client takes it and it
    is worth it."""
    headers = {**(headers or {}), "vary": "accept-encoding"}
    worth_it = gzipped is not None or len(body) >= 64 << 10
    if not worth_it or "gzip" not in request.headers.get("accept-encoding", ""):
        return Response(body, media_type=JSON, headers=headers)
    headers["content-encoding"] = "gzip"
    return Response(gzipped or gzip.compress(body, 1), media_type=JSON, headers=headers)


def select(request: Request) -> Response:
    """`GET /api/select?filter=&sort=`: only the ids, in order (for each keystroke)."""
    runs = _ui(request).runs_now().runs
    selected = _selected(runs, request)
    return answer({"ids": [run.id for run in (runs if selected is None else selected)]})


@contextlib.contextmanager
def _reader(request: Request) -> Iterator[RunReader]:
    with open_run(_ui(request).repo, request.path_params["run"]) as reader:
        yield reader


def record(request: Request) -> Response:
    """`GET /api/runs/<run>`: the run record, as `gitml show --json`."""
    with _reader(request) as reader:
        return answer(reader.record().to_json())


# metrics


def _number(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(400, f"{name} must be a number, got {text[:40]!r}") from None
    if value != value:
        raise BadRequest(400, f"{name} must be a number, got {text[:40]!r}")
    return value


def _points_wanted(request: Request) -> int:
    from gitml.ui.downsample import MAX_POINTS

    text = request.query_params.get("points", str(DEFAULT_POINTS))
    if not (text.isascii() and text.isdigit()) or int(text) < 4:
        raise BadRequest(400, f"points must be a whole number from 4 up, got {text[:40]!r}")
    return min(int(text), MAX_POINTS)


def metric(request: Request) -> Response:
    """`GET /api/runs/<run>/metrics/<key>?points=&start=&end=&x=step|time`."""
    from gitml.ui.downsample import in_range, to_json

    x = request.query_params.get("x", "step")
    if x not in ("step", "time"):
        raise BadRequest(400, f"x must be step or time, got {x[:40]!r}")
    wanted = _points_wanted(request)
    start, end = _number(request, "start"), _number(request, "end")
    key = request.path_params["key"]
    history, source = _history(_ui(request), request.path_params["run"], key)
    points = history
    span = points.span(x, start, end)
    if span is None:  # x values out of order: those in range picked one by one
        points = in_range(history, x, start, end)
        span = (0, len(points))
    chosen = points.chosen(wanted, *span)
    total = span[1] - span[0]
    data = {"key": key, "x": x, "count": len(history), "total": total}
    data["returned"] = len(chosen)
    data["downsampled"] = len(chosen) < total
    data.update(to_json(points, chosen))
    # where the points came from: memory, disk, parsed, waited (for a parse under way)
    # or live (a run in progress), for the browser's devtools, the benches and tests
    headers = {"server-timing": f'points;desc="{source}"'}
    return Response(dumps(data), media_type=JSON, headers=headers)


def _history(ui: Ui, run: str, key: str) -> tuple[Points, str]:
    """All points of metric `key` of `run`, and where they came from: a committed
    run's kept by its blob (in memory, then on disk) for the next request (a zoom asks
    for the same history again), a running run's read on from where the last request
    stopped."""
    with open_run(ui.repo, run) as reader:
        if key not in reader.metric_keys():
            raise BadRequest(404, f"{reader.label} has no metric {key[:200]!r}")
        blob = reader.metric_blob(key)
        if blob is None:
            return ui.follow_points(reader, key), "live"
        return ui.committed_points(blob, lambda: reader.metric_points(key))


# files


_IMAGES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}
_KINDS = {
    "md": "markdown",
    "markdown": "markdown",
    "json": "json",
    "csv": "csv",
    "tsv": "csv",
    "html": "html",
    "htm": "html",
    "svg": "svg",
    **dict.fromkeys(
        "txt log yaml yml toml cfg ini py sh r sql xml js css ts ipynb".split(), "text"
    ),
}
_TEXT_NAMES = {"MLmodel", "requirements.txt", "conda.yaml", "python_env.yaml", "Dockerfile"}


def artifact_kind(path: str) -> str:
    """image, markdown, json, csv, html, svg, text or binary: how a page may preview it."""
    name = path.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in _IMAGES:
        return "image"
    if name in _TEXT_NAMES:
        return "text"
    return _KINDS.get(extension, "binary")


def artifacts(request: Request) -> Response:
    """`GET /api/runs/<run>/artifacts`: every file, its size and kind; model folders."""
    with _reader(request) as reader:
        sizes = {entry.path: entry.size for entry in reader.record().artifacts}
        stored = sorted(reader.artifact_files(), key=lambda f: f.path)
    files = [
        {
            "path": f.path,
            "size": sizes.get(f.path),
            "kind": "link" if f.link else artifact_kind(f.path),
        }
        for f in stored
    ]
    models = sorted(
        f.path.rpartition("/")[0] for f in stored if f.path.rpartition("/")[2] == "MLmodel"
    )
    return answer({"files": files, "models": models})


def artifact(request: Request) -> Response:
    """`GET /api/runs/<run>/artifacts/<path>[?download=1]`: the file's bytes. Text, HTML
    and SVG as text/plain, images as themselves, the rest as a download; all under a
    sandbox policy, so nothing a run stored runs as a page of this server."""
    from gitml.ui.security import ARTIFACT_POLICY

    path = request.path_params["path"]
    check_tree_path(path, "the artifact path asked for")
    reader = open_run(_ui(request).repo, request.path_params["run"])
    try:
        blocks = reader.file_blocks(f"artifacts/{path}")
    except BaseException:
        reader.close()
        raise
    if blocks is None:
        reader.close()
        raise BadRequest(404, f"{reader.label} has no artifact {path[:200]!r}")
    kind = artifact_kind(path)
    name = path.rsplit("/", 1)[-1]
    headers = {"content-security-policy": ARTIFACT_POLICY, "x-content-type-options": "nosniff"}
    if kind == "image":
        media = _IMAGES[name.rsplit(".", 1)[-1].lower()]
    elif kind == "binary":
        media = "application/octet-stream"
    else:
        media = "text/plain; charset=utf-8"
    if kind == "binary" or request.query_params.get("download"):
        headers["content-disposition"] = _attachment(name)

    def body() -> Iterator[bytes]:
        try:
            yield from blocks
        finally:
            reader.close()

    return StreamingResponse(body(), media_type=media, headers=headers)


def _attachment(name: str) -> str:
    from urllib.parse import quote

    ascii_name = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name
    )
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def output(request: Request) -> Response:
    """`GET /api/runs/<run>/output?offset=N`: the captured output from byte N on, the
    offset to ask from next, and whether the run is still running (to keep tailing)."""
    text = request.query_params.get("offset", "0")
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(400, f"offset must be a whole number, got {text[:40]!r}")
    offset = int(text)
    with _reader(request) as reader:
        running = reader.summary.status == RUNNING
        data = reader.read_file(f"{LOGS_DIR}/{OUTPUT_FILE}") or b""
    reset = offset > len(data)  # the output was cut to its tail since: start again
    if reset:
        offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    chunk = data[offset:]
    shown = decoder.decode(chunk, final=not running)
    pending = len(decoder.getstate()[0])  # a character cut in the middle: sent next time
    return answer(
        {
            "text": shown,
            "offset": offset + len(chunk) - pending,
            "size": len(data),
            "running": running,
            "reset": reset,
        }
    )


def code(request: Request) -> Response:
    """`GET /api/runs/<run>/code`: the files the run changed against its base, and the
    unified diff (user code only: `.gitml/` left out)."""
    from gitml.compare.diff import changed_files, code_patch
    from gitml.store.gitcmd import EMPTY_TREE

    ui = _ui(request)
    with _reader(request) as reader:
        commit = reader.commit_for("see its code")
        base = reader.summary.base
    files = changed_files(ui.repo, base or EMPTY_TREE, commit)
    patch = code_patch(ui.repo, base or EMPTY_TREE, commit)
    return answer(
        {
            "base": base,
            "commit": commit,
            "files": [{**vars(f), "binary": f.binary} for f in files],
            "patch": patch[:MAX_PATCH],
            "truncated": len(patch) > MAX_PATCH,
        }
    )


_ENV_FILES = ("conda.yaml", "python_env.yaml", "requirements.txt", ENV_FREEZE_FILE)
MAX_ENV_FILE = 1 << 20


def environment(request: Request) -> Response:
    """`GET /api/runs/<run>/environment`: interpreter, platform, the environment spec and
    the installed packages."""
    with _reader(request) as reader:
        record = reader.record()
        files = {}
        for name in _ENV_FILES:
            data = reader.read_file(f"{ENV_DIR}/{name}", MAX_ENV_FILE)
            if data is not None:
                files[name] = data.decode(errors="replace")
    packages = {}
    for line in files.get(ENV_FREEZE_FILE, "").splitlines():
        name, separator, version = line.partition("==")
        if separator and name.strip():
            packages[name.strip()] = version.strip()
    return answer(
        {
            "python": record.python,
            "platform": record.platform,
            "env_manager": record.env_manager,
            "env_hash": record.env_hash,
            "env_vars": record.env_vars,
            "files": files,
            "packages": packages,
        }
    )
