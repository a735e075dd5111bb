"""The one grammar of `gitml:` URIs, MLflow's names for a gitml repository.

    gitml:                          the repository holding the current folder
    gitml:PATH                      the repository holding PATH (relative to the current folder)
    gitml:///ABS  (or gitml:/ABS)   the repository holding the absolute path ABS
    ...?experiment=NAME             runs go to experiment NAME unless the caller names one
    gitml:///ROOT/.gitml/runs/ID/artifacts[/SUB]
                                    the artifacts of run ID (an MLflow artifact location)

A tracking URI names a folder; an artifact location also names a run and a path
among its artifacts, after the marker `/.gitml/runs/ID/artifacts`. `.gitml` is
the folder name a run's tree reserves for its record, so no artifact path holds
it, and a repository root holding a `.gitml` part is refused when a location is
built: the marker is found at its first place, without doubt.

MLflow appends artifact paths to a location's path (keeping the query), as it
does for `file:` URIs, and writes the result with one slash (`gitml:/ROOT/...`);
both spellings parse. `build_uri` writes the canonical form (`gitml:///ABS`,
path characters that URIs reserve percent-escaped) and `parse_uri` reads it
back: `parse_uri(build_uri(u)) == u` for every `GitmlUri`.

No mlflow and no git here: the plugin, `gitml run` (which hands a child its
tracking URI) and the unit tests share it.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from gitml.errors import InvalidValueError
from gitml.store.ids import ID_LENGTH, is_ref_run_id
from gitml.store.layout import RECORD_DIR
from gitml.store.paths import tree_path_problem

SCHEME = "gitml"
_PREFIX = SCHEME + ":"
_RUNS_MARK = f"/{RECORD_DIR}/runs/"
_ARTIFACTS = "artifacts"
_QUERY_KEYS = ("experiment",)
# characters a path keeps as they are; the rest (space, %, ?, #, controls, non-ASCII) escaped
_PATH_SAFE = "/-._~!$&'()*+,;=:@"


@dataclass(frozen=True)
class GitmlUri:
    """What a `gitml:` URI names.

    `path` is "" (the current folder), relative, or absolute; `run_id` and
    `artifact_path` are set only in an artifact location, whose `path` is the
    repository root (absolute). `artifact_path` is "" for the run's artifact root.
    """

    path: str = ""
    experiment: str | None = None
    run_id: str | None = None
    artifact_path: str = ""

    def folder(self) -> str:
        """The absolute folder the URI names (the current one for `gitml:`)."""
        return os.path.abspath(self.path or os.curdir)


def build_uri(uri: GitmlUri) -> str:
    """The canonical text of `uri`; InvalidValueError when it names no place."""
    _check(uri)
    path = uri.path
    if uri.run_id is not None:
        path = f"{path.rstrip('/')}{_RUNS_MARK}{uri.run_id}/{_ARTIFACTS}"
        if uri.artifact_path:
            path += "/" + uri.artifact_path
    text = _PREFIX + ("//" if path.startswith("/") else "")
    text += urllib.parse.quote(path, safe=_PATH_SAFE)
    if uri.experiment is not None:
        text += "?" + urllib.parse.urlencode({"experiment": uri.experiment})
    return text


def run_artifact_uri(root: str, run_id: str, artifact_path: str = "") -> str:
    """The artifact location of run `run_id` of the repository whose root is `root`."""
    return build_uri(GitmlUri(path=root, run_id=run_id, artifact_path=artifact_path))


def run_artifact_uris(root: str) -> Callable[[str], str]:
    """`run_artifact_uri(root, run_id)` for run after run of one repository (a search
    gives each run its location): `root` is checked and escaped once, each id checked."""
    sample = "0" * ID_LENGTH
    head = run_artifact_uri(root, sample)[: -len(f"{sample}/{_ARTIFACTS}")]

    def location(run_id: str) -> str:
        if not is_ref_run_id(run_id):  # nothing a URI escapes: lowercase letters, digits
            raise InvalidValueError(f"gitml: URI names {run_id!r}, which is no run id")
        return f"{head}{run_id}/{_ARTIFACTS}"

    return location


def parse_uri(text: str) -> GitmlUri:
    """What `text` names; InvalidValueError (saying which rule it breaks) when it is no
    `gitml:` URI, names another machine, carries an unknown option or an unsafe path."""
    if not isinstance(text, str) or not text.startswith(_PREFIX):
        raise InvalidValueError(
            f"{text!r} is not a gitml: URI; write gitml:, gitml:PATH or gitml:///ABS"
        )
    if "\x00" in text:
        raise InvalidValueError("a gitml: URI holds a NUL byte; write the folder's path as it is")
    rest = text[len(_PREFIX) :]
    rest, _, fragment = rest.partition("#")
    if fragment:
        raise InvalidValueError(f"gitml: URI {text!r} has a #fragment, which names nothing")
    rest, _, query = rest.partition("?")
    if rest.startswith("//"):
        host, slash, rest = rest[2:].partition("/")
        if host:
            raise InvalidValueError(
                f"gitml: URI {text!r} names the host {host!r}; gitml reads a repository "
                "on this machine: write gitml:///ABSOLUTE/PATH (or clone it and use gitml:PATH)"
            )
        rest = slash + rest
    path = urllib.parse.unquote(rest, errors="strict")
    if "\x00" in path:
        raise InvalidValueError("a gitml: URI holds a NUL byte; write the folder's path as it is")
    experiment = _parse_query(query, text)
    root, mark, located = path.partition(_RUNS_MARK)
    if not mark:
        uri = GitmlUri(path=path, experiment=experiment)
        _check(uri)
        return uri
    run_id, _, artifacts = located.partition("/")
    head, _, artifact_path = artifacts.rstrip("/").partition("/")
    if head != _ARTIFACTS:
        raise InvalidValueError(
            f"gitml: URI {text!r} names a run but not its artifacts "
            f"(…/.gitml/runs/ID/{_ARTIFACTS}/PATH)"
        )
    uri = GitmlUri(path=root, experiment=experiment, run_id=run_id, artifact_path=artifact_path)
    _check(uri)
    return uri


def _parse_query(query: str, text: str) -> str | None:
    if not query:
        return None
    try:
        pairs = urllib.parse.parse_qsl(
            query, keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except (ValueError, UnicodeDecodeError):
        raise InvalidValueError(
            f"gitml: URI {text!r} has a malformed query; write ?experiment=NAME"
        ) from None
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key not in _QUERY_KEYS:
            raise InvalidValueError(
                f"gitml: URI {text!r} has the unknown option {key!r}; "
                f"known: {', '.join(_QUERY_KEYS)}"
            )
        if key in seen:
            raise InvalidValueError(f"gitml: URI {text!r} gives {key!r} twice")
        if not value or "\x00" in value:
            raise InvalidValueError(f"gitml: URI {text!r} gives an empty or NUL {key!r}")
        seen[key] = value
    return seen.get("experiment")


def _check(uri: GitmlUri) -> None:
    if "\x00" in uri.path or (uri.experiment is not None and "\x00" in uri.experiment):
        raise InvalidValueError("a gitml: URI holds a NUL byte; write the folder's path as it is")
    if uri.experiment == "":
        raise InvalidValueError("a gitml: URI names an empty experiment; leave it out instead")
    if uri.run_id is None:
        if uri.artifact_path:
            raise InvalidValueError("a gitml: URI names an artifact path without a run")
        if _RUNS_MARK in uri.path or uri.path.endswith(_RUNS_MARK.rstrip("/")):
            raise InvalidValueError(
                f"gitml: path {uri.path!r} holds {_RUNS_MARK!r}, which names a run's artifacts"
            )
        return
    if not uri.path.startswith("/") or RECORD_DIR in uri.path.split("/"):
        raise InvalidValueError(
            f"the artifacts of a run are named under an absolute repository root with no "
            f".gitml part, not {uri.path!r}"
        )
    if not is_ref_run_id(uri.run_id):
        raise InvalidValueError(f"gitml: URI names {uri.run_id!r}, which is no run id")
    if uri.artifact_path:
        problem = tree_path_problem(uri.artifact_path)
        if problem is not None:
            raise InvalidValueError(
                f"gitml: URI artifact path {uri.artifact_path!r} {problem}; "
                "name a file or folder inside the run's artifacts"
            )


def repository_folder(path: str) -> str:
    """Where a tracking URI's `path` points: `gitml:` (no path) is the repository of the
    `gitml run` this process runs under, else the one holding the current folder."""
    if path:
        return os.path.abspath(path)
    return os.environ.get("GITML_REPO") or os.getcwd()
