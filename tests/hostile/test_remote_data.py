"""Runs and registry tags fetched from a remote are hostile.

An attacker writes objects with git's plumbing (trees holding `..`, `.git` or a
file beneath a link, commit messages with malformed trailers, tags with garbage
messages), pushes them to a bare remote that does not check objects, and the
victim fetches them with `gitml fetch` into a clean clone. No command may then
write outside its folder, and no damaged run or tag may break another command.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gitml.cli.main import cli
from gitml.store.ids import new_run_id
from gitml.store.refs import parse_run_ref
from gitml.tracking.record import DAMAGED, LISTED_STATUSES, MAX_MS, parse_message
from tests.sharing_helpers import bare_remote, clone, make_runs
from tests.utils import git, gitml

FILE, LINK, FOLDER = "100644", "120000", "40000"
TRAILER_NAMES = ["Run", "Name", "Status", "Start", "End", "Exit-Code", "Base", "Metric", "Param"]


# forging objects


def plumb(repo: Path, *args: str, data: bytes | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=True)
    return result.stdout.decode().strip()


class Link(str):
    """A symbolic link entry; the string is its target."""


def tree(repo: Path, entries: dict) -> str:
    """A tree object written exactly as given (git's own commands refuse such names):
    name → bytes (a file), Link (a symbolic link), dict (a folder) or a tree sha (str).
    A name may hold `..`, `.git` or a `/`."""
    body = b""
    for name, value in entries.items():
        if isinstance(value, Link):
            mode, sha = LINK, plumb(repo, "hash-object", "-w", "--stdin", data=value.encode())
        elif isinstance(value, bytes):
            mode, sha = FILE, plumb(repo, "hash-object", "-w", "--stdin", data=value)
        elif isinstance(value, dict):
            mode, sha = FOLDER, tree(repo, value)
        else:
            mode, sha = FOLDER, value
        body += f"{mode} ".encode() + name.encode() + b"\0" + bytes.fromhex(sha)
    return plumb(repo, "hash-object", "-t", "tree", "--literally", "-w", "--stdin", data=body)


def record(run_id: str, name: str, **fields) -> bytes:
    data = {
        "format": 1,
        "id": run_id,
        "name": name,
        "experiment": "default",
        "status": "finished",
        "exit_code": 0,
        "command": ["python", "-c", "pass"],
        "cwd": ".",
        "params": {},
        "tags": {},
        "metrics": {},
        "start_ms": 1_700_000_000_000,
        "end_ms": 1_700_000_001_000,
        "artifacts": [],
        **fields,
    }
    return json.dumps(data).encode()


def message(run_id: str, name: str, *extra: str) -> str:
    trailers = [
        "Format: 1",
        f"Run: {run_id}",
        f"Name: {name}",
        "Experiment: default",
        "Status: finished",
        "Start: 1700000000000",
        "End: 1700000001000",
        "Exit-Code: 0",
        *extra,
    ]
    return f"{name}: finished\n\n" + "".join(f"Gitml-{line}\n" for line in trailers)


def forge_run(
    repo: Path, name: str, files: dict, text: str | bytes | None = None, run_id=None, parent=None
) -> str:
    """A run commit on the attacker's HEAD (or on `parent`) whose tree holds `files` plus a
    record (unless `files` has its own `.gitml`), and whose message is `text` (well-formed
    by default)."""
    run_id = run_id or new_run_id()
    entries = {".gitml": {"run.json": record(run_id, name)}, **files}
    head = parent or git(repo, "rev-parse", "HEAD").strip()
    body = text if text is not None else message(run_id, name)
    person = "Mallory <m@example.com> 1700000000 +0000"
    header = f"tree {tree(repo, entries)}\nparent {head}\nauthor {person}\ncommitter {person}\n\n"
    data = header.encode() + (body if isinstance(body, bytes) else body.encode())
    sha = plumb(repo, "hash-object", "-t", "commit", "--literally", "-w", "--stdin", data=data)
    git(repo, "update-ref", f"refs/gitml/runs/{run_id}", sha)
    return run_id


def forge_tag(repo: Path, name: str, commit: str, text: str) -> None:
    git(repo, "tag", "-a", "-m", text, name, commit)


def record_good_run(repo: Path) -> None:
    make_runs(repo, 1, "good")


@pytest.fixture
def attacker(templates, tmp_path) -> Path:
    """A clone with one good run, pushed to a bare remote that does not check objects."""
    remote = bare_remote(tmp_path)
    git(remote, "config", "receive.fsckObjects", "false")
    repo = templates.copy(record_good_run, tmp_path / "attacker")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return repo


def victim(attacker: Path, tmp_path: Path) -> Path:
    """Push everything the attacker forged, then clone the remote and `gitml fetch` it."""
    git(attacker, "push", "-q", "origin", "refs/gitml/*:refs/gitml/*", "refs/tags/*:refs/tags/*")
    repo = clone(attacker / ".." / "remote.git", tmp_path / "victim")
    git(repo, "config", "fetch.fsckObjects", "false")
    fetched = gitml(repo, "fetch", "origin").stdout
    refs = git(attacker, "for-each-ref", "--format=%(refname)", "refs/gitml/runs/").split()
    runs = [ref for ref in refs if parse_run_ref(ref)]  # the others came, but are no runs
    assert fetched.startswith(f"fetched {len(runs)} run{'s' if len(runs) > 1 else ''} "), fetched
    return repo


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if not path.is_dir() or path.is_symlink()}


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("gitml: error: "), result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


# 1. a fetched run never writes outside its folder


def climbing(depth: int) -> dict:
    """`..` folders `depth` deep, each holding a file `escaped-<level>`: written
    unchecked, the files land that many folders above where they should."""
    folder: dict = {}
    for level in range(depth, 0, -1):
        folder = {f"escaped-{level}": b"pwned\n", **({"..": folder} if folder else {})}
    return {"..": folder}


def attacks(tmp_path: Path) -> dict[str, tuple[dict, str]]:
    """Folder entries that write outside the folder, each with what the error must show."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    absolute = str(tmp_path / "escaped-absolute")
    return {
        "parent": (climbing(6), "/escaped-"),
        "git-folder": (
            {".GiT": {"hooks": {"escaped-hook": b"#!/bin/sh\n"}}},
            ".GiT/hooks/escaped-hook",
        ),
        "absolute": ({absolute: b"pwned\n"}, absolute),
        "empty-part": ({"a//escaped-empty": b"pwned\n"}, "a//escaped-empty"),
        "link": ({"lnk": Link(str(elsewhere)), "lnk/escaped-link": b"pwned\n"}, "lnk/escaped-link"),
    }


ATTACKS = ["parent", "git-folder", "absolute", "empty-part", "link"]


def escaped(tmp_path: Path) -> list[Path]:
    """Payload files written anywhere under the test's folder (the attacker wrote none)."""
    return sorted(tmp_path.rglob("escaped*"))


@pytest.fixture(params=ATTACKS)
def hostile_model(request, attacker, tmp_path):
    """(victim clone, run id, what the error must show): a registered model whose
    folder holds one attack."""
    entries, shown = attacks(tmp_path)[request.param]
    model = {"MLmodel": b"flavors: {}\n", **entries}
    run_id = forge_run(
        attacker, "evil", {".gitml": {"run.json": b"{}", "artifacts": {"model": model}}}
    )
    run_sha = git(attacker, "rev-parse", f"refs/gitml/runs/{run_id}").strip()
    forge_tag(
        attacker,
        "evil@v0.0.1",
        run_sha,
        f"Register evil\n\nGitml-Run: {run_id}\nGitml-Artifact: model\n",
    )
    return victim(attacker, tmp_path), run_id, shown


def test_model_get_writes_nothing_of_a_hostile_model(hostile_model, tmp_path):
    repo, _, shown = hostile_model
    out = tmp_path / "x1" / "x2" / "x3" / "x4" / "out"
    result = gitml(repo, "model", "get", "evil@v0.0.1", "-o", str(out), check=False)
    assert_one_line_error(result, "evil v0.0.1", shown, "nothing of it was written")
    assert escaped(tmp_path) == []
    assert not out.exists() or files_under(out) == set()


def test_the_model_cache_writes_nothing_of_a_hostile_model(hostile_model, tmp_path):
    repo, run_id, shown = hostile_model
    (tmp_path / "in.csv").write_text("x\n1\n")
    for uri in (f"runs:/{run_id}/model", "models:/evil/v0.0.1", "models:/evil@latest"):
        result = gitml(repo, "predict", uri, "-i", str(tmp_path / "in.csv"), check=False)
        assert_one_line_error(result, f"run evil ({run_id})", shown)
    assert escaped(tmp_path) == []
    assert not list((repo / ".git" / "gitml" / "cache").rglob("MLmodel"))


def test_load_model_refuses_a_hostile_model_before_writing(hostile_model, tmp_path):
    from gitml.errors import UnsafePathError
    from gitml.models.load import load_model

    repo, run_id, shown = hostile_model
    with pytest.raises(UnsafePathError, match="nothing of it was written") as caught:
        load_model(f"runs:/{run_id}/model", repo=repo)
    assert shown in caught.value.path
    assert escaped(tmp_path) == []


def test_a_hostile_artifact_path_in_a_registry_tag_is_refused(attacker, tmp_path):
    run_id = forge_run(
        attacker, "evil", {".gitml": {"run.json": b"{}", "artifacts": {"m": {"f": b"x"}}}}
    )
    sha = git(attacker, "rev-parse", f"refs/gitml/runs/{run_id}").strip()
    forge_tag(
        attacker, "evil@v0.0.1", sha, f"Register\n\nGitml-Run: {run_id}\nGitml-Artifact: m/..\n"
    )
    repo = victim(attacker, tmp_path)
    out = tmp_path / "out"
    result = gitml(repo, "model", "get", "evil@v0.0.1", "-o", str(out), check=False)
    assert_one_line_error(result, "'m/..'")
    assert not out.exists()


@pytest.fixture(params=ATTACKS)
def hostile_code(request, attacker, tmp_path):
    """(victim clone, run id, what the error must show): a run whose code holds one attack
    (a run made by `gitml run`, so that it can be rerun)."""
    entries, shown = attacks(tmp_path)[request.param]
    if request.param == "parent":
        entries = climbing(1)  # the work tree's parent is the test's folder
    run_id = new_run_id()
    command = [sys.executable, "-c", "pass"]
    files = {
        "README.md": b"# project\n",
        ".gitml": {"run.json": record(run_id, "evil", command=command)},
    }
    forge_run(attacker, "evil", {**files, **entries}, run_id=run_id)
    return victim(attacker, tmp_path), run_id, shown


@pytest.mark.parametrize(
    "command",
    [["checkout"], ["checkout", "--force"], ["rerun"], ["branch", None, "from-evil"]],
    ids=["checkout", "checkout-force", "rerun", "branch"],
)
def test_a_hostile_run_s_code_is_never_restored(hostile_code, tmp_path, command):
    repo, run_id, shown = hostile_code
    args = [run_id if part is None else part for part in command]
    if None not in command:
        args.append(run_id)
    before = git(repo, "status", "--porcelain", "--ignored")
    result = gitml(repo, *args, check=False)
    if command == ["rerun"]:  # it says what it starts, then refuses before writing anything
        announced, _, rest = result.stderr.partition("\n")
        assert announced.startswith("gitml: rerunning evil"), result.stderr
        result.stderr = rest
    assert_one_line_error(result, f"run evil ({run_id})", shown, "nothing of it was written")
    assert escaped(tmp_path) == []
    assert git(repo, "status", "--porcelain", "--ignored") == before
    assert git(repo, "branch", "--list", "from-evil") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_model_get_never_writes_through_a_link_in_the_out_folder(attacker, tmp_path):
    model = {"MLmodel": b"flavors: {}\n", "data": {"weights.bin": b"w"}}
    run_id = forge_run(
        attacker, "plain", {".gitml": {"run.json": b"{}", "artifacts": {"model": model}}}
    )
    sha = git(attacker, "rev-parse", f"refs/gitml/runs/{run_id}").strip()
    forge_tag(
        attacker, "plain@v0.0.1", sha, f"Register\n\nGitml-Run: {run_id}\nGitml-Artifact: model\n"
    )
    repo = victim(attacker, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "data").symlink_to(elsewhere)  # left by an earlier checkout, say
    result = gitml(repo, "model", "get", "plain@v0.0.1", "-o", str(out), check=False)
    assert_one_line_error(result, "'model/data/weights.bin'", "symbolic link")
    assert list(elsewhere.iterdir()) == []
    assert not (out / "model" / "MLmodel").exists()  # checked before anything is written
    (out / "model" / "data").unlink()
    written = gitml(repo, "model", "get", "plain@v0.0.1", "-o", str(out)).stdout.split()
    assert written == [str(out / "model" / "MLmodel"), str(out / "model" / "data" / "weights.bin")]


def test_a_fetch_never_moves_a_run_already_here(attacker, tmp_path):
    """git fetches a non-forced refspec into an existing ref when the new commit is on
    top of the old one (a fast-forward): a run the victim has must not become the
    attacker's commit, with other code and other params, under the same id."""
    repo = victim(attacker, tmp_path)
    (good,) = git(repo, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/").split()
    ref = f"refs/gitml/runs/{good}"
    honest = git(repo, "rev-parse", ref).strip()
    forge_run(
        attacker,
        "good0",
        {"README.md": b"# replaced code\n"},
        message(good, "good0", "Param: i=999"),
        run_id=good,
        parent=honest,
    )
    git(attacker, "push", "-q", "origin", f"{ref}:{ref}")  # a fast-forward: the remote takes it
    for command in ("fetch", "pull"):
        result = gitml(repo, command, "origin")
        assert git(repo, "rev-parse", ref).strip() == honest, command
        assert f"run {good} is a different commit on origin" in result.stderr, command
    assert json.loads(gitml(repo, "show", good, "--json").stdout)["params"] == {"i": "0"}


# 2. a damaged run is listed and shown as damaged, removable, and breaks nothing else

GIGANTIC_MESSAGE = 9 << 20  # over the 8 MiB gitml reads of a run's commit message
GIGANTIC_RECORD = 33 << 20  # over the 32 MiB it reads of a run.json


def damaged_runs(attacker: Path, good: str) -> dict[str, tuple[str, str]]:
    """kind → (run id, what its reason says) of runs damaged in every way we know: in
    their commit message (listed as damaged) or in their run.json (shown as damaged)."""
    runs = {}

    def by_message(kind: str, reason: str, *trailers: str, text: str | None = None) -> None:
        run_id = new_run_id()
        forge_run(attacker, kind, {}, text or message(run_id, kind, *trailers), run_id)
        runs[kind] = (run_id, reason)

    def by_record(kind: str, reason: str, record_files: dict) -> None:
        run_id = new_run_id()
        forge_run(attacker, kind, {".gitml": record_files}, run_id=run_id)
        runs[kind] = (run_id, reason)

    by_message("metric", "notanumber", "Metric: loss=notanumber")
    by_message("start", "Gitml-Start", "Start: yesterday")
    by_message("end", "Gitml-End", "End: 99999999999999999999")
    by_message("exit-code", "Gitml-Exit-Code", "Exit-Code: 1e3")
    by_message("still-running", "'running'", "Status: running")
    by_message("status", "'exploded'", "Status: exploded")
    by_message("base", "base", "Base: --output=/tmp/gitml-escaped")
    by_message("other-run", "names another run", f"Run: {good}%0Adelete refs/heads/main")
    by_message("name", "name", f"Name: x%0A{good}%09hijacked")
    by_message("no-trailers", "no Gitml-Run", text="fix typo\n\nJust a commit.\n")
    by_message("gigantic-message", "MiB", "Param: x=" + "a" * GIGANTIC_MESSAGE)
    by_record("no-record", "has no .gitml/run.json", {"params.yaml": b""})
    by_record("not-json", "not valid JSON", {"run.json": b"{not json"})
    by_record("deep", "nested", {"run.json": b"[" * 100_000 + b"]" * 100_000})
    shape = {"params": ["lr"], "metrics": "loss", "artifacts": [{"size": "big"}]}
    run_id = new_run_id()
    forge_run(
        attacker, "shape", {".gitml": {"run.json": record(run_id, "shape", **shape)}}, None, run_id
    )
    runs["wrong-shape"] = (run_id, "params")
    for kind, reason, fields in (  # shapes `gitml show` indexed without checking
        ("no-name", "no name", {"name": None}),
        ("half-metric", "metrics", {"metrics": {"loss": {"last": 1, "min": 0}}}),
        ("sizeless-artifact", "artifact", {"artifacts": [{"path": "model.pkl"}]}),
    ):
        run_id = new_run_id()
        data = {**json.loads(record(run_id, kind)), **fields}
        data = {key: value for key, value in data.items() if value is not None}
        forge_run(attacker, kind, {".gitml": {"run.json": json.dumps(data).encode()}}, None, run_id)
        runs[kind] = (run_id, reason)
    by_record("other-record", "record of run", {"run.json": record(good, "good0")})
    by_record(
        "gigantic-record",
        "more than gitml reads",
        {"run.json": b'{"note": "' + b"a" * GIGANTIC_RECORD + b'"}'},
    )
    return runs


@pytest.fixture
def damaged(attacker, tmp_path):
    """(victim clone, kind → (run id, reason)): the attacker's good run `good0`, a second
    good one `other0`, and every kind of damaged run, fetched by a clean clone; plus refs under
    refs/gitml/runs/ whose names are no run ids."""
    make_runs(attacker, 1, "other")
    good = git(attacker, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/").split()
    runs = damaged_runs(attacker, min(good))
    sha = git(attacker, "rev-parse", f"refs/gitml/runs/{min(good)}").strip()
    for name in (
        "IIIIIIIIIIIII",
        "iiiiiiiiiiiiii",
        "0123456789ab/x",
        "0000000000000000000000000000",
    ):
        git(attacker, "update-ref", f"refs/gitml/runs/{name}", sha)
    # a message holding the listing's separators forges no record of another run, and
    # one that is no UTF-8 reads as text (U+FFFD): neither run is damaged
    run_id = new_run_id()
    text = message(run_id, "separator") + f"\x1erefs/gitml/runs/{new_run_id()}\x1e\n"
    forge_run(attacker, "separator", {}, text, run_id)
    run_id = new_run_id()
    forge_run(
        attacker, "bytes", {}, message(run_id, "bytes").encode() + b"Gitml-Param: x=\xff\n", run_id
    )
    return victim(attacker, tmp_path), runs


BY_MESSAGE = {"metric", "start", "end", "exit-code", "still-running", "status", "base"}
BY_MESSAGE |= {"other-run", "name", "no-trailers", "gigantic-message"}


@pytest.mark.slow
def test_damaged_runs_are_listed_as_damaged_and_break_no_other_command(damaged, tmp_path):
    repo, runs = damaged
    listed = {run["id"]: run for run in json.loads(gitml(repo, "ls", "--all", "--json").stdout)}
    assert {run["name"] for run in listed.values()} >= {"good0", "other0", "separator", "bytes"}
    assert len(listed) == len(runs) + 4  # no run for the refs named otherwise, nor a forged one
    (odd,) = [run for run in listed.values() if run["name"] == "bytes"]
    assert (odd["status"], odd["params"]) == ("finished", {"x": "\ufffd"})
    for kind, (run_id, reason) in runs.items():
        if kind in BY_MESSAGE:
            assert listed[run_id]["status"] == "damaged", kind
            assert reason in listed[run_id]["damage"], (kind, listed[run_id]["damage"])
        else:  # listing reads messages only: its record shows damaged in `gitml show`
            assert listed[run_id]["status"] == "finished", kind
    assert listed[min(listed)]["damage"] is None
    table = gitml(repo, "ls", "--all").stdout
    assert table.count("damaged") == len(BY_MESSAGE)
    only = json.loads(gitml(repo, "ls", "--all", "--status", "damaged", "--json").stdout)
    assert {run["id"] for run in only} == {runs[kind][0] for kind in BY_MESSAGE}
    assert gitml(repo, "ls").returncode == 0
    assert "good0" in gitml(repo, "show", "good0").stdout
    assert json.loads(gitml(repo, "show", "other0", "--json").stdout)["name"] == "other0"
    assert "params" in gitml(repo, "diff", "good0", "other0").stdout
    found = gitml(repo, "run", "--name", "after", "--", sys.executable, "-c", "pass")
    assert "after" in found.stderr + found.stdout
    search = (
        "import gitml, json; "
        "print(json.dumps([r['status'] for r in gitml.search_runs(output_format='list')]))"
    )
    statuses = json.loads(
        subprocess.run(
            [sys.executable, "-c", search], cwd=repo, capture_output=True, text=True, check=True
        ).stdout
    )
    assert statuses.count("damaged") == len(BY_MESSAGE)
    assert gitml(repo, "gc", "--status", "failed", "--dry-run").stdout == "no runs to delete\n"
    other = bare_remote(tmp_path, "other.git")
    git(other, "config", "receive.fsckObjects", "false")
    git(repo, "remote", "add", "other", str(other))
    assert gitml(repo, "push", "other", "--since", "30d").returncode == 0
    assert gitml(repo, "push", "other").returncode == 0
    assert gitml(repo, "fetch", "origin").returncode == 0
    assert gitml(repo, "pull", "other").returncode == 0


@pytest.mark.slow
def test_a_damaged_run_is_shown_with_its_reason_and_can_be_removed(damaged):
    repo, runs = damaged
    main = git(repo, "rev-parse", "refs/heads/main")
    for kind, (run_id, reason) in runs.items():
        # `show` in this process (a child per kind and view made this the suite's
        # slowest test; the listing test above shows through real processes)
        shown = CliRunner().invoke(cli, ["-C", str(repo), "show", run_id])
        assert shown.exit_code == 0, (kind, shown.stderr, shown.exception)
        assert "status     damaged" in shown.stdout, (kind, shown.stdout)
        assert reason in shown.stdout, (kind, shown.stdout)
        shown = CliRunner().invoke(cli, ["-C", str(repo), "show", run_id, "--json"])
        data = json.loads(shown.stdout)
        assert (data["id"], data["status"]) == (run_id, "damaged"), kind
        assert reason in data["damage"], kind
        removed = gitml(repo, "rm", run_id, check=False)
        assert removed.returncode == 0, (kind, removed.stderr)
        assert git(repo, "for-each-ref", f"refs/gitml/runs/{run_id}") == "", kind
    listed = json.loads(gitml(repo, "ls", "--all", "--json").stdout)
    assert sorted(run["name"] for run in listed) == ["bytes", "good0", "other0", "separator"]
    assert git(repo, "rev-parse", "refs/heads/main") == main


def test_a_damaged_run_is_not_rerun_and_a_resolvable_odd_ref_is_no_run(damaged):
    repo, runs = damaged
    result = gitml(repo, "rerun", runs["wrong-shape"][0], check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("gitml: error: run shape is damaged")
    result = gitml(repo, "show", "0123456789ab", check=False)  # only 0123456789ab/x is
    assert_one_line_error(result, "no run matches '0123456789ab'")


def test_a_run_holding_no_code_can_be_rerun(attacker, tmp_path):
    """A run made in a repository with no commit and no file holds its record alone
    (so can one fetched): git restore of its code, no file at all, failed in a line
    about a pathspec."""
    run_id = forge_run(attacker, "bare", {})
    repo = victim(attacker, tmp_path)
    result = gitml(repo, "rerun", run_id)
    assert result.stdout.splitlines()[0].endswith("finished, reproducing bare"), result.stderr


def test_a_run_ref_naming_no_commit_is_a_damaged_run(attacker, tmp_path):
    """A run ref may name a tag (whose message carries well-formed trailers), a tree or a
    blob: each is listed as damaged, and no command fails on it but in one line."""
    head = git(attacker, "rev-parse", "HEAD").strip()
    run_id = new_run_id()
    tag = f"object {head}\ntype commit\ntag x\ntagger T <t@e> 1700000000 +0000\n\n"
    objects = {
        "tag": plumb(
            attacker,
            *("hash-object", "-t", "tag", "-w", "--stdin"),
            data=(tag + message(run_id, "tagged")).encode(),
        ),
        "tree": tree(attacker, {"README.md": b"# code\n"}),
        "blob": plumb(attacker, "hash-object", "-w", "--stdin", data=b"text\n"),
    }
    runs = {kind: new_run_id() for kind in objects}
    runs["tag"] = run_id
    for kind, sha in objects.items():
        git(attacker, "update-ref", f"refs/gitml/runs/{runs[kind]}", sha)
    repo = victim(attacker, tmp_path)
    listed = {run["id"]: run for run in json.loads(gitml(repo, "ls", "--all", "--json").stdout)}
    for kind, run_id in runs.items():
        reason = f"its ref names a {kind}, not a commit"
        assert (listed[run_id]["status"], listed[run_id]["damage"]) == (DAMAGED, reason), kind
        assert reason in gitml(repo, "show", run_id).stdout, kind
        if kind == "tag":
            continue  # git finds the commit the tag names: its code reads
        for command in (
            ("metrics", run_id),
            ("plot", "loss", run_id, "good0"),
            ("diff", run_id, "good0"),
            ("checkout", run_id),
            ("branch", run_id, f"from-{kind}"),
        ):
            assert_one_line_error(gitml(repo, *command, check=False), "damaged")
    for run_id in runs.values():
        gitml(repo, "rm", run_id)
    assert [run["name"] for run in json.loads(gitml(repo, "ls", "--all", "--json").stdout)] == [
        "good0"
    ]


@given(st.text(), st.lists(st.tuples(st.sampled_from(TRAILER_NAMES), st.text()), max_size=8))
def test_no_commit_message_makes_reading_a_run_fail(text, trailers):
    run_id = new_run_id()
    block = "".join(f"Gitml-{name}: {value}\n" for name, value in trailers)
    summary = parse_message(f"{text}\n\n{block}", "0" * 40, run_id)
    assert summary.id == run_id
    assert summary.status in LISTED_STATUSES and summary.status != "running"
    assert (summary.status == DAMAGED) == (summary.damage is not None)
    assert 0 <= summary.start_ms <= MAX_MS
    assert summary.base is None or len(summary.base) in (40, 64)


def test_run_refs_take_the_ids_gitml_makes():
    assert parse_run_ref(f"refs/gitml/runs/{new_run_id()}") is not None
    for name in ("IIIIIIIIIIIII", "iiiiiiiiiiiiii", "0123456789ab/x", "0" * 27, "0123"):
        assert parse_run_ref(f"refs/gitml/runs/{name}") is None, name


def test_a_run_s_malformed_metric_files_show_their_good_points(attacker, tmp_path):
    metrics = {
        "%FF%FE.tsv": b"0\t1.5\t1700000000000\n",  # a name no gitml writes: no UTF-8
        "loss.tsv": b"0\t0.5\t1700000000000\nnot a point\n1\tx\t2\n\xff\xfe\n"
        b"2\t0.25\t1700000000002\n",
    }
    run_id = new_run_id()
    files = {"run.json": record(run_id, "odd"), "metrics": metrics}
    forge_run(
        attacker, "odd", {".gitml": files}, message(run_id, "odd", "Metric: loss=0.25"), run_id
    )
    repo = victim(attacker, tmp_path)
    history = json.loads(gitml(repo, "metrics", run_id, "--json").stdout)
    assert history == {
        "%FF%FE": [{"step": 0, "value": 1.5, "timestamp": 1700000000000}],
        "loss": [
            {"step": 0, "value": 0.5, "timestamp": 1700000000000},
            {"step": 2, "value": 0.25, "timestamp": 1700000000002},
        ],
    }
    assert "loss (one scale for all runs)" in gitml(repo, "plot", "loss", run_id, "good0").stdout


# 3. registry tags with garbage messages break no registry command


def test_registry_tags_with_garbage_messages_break_no_registry_command(attacker, tmp_path):
    make_runs(attacker, 1, "model")
    run_id = git(
        attacker, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/"
    ).split()[-1]
    sha = git(attacker, "rev-parse", f"refs/gitml/runs/{run_id}").strip()
    damaged_id = forge_run(attacker, "bad", {}, message(new_run_id(), "bad", "Start: soon"))
    damaged_id = git(attacker, "rev-parse", f"refs/gitml/runs/{damaged_id}").strip()
    tags = {
        "good@v0.0.1": (sha, f"Register\n\nGitml-Run: {run_id}\nGitml-Counter: 1\n"),
        "evil@v0.0.1": (sha, "garbage\n\nGitml-Counter: \u00b2\n"),
        "evil#prod#1": (sha, "x\n\nGitml-Counter: " + "9" * 5000 + "\n"),
        "evil@v0.0.2": (sha, "\x01\x02\x1e\udcff\n"),
        "evil@v0.0.3": (sha, "x\n\nGitml-Run: ../../x\nGitml-Artifact: %0A\n"),
        "evil#staging#2": (sha, "x\n\nGitml-Version: garbage\nGitml-Keep-Previous: maybe\n"),
        "evil@v1.0.0!#3": (sha, "a version never registered\n"),
        "evil@v0.0.4": (damaged_id, "a damaged run\n\nGitml-Run: 0\n"),
        "evil@v0.0.5": (sha, "huge\n\n" + "x" * (2 << 20) + "\n"),
        "evil#prod#" + "9" * 30: (sha, "a counter no one can order\n"),
    }
    for name, (target, text) in tags.items():
        data = (
            f"object {target}\ntype commit\ntag {name}\ntagger T <t@e> 1700000000 +0000\n\n{text}"
        )
        tag = plumb(
            attacker,
            "hash-object",
            "-t",
            "tag",
            "--literally",
            "-w",
            "--stdin",
            data=data.encode(errors="surrogateescape"),
        )
        git(attacker, "update-ref", f"refs/tags/{name}", tag)
    repo = victim(attacker, tmp_path)
    models = {m["model"]: m for m in json.loads(gitml(repo, "model", "ls", "--json").stdout)}
    assert models["good"]["latest"] == "v0.0.1"
    assert models["evil"]["latest"] == "v0.0.5"
    assert "good" in gitml(repo, "model", "ls").stdout
    assert (
        json.loads(gitml(repo, "model", "which", "evil@v0.0.4", "--json").stdout)["commit"]
        == damaged_id
    )
    assert (
        json.loads(gitml(repo, "model", "which", "evil@staging", "--json").stdout)["version"]
        == "v0.0.5"
    )
    history = json.loads(gitml(repo, "model", "history", "evil", "--json").stdout)
    (huge,) = [
        event for event in history if event["version"] == "v0.0.5" and event["event"] == "register"
    ]
    assert huge["message"].startswith("(damaged: this tag's message is over 1 MiB")
    assert len(history) == 8
    written = gitml(repo, "model", "get", "good@v0.0.1", "-o", str(tmp_path / "out"), check=False)
    assert_one_line_error(written, "records no artifact path")


def test_caches_an_older_gitml_filled_from_fetched_trailers_are_not_read(attacker):
    """gitml before 2 cached a fetched commit's claims under the run id its trailer named:
    a run fetched with `Gitml-Run: <another run>` took that run's place in every listing."""
    (good,) = git(
        attacker, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/"
    ).split()
    listed = json.loads(gitml(attacker, "ls", "--all", "--json").stdout)
    poisoned = {good: {**listed[0], "name": "impostor", "commit": "0" * 40}}
    cache = attacker / ".git" / "gitml" / "cache"
    (cache / "summaries.json").write_text(json.dumps(poisoned))
    (cache / "names.tsv").write_text(f"{good}\timpostor\n")
    (cache / "summaries.v2.json").unlink(missing_ok=True)
    (cache / "names.v2.tsv").unlink(missing_ok=True)
    assert json.loads(gitml(attacker, "ls", "--all", "--json").stdout) == listed
    assert gitml(attacker, "show", "impostor", check=False).returncode == 1


def test_a_run_ref_moved_by_a_plain_git_fetch_is_listed_as_its_new_commit(attacker):
    """A plain `git fetch` through the refspec `gitml remote setup` adds fast-forwards a
    run ref to a commit stacked on top of it: `ls` must not keep the cached summary of
    the old commit while `show` reads the new one."""
    (good,) = git(
        attacker, "for-each-ref", "--format=%(refname:lstrip=3)", "refs/gitml/runs/"
    ).split()
    ref = f"refs/gitml/runs/{good}"
    before = json.loads(gitml(attacker, "ls", "--all", "--json").stdout)  # fills the caches
    assert before[0]["name"] == "good0"
    old = git(attacker, "rev-parse", ref).strip()
    text = message(good, "moved", "Metric: loss=42")
    new = plumb(attacker, "commit-tree", f"{old}^{{tree}}", "-p", old, "-m", text)
    git(attacker, "update-ref", ref, new, old)
    (listed,) = json.loads(gitml(attacker, "ls", "--all", "--json").stdout)
    shown = json.loads(gitml(attacker, "show", good, "--json").stdout)
    assert (listed["commit"], listed["name"], listed["metrics"]) == (new, "moved", {"loss": 42})
    assert shown["commit"] == new
    assert gitml(attacker, "show", "moved", "--json").returncode == 0
    assert gitml(attacker, "show", "good0", check=False).returncode == 1
    again = plumb(
        attacker, "commit-tree", f"{new}^{{tree}}", "-p", new, "-m", message(good, "twice")
    )
    git(attacker, "update-ref", ref, again, new)
    git(attacker, "pack-refs", "--all")  # the ref is now a line of packed-refs
    (listed,) = json.loads(gitml(attacker, "ls", "--all", "--json").stdout)
    assert (listed["commit"], listed["name"]) == (again, "twice")
