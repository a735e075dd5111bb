"""Escape sequences in run data never reach a terminal raw.

The hostile run is what an attacker pushes to a shared remote: a commit on
refs/gitml/runs/<id> written with git plumbing, whose trailers, run.json,
metric files and code hold terminal controls (OSC 52 clipboard writes, title
changes, screen clears, carriage returns, C1 controls, bidi overrides, a raw
8-bit byte), plus registry tags with such messages. Every command is run on a
real pseudo-terminal (click strips colour only for pipes) and all it writes is
checked byte by byte.
"""

import ast
import errno
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import tty
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.sharing_helpers import bare_remote, clone
from tests.utils import git, gitml, write

# Each a different way to take over a terminal; all of them in every hostile value.
EVIL = (
    "\x1b]52;c;cHduZWQ=\x07"  # OSC 52: write the clipboard
    "\x1b]0;pwned\x07"  # set the window title
    "\x1b[2J\x1b[31m"  # clear the screen, turn red
    "\rspoof"  # carriage return: write over the line
    "\x9b6n"  # C1 CSI: ask the terminal to answer (device status report)
    "\u202etxt.exe"  # right-to-left override: reads as exe.txt
    "\x85\x08\x7f\x00"  # NEL, backspace, DEL, NUL
)
KEY = "loss" + EVIL.replace("\x00", "")  # a metric key a command line can name
FILE = "src/" + EVIL.replace("\x00", "") + ".py"  # a file name (git allows all but NUL)
SHOWN = ["\\x1b]52;c;cHduZWQ=\\x07", "\\x1b[2J", "\\rspoof", "\\x9b6n", "\\u202etxt.exe"]

# Characters a terminal obeys: C0 but newline and tab, DEL, C1, line and paragraph
# separators, bidi controls. Written out here, apart from the code under test.
_OBEYED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_PROGRESS = re.compile(r"(remote: )?[A-Za-z][A-Za-z ]*:\s+\d+%[^\r\n]*")
_OWN_COLOUR = re.compile(r"\x1b\[33m\x1b\[1m(.*?)\x1b\[0m")  # `gitml compare` marks rows


def on_terminal(cwd: Path, *args: str) -> tuple[str, int]:
    """`gitml ARGS` on a pseudo-terminal (see `run_on_terminal`)."""
    return run_on_terminal(cwd, [sys.executable, "-m", "gitml", *args])


def run_on_terminal(cwd: Path, command: list[str]) -> tuple[str, int]:
    """`command` with stdin, stdout and stderr on a pseudo-terminal in raw mode (no
    newline translation), 1000 columns wide: everything it wrote, and its exit status.
    The text is decoded strictly: a raw byte that is no UTF-8 fails the test."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 1000, 0, 0))
    sized = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # the tty's
    child = subprocess.Popen(
        command, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=sized, start_new_session=True
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as error:  # EIO: every holder of the terminal's other side is gone
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks).decode("utf-8"), child.wait(timeout=120)


def assert_nothing_obeyed(text: str, progress: bool = False) -> None:
    """No character a terminal acts on. `progress`: git's progress lines may end in a
    carriage return (that redraws them); nothing else may."""
    if progress:
        lines = text.split("\n")
        for line in lines:
            *redrawn, _ = line.split("\r")
            assert all(_PROGRESS.fullmatch(piece) for piece in redrawn), line
        text = text.replace("\r", "")
    found = sorted({f"U+{ord(c):04X}" for c in _OBEYED.findall(text)})
    assert not found, f"{found} reached the terminal in:\n{text}"


def assert_shown_escaped(text: str) -> None:
    for escaped in SHOWN:
        assert escaped in text, f"{escaped!r} not in:\n{text}"


def without_own_colour(text: str) -> str:
    return _OWN_COLOUR.sub(r"\1", text)


# the hostile run, written as an attacker would


def _escape_trailer(text: str, also: str = "") -> str:
    """docs/format.md: `%` and C0/DEL as %XX in trailer values (keys: `=` too)."""
    return "".join(
        f"%{ord(c):02X}" if c in "%" + also or ord(c) < 0x20 or c == "\x7f" else c for c in text
    )


def _metric_file(key: str) -> str:
    """docs/format.md: every byte outside [A-Za-z0-9_.-] as %XX of its UTF-8."""
    safe = re.compile(rb"[A-Za-z0-9_.-]")
    return (
        "".join(chr(b) if safe.fullmatch(bytes([b])) else f"%{b:02X}" for b in key.encode())
        + ".tsv"
    )


def _blob(repo: Path, data: bytes) -> str:
    return (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=repo,
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


def _new_id(clean_id: str, later: int) -> str:
    """Another id of the same grammar, `later` milliseconds later."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return clean_id[:9] + alphabet[(alphabet.index(clean_id[9]) + later) % 32] + clean_id[10:]


def plant_hostile_run(repo: Path, clean_id: str, later: int = 1, **fields) -> str:
    """A copy of run `clean_id` named evil-run whose every other text field holds EVIL
    (`fields` replace some), on its own ref; its id. A name holding EVIL is no run name:
    gitml lists such a run as damaged."""
    sha = git(repo, "rev-parse", f"refs/gitml/runs/{clean_id}").strip()
    parent = git(repo, "rev-parse", f"{sha}^").strip()
    record = json.loads(git(repo, "show", f"{sha}:.gitml/run.json"))
    run_id = _new_id(clean_id, later)
    metric = record["metrics"]["loss"]
    record.update(
        id=run_id,
        name="evil-run",
        experiment="exp" + EVIL,
        command=["python", "-c", "pass", KEY],  # a command line holds no NUL
        note="note" + EVIL + "\nsecond line" + EVIL,
        params={"lr" + EVIL: "0.1" + EVIL},
        tags={"team" + EVIL: EVIL},
        metrics={KEY: metric},
        user="user" + EVIL,
        host="host" + EVIL,
        platform="Linux\udc9b",  # a lone surrogate: an undecodable byte, kept
        artifacts=[
            {"path": "report" + EVIL, "size": 5, "sha256": "0" * 64},
            {"path": "link" + EVIL, "size": 3, "sha256": "1" * 64, "link": "/mnt" + EVIL},
        ],
        skipped={"large": ["big" + EVIL], "secret": [".env" + EVIL]},
    )
    record.update(fields)
    index = repo / ".git" / "hostile-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}

    def update_index(*args: str) -> None:
        subprocess.run(["git", "update-index", *args], cwd=repo, env=env, check=True)

    subprocess.run(["git", "read-tree", sha], cwd=repo, env=env, check=True)
    record_blob = _blob(repo, json.dumps(record, indent=2).encode())
    points = git(repo, "show", f"{sha}:.gitml/metrics/loss.tsv").encode()
    update_index("--add", "--cacheinfo", f"100644,{record_blob},.gitml/run.json")
    update_index("--force-remove", ".gitml/metrics/loss.tsv")
    metric_path = f".gitml/metrics/{_metric_file(KEY)}"
    update_index("--add", "--cacheinfo", f"100644,{_blob(repo, points)},{metric_path}")
    code = _blob(repo, ("WEIGHT = 1" + KEY + "\n").encode())  # a NUL would make it binary
    update_index("--add", "--cacheinfo", f"100644,{code},src/model.py")
    update_index("--add", "--cacheinfo", f"100644,{code},{FILE}")
    tree = (
        subprocess.run(["git", "write-tree"], cwd=repo, env=env, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    index.unlink()

    trailers = [
        ("Format", "1"),
        ("Run", run_id),
        ("Name", record["name"]),
        ("Experiment", record["experiment"]),
        ("Status", "finished"),
        ("Start", str(record["start_ms"] + 1)),
        ("End", str(record["end_ms"] + 1)),
        ("Exit-Code", "0"),
        ("Base", parent),
        ("Command", "python -c pass " + EVIL),
    ]
    lines = [f"Gitml-{name}: {_escape_trailer(value)}" for name, value in trailers]
    for kind, pairs in (("Param", record["params"]), ("Tag", record["tags"])):
        lines += [
            f"Gitml-{kind}: {_escape_trailer(k, '=')}={_escape_trailer(v)}"
            for k, v in pairs.items()
        ]
    lines.append(f"Gitml-Metric: {_escape_trailer(KEY, '=')}={metric['last']!r}")
    message = ("evil: finished\n\n" + "\n".join(lines) + "\n").encode()
    message += b"Gitml-User: user\x9b2J\n"  # a raw 8-bit CSI: no UTF-8 at all
    commit = (
        subprocess.run(
            ["git", "commit-tree", tree, "-p", parent],
            cwd=repo,
            input=message,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    git(repo, "update-ref", f"refs/gitml/runs/{run_id}", commit, "")
    return run_id


def plant_hostile_tags(repo: Path, run_id: str) -> None:
    """Registry events for model `evil`, with escapes in the tagger and the messages."""
    commit = git(repo, "rev-parse", f"refs/gitml/runs/{run_id}").strip()
    artifact = _escape_trailer("report" + EVIL)
    for number, (tag, trailers) in enumerate(
        [
            ("evil@v0.0.1", f"Gitml-Run: {run_id}\nGitml-Artifact: {artifact}\nGitml-Counter: 1"),
            ("evil#prod#2", f"Gitml-Run: {run_id}\nGitml-Version: v0.0.1"),
        ]
    ):
        evil = EVIL.replace("\x00", "")  # a tag object is text: no NUL
        body = (
            f"object {commit}\ntype commit\ntag {tag}\n"
            f"tagger Mallory{evil} <m@example.com> {1700000000 + number} +0000\n"
            f"\nEvent{evil}\nmore{evil}\n\n{trailers}\n"
        )
        sha = (
            subprocess.run(
                ["git", "mktag"], cwd=repo, input=body.encode(), capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        git(repo, "update-ref", f"refs/tags/{tag}", sha, "")


TRAIN = """import gitml
gitml.log_params({"lr": "0.1"})
gitml.set_tag("team", "a")
gitml.log_metric("loss", 0.5, step=0)
gitml.log_metric("loss", 0.25, step=1)
"""


def _ids(repo: Path) -> list[str]:
    return [run["id"] for run in json.loads(gitml(repo, "ls", "--all", "--json").stdout)]


def clean_run(repo: Path) -> str:
    write(repo / "train.py", TRAIN)
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "train")
    gitml(repo, "run", "--name", "clean", "--", "python", "train.py")
    (clean_id,) = _ids(repo)
    return clean_id


@pytest.fixture
def hostile(repo_with_commit) -> tuple[Path, str, str]:
    """(repository, clean run id, hostile run id): the hostile run copies the clean one."""
    clean_id = clean_run(repo_with_commit)
    evil_id = plant_hostile_run(repo_with_commit, clean_id)
    plant_hostile_tags(repo_with_commit, evil_id)
    return repo_with_commit, clean_id, evil_id


@pytest.fixture
def hostile_name(hostile) -> tuple[Path, str]:
    """(repository, id of a run whose name holds EVIL too)."""
    repo, clean_id, _ = hostile
    return repo, plant_hostile_run(repo, clean_id, later=2, name="evil" + EVIL)


# looking at runs


VIEWS = [
    ["ls", "--all"],
    ["ls", "--all", "--columns", "id,name,experiment,user"],
    ["ls", "--all", "--csv"],
    ["show", "{evil}"],
    ["diff", "{clean}", "{evil}"],
    ["diff", "{evil}", "--stat"],
    ["diff", "{evil}", "--md"],
    ["diff", "{clean}", "{evil}", "--md"],
    ["metrics", "{evil}"],
    ["metrics", "{evil}", "--csv"],
]


def test_views_of_a_hostile_run_escape_it(hostile):
    """One repository for every read-only view (a hostile run takes a while to make)."""
    repo, clean, evil = hostile
    for view in VIEWS:
        args = [a.format(clean=clean, evil=evil) for a in view]
        text, status = on_terminal(repo, *args)
        assert status == 0, (args, text)
        assert_nothing_obeyed(text)
        assert "\\x1b]52;c;cHduZWQ=\\x07" in text, (args, text)


def test_a_run_named_with_escapes_is_listed_and_shown_escaped(hostile_name):
    repo, evil = hostile_name
    text, status = on_terminal(repo, "ls", "--all")
    assert status == 0, text
    assert_nothing_obeyed(text)
    text, status = on_terminal(repo, "show", evil)
    assert status == 0, text
    assert_nothing_obeyed(text)
    assert text.startswith("run        evil\\x1b]52;c;cHduZWQ=\\x07")
    assert "\ndamaged    its name 'evil\\x1b]52;c;cHduZWQ=\\x07" in text


def test_show_escapes_every_field_and_keeps_values_on_their_lines(hostile):
    repo, _, evil = hostile
    text, status = on_terminal(repo, "show", evil)
    assert status == 0, text
    assert_nothing_obeyed(text)
    assert_shown_escaped(text)
    lines = text.split("\n")
    assert next(line for line in lines if line.startswith("run ")).endswith(f"({evil})")
    assert "platform   Linux\\udc9b" in lines
    assert "  second line" + EVIL[:4].replace("\x1b", "\\x1b") in text  # the note keeps its lines
    params = lines[lines.index("params") + 1]
    assert params.startswith("  lr\\x1b]52") and params.count(" = ") == 1
    assert any(line.startswith("  report\\x1b]52") for line in lines)  # artifacts
    assert any("-> /mnt\\x1b]52" in line for line in lines)


def test_compare_and_plot_escape_a_hostile_run(hostile):
    repo, clean, evil = hostile
    text, status = on_terminal(repo, "compare", clean, evil)
    assert status == 0, text
    assert "\x1b[33m\x1b[1m" in text  # differing rows are still highlighted, by gitml alone
    assert_nothing_obeyed(without_own_colour(text))
    assert_shown_escaped(text)
    text, status = on_terminal(repo, "plot", KEY, evil)
    assert status == 0, text
    assert_nothing_obeyed(text)
    assert_shown_escaped(text)


def test_json_output_holds_the_same_data_and_nothing_a_terminal_obeys(hostile):
    repo, _, evil = hostile
    text, status = on_terminal(repo, "show", evil, "--json")
    assert status == 0, text
    assert_nothing_obeyed(text)
    record = json.loads(text)
    assert record["experiment"] == "exp" + EVIL
    assert record["params"] == {"lr" + EVIL: "0.1" + EVIL}
    assert record["platform"] == "Linux\udc9b"
    listed, status = on_terminal(repo, "ls", "--all", "--json")
    assert status == 0, listed
    assert_nothing_obeyed(listed)
    assert next(run for run in json.loads(listed) if run["id"] == evil)["tags"] == {
        "team" + EVIL: EVIL
    }


def test_csv_is_exact_data_through_a_pipe(hostile):
    """CSV is for files and programs: through a pipe it is the data, byte for byte
    (on a terminal it is escaped, see test_views_of_a_hostile_run_escape_it)."""
    repo, _, evil = hostile
    piped = subprocess.run(
        [sys.executable, "-m", "gitml", "ls", "--all", "--csv", "--columns", "id,experiment"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    assert f"{evil},exp{EVIL}".encode() in piped.replace(b'"', b"")


# getting a run back


def test_checkout_and_branch_reports_escape_a_hostile_run(hostile):
    repo, _, evil = hostile
    text, status = on_terminal(repo, "checkout", evil)
    assert status == 0, text
    assert_nothing_obeyed(text)
    assert "  src/\\x1b]52;c;cHduZWQ=\\x07" in text  # the files it wrote
    assert (repo / FILE).exists()
    text, status = on_terminal(repo, "branch", evil, "from-evil")
    assert status == 0, text
    assert_nothing_obeyed(text)


def test_rerun_reports_a_hostile_run_escaped(repo_with_commit):
    clean = clean_run(repo_with_commit)  # what a new run may not hold: its params, experiment
    evil = plant_hostile_run(repo_with_commit, clean, params={"lr": "0.1"}, experiment="x")
    text, status = on_terminal(repo_with_commit, "rerun", evil)
    assert status == 0, text
    assert_nothing_obeyed(text)
    assert "reproducing evil-run" in text
    assert "  metric loss\\x1b]52;c;cHduZWQ=\\x07" in text  # not logged by the rerun: moved


def test_rerun_refuses_hostile_values_in_one_escaped_line(hostile):
    repo, _, evil = hostile
    text, status = on_terminal(repo, "rerun", evil)
    assert status == 1, text
    assert_nothing_obeyed(text)
    refusal = text.split("\n")[1]
    assert refusal.startswith("gitml: error: ") and "\\x1b]52;c;" in refusal


# the registry


@pytest.mark.parametrize(
    "args",
    [["model", "ls"], ["model", "history", "evil"], ["model", "which", "evil@prod"]],
    ids=lambda args: " ".join(args),
)
def test_registry_views_escape_hostile_tags(hostile, args):
    repo, _, _ = hostile
    text, status = on_terminal(repo, *args)
    assert status == 0, text
    assert_nothing_obeyed(text)
    if args[1] != "ls":
        assert "\\x1b]52;c;cHduZWQ=\\x07" in text


def test_model_which_keeps_each_fact_on_its_line(hostile):
    repo, _, evil = hostile
    text, _ = on_terminal(repo, "model", "which", "evil@prod")
    lines = text.rstrip("\n").split("\n")
    assert [line.split()[0] for line in lines] == ["evil", "run", "commit", "artifact"]
    assert lines[3].startswith("artifact  report\\x1b]52")


# sharing


def test_pull_reports_hostile_runs_and_tags_escaped(hostile, tmp_path):
    repo, _, _ = hostile
    remote = bare_remote(tmp_path)
    git(repo, "push", "-q", str(remote), "main")
    victim = clone(remote, tmp_path / "victim")
    git(repo, "push", "-q", str(remote), "refs/gitml/*:refs/gitml/*", "refs/tags/*:refs/tags/*")
    text, status = on_terminal(victim, "pull", "origin")
    assert status == 0, text
    assert_nothing_obeyed(text, progress=True)
    assert "exp\\x1b]52;c;cHduZWQ=\\x07" in text
    assert "registry tags: evil#prod#2, evil@v0.0.1" in text


def test_a_remote_cannot_write_to_the_terminal_through_git_progress(repo_with_commit, tmp_path):
    """What the remote says while receiving (its hooks' stderr) comes back as
    `remote: …` lines; those shaped like progress are shown, escaped."""
    remote = bare_remote(tmp_path)
    hook = write(
        remote / "hooks" / "pre-receive",
        "#!/bin/sh\nprintf 'Checking runs:  50%% \\033]52;c;cHduZWQ=\\007\\302\\233\\r' >&2\n"
        "printf 'Checking runs: 100%% \\033[2J done\\n' >&2\n",
    )
    hook.chmod(0o755)
    git(repo_with_commit, "remote", "add", "origin", str(remote))
    gitml(repo_with_commit, "run", "--", "python", "-c", "pass")
    text, status = on_terminal(repo_with_commit, "push")
    assert status == 0, text
    assert "remote: Checking runs:  50% \\x1b]52;c;cHduZWQ=\\x07\\x9b" in text
    assert_nothing_obeyed(text, progress=True)


# errors


def test_error_lines_escape_what_they_quote(hostile, tmp_path):
    """Run data and typed arguments alike (an argument cannot hold NUL)."""
    repo, _, _ = hostile
    typed = EVIL.replace("\x00", "")
    for args, expected in (
        (["model", "get", "evil@prod", "-o", "out"], "gitml: error: evil v0.0.1 (run commit"),
        (["show", "nope" + typed], "gitml: error: "),
        (["-C", str(tmp_path / ("gone" + typed)), "ls"], "gitml: error: not a git repository"),
        (["--colour" + typed], "gitml: error: no such option"),
        (["show", "--bad" + typed], "gitml: error: no such option"),
        (["diff", "no-such" + typed], "gitml: error: "),
    ):
        text, status = on_terminal(repo, *args)
        assert status in (1, 2), text
        assert text.startswith(expected) and text.count("\n") == 1, text
        assert_nothing_obeyed(text)


def test_the_api_warns_about_a_hostile_run_name_escaped(repo_with_commit):
    code = f"import gitml\nwith gitml.start_run(run_name={('x' + EVIL)!r}):\n    pass\n"
    master_text, status = run_on_terminal(repo_with_commit, [sys.executable, "-c", code])
    assert status == 0, master_text
    assert_nothing_obeyed(master_text)
    assert "is stored as" in master_text


# the rule stays the only way out


_OUTLETS = {"gitml/cli/output.py", "gitml/terminal.py"}


_PRINTERS = {"print", "click.echo", "click.secho", "click.style", "click.echo_via_pager"}
_STREAMS = ("sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__")


def _writes_to_a_stream(call: ast.Call) -> bool:
    name = ast.unparse(call.func)
    writes = [
        f"{stream}{way}.{method}"
        for stream in _STREAMS
        for way in ("", ".buffer")
        for method in ("write", "writelines")
    ]
    return name in _PRINTERS or name in writes


def test_only_the_output_module_prints():
    """Everything gitml shows goes through gitml/cli/output.py (or, from the API,
    gitml.terminal.warn), which escape controls: no other module may print."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted((root / "gitml").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(), relative)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "click"
                and any(alias.name in ("echo", "secho", "style") for alias in node.names)
            ):
                offenders.append(f"{relative}:{node.lineno}: from click import echo")
            if (
                isinstance(node, ast.Call)
                and _writes_to_a_stream(node)
                and relative not in _OUTLETS
            ):
                offenders.append(f"{relative}:{node.lineno}: {ast.unparse(node.func)}(…)")
    assert not offenders, "print through gitml.cli.output instead:\n" + "\n".join(offenders)


# the rule itself


@given(st.text())
def test_escaped_text_holds_nothing_a_terminal_obeys(text):
    from gitml.terminal import escape_controls

    assert not _OBEYED.search(escape_controls(text))
    assert escape_controls(text, keep="\n").count("\n") == text.count("\n")


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_output_is_the_same_data(data):
    from gitml.terminal import escape_json

    text = escape_json(json.dumps(data, indent=2, ensure_ascii=False))
    assert not _OBEYED.search(text)
    assert json.loads(text) == data


@given(st.text(st.characters(max_codepoint=0x7F)) | st.text())
def test_json_escaping_keeps_newlines_and_nothing_else_a_terminal_obeys(text):
    """ASCII text is checked apart (bytes.translate): its controls and DEL are escaped too."""
    from gitml.terminal import escape_json

    escaped = escape_json(text)
    assert not _OBEYED.search(escaped) and "\t" not in escaped
    assert escaped.count("\n") == text.count("\n")
    assert escaped.isascii() or not text.isascii()
