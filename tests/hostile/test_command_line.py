"""Values typed on the command line (or passed to the Python API) are hostile: none
reaches git as an option, none that gitml refuses leaves a run or a file behind, and
every refusal is one line on stderr."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitml.cli.main import cli
from tests.sharing_helpers import bare_remote
from tests.utils import git, gitml, write

SETUP = """
import gitml
from gitml import registry
for name in ("alpha", "beta"):
    with gitml.start_run(name=name):
        gitml.log_metric("acc", 0.5)
        gitml.log_artifact("model.txt")
registry.register(".", "clf", "alpha")
"""


def record_shared(repo: Path) -> None:
    """Runs alpha and beta, and model clf v0.0.1 (alpha)."""
    write(repo / "model.txt", "weights\n")
    subprocess.run([sys.executable, "-c", SETUP], cwd=repo, check=True)


@pytest.fixture
def shared(templates, tmp_path) -> Path:
    """A repository with runs alpha and beta, model clf v0.0.1 (alpha) and an origin."""
    repo = templates.copy(record_shared, tmp_path / "repo")
    git(repo, "remote", "add", "origin", bare_remote(tmp_path).as_uri())
    return repo


def invoke(repo: Path, *args: str):
    """`gitml -C REPO ARGS` in this process (real git underneath): the result, stderr apart."""
    return CliRunner().invoke(cli, ["-C", str(repo), *args])


def assert_one_error_line(result, *expected: str) -> None:
    assert result.exit_code not in (0, None), result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitml: error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


# 1. no value reaches git as an option


def option_values(marker: Path) -> list[str]:
    """Values that run `touch MARKER` (or write it) if git reads them as options or URLs."""
    return [
        f"--upload-pack=touch {marker}",
        f"--receive-pack=touch {marker}",
        f"-c core.sshCommand=touch {marker}",
        f"--output={marker}",
        f"ext::sh -c touch% {marker}",
        f"ssh://-oProxyCommand=touch% {marker}/x",
    ]


REMOTE_COMMANDS = [
    ("fetch", "--", "VALUE"),
    ("pull", "--", "VALUE"),
    ("push", "--", "VALUE"),
    ("push", "--delete", "--", "VALUE", "alpha"),
    ("ls", "--remote", "VALUE"),
]


@pytest.mark.parametrize("command", REMOTE_COMMANDS, ids=" ".join)
def test_a_remote_never_reaches_git_as_an_option(shared, tmp_path, command):
    marker = tmp_path / "pwned"
    for value in option_values(marker):
        args = [value if word == "VALUE" else word for word in command]
        result = gitml(shared, *args, check=False)
        assert not marker.exists(), f"gitml {' '.join(args)} ran the command"
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize("value", ["--upload-pack=touch x", "-x", "a\nb", "tab\there", ""])
def test_a_remote_that_cannot_be_one_is_refused_in_one_line(shared, value):
    result = invoke(shared, "fetch", "--", value)
    assert_one_error_line(result, f"remote {value!r} is not valid")


def test_a_remote_beginning_with_a_dash_names_the_reason(shared):
    result = invoke(shared, "ls", "--remote", "--upload-pack=touch x")
    assert_one_error_line(result, "begins with '-', so git would read it as an option")


# Every command that takes a run, a ref, a path, a model, a stage or an experiment.
VALUE_COMMANDS = [
    ("remote", "setup", "--", "VALUE"),
    ("push", "origin", "--", "VALUE"),
    ("fetch", "origin", "--", "VALUE"),
    ("show", "--", "VALUE"),
    ("diff", "--", "VALUE"),
    ("diff", "alpha", "--", "VALUE"),
    ("compare", "alpha", "--", "VALUE"),
    ("metrics", "--", "VALUE"),
    ("metrics", "alpha", "--", "VALUE"),
    ("plot", "acc", "--", "VALUE"),
    ("checkout", "--", "VALUE"),
    ("branch", "alpha", "--", "VALUE"),
    ("branch", "--", "VALUE", "newbranch"),
    ("rerun", "--", "VALUE"),
    ("rm", "--", "VALUE"),
    ("ls", "-e", "VALUE"),
    ("ls", "-f", "VALUE"),
    ("gc", "-n", "-e", "VALUE"),
    ("push", "-n", "-e", "VALUE"),
    ("model", "register", "--", "VALUE", "beta"),
    ("model", "register", "clf", "--", "VALUE"),
    ("model", "register", "clf", "beta", "--version", "VALUE"),
    ("model", "register", "clf", "beta", "--path", "VALUE"),
    ("model", "promote", "clf", "v0.0.1", "--", "VALUE"),
    ("model", "promote", "--", "VALUE", "v0.0.1", "production"),
    ("model", "promote", "clf", "--", "VALUE", "production"),
    ("model", "unassign", "clf", "v0.0.1", "--", "VALUE"),
    ("model", "deregister", "clf", "--", "VALUE"),
    ("model", "deprecate", "--", "VALUE"),
    ("model", "history", "--", "VALUE"),
    ("model", "which", "--", "VALUE"),
    ("model", "get", "--", "VALUE"),
    ("tag", "clf", "v0.0.1", "--", "VALUE"),
    ("predict", "-i", "in.csv", "--", "VALUE"),
    ("run", "--name", "VALUE", "--", "true"),
    ("run", "--experiment", "VALUE", "--", "true"),
    ("run", "-e", "VALUE"),
    ("run", "--tag", "VALUE=1", "--", "true"),
    ("run", "-P", "VALUE=1", "--", "true"),
]


@pytest.mark.slow
def test_no_command_passes_a_value_to_git_as_an_option(shared, tmp_path):
    """Each command, each value: the marker is never made, and a refusal is one line
    (a newline in the value too)."""
    marker = tmp_path / "pwned"
    problems = []
    for command in VALUE_COMMANDS:
        # A filter is an expression, not a name: a newline in one is shown escaped.
        newline = [] if command[:2] == ("ls", "-f") else ["a\nb"]
        for value in [*option_values(marker), *newline]:
            args = [word.replace("VALUE", value) for word in command]
            result = invoke(shared, *args)
            lines = result.stderr.splitlines()
            if marker.exists():
                problems.append(f"gitml {args}: ran the command")
                marker.unlink()
            elif result.exit_code != 0 and (
                len(lines) != 1 or not lines[0].startswith("gitml: error: ")
            ):
                problems.append(f"gitml {args}: {result.stderr!r}")
    assert not problems, "\n".join(problems)


# 2. a refused run leaves nothing behind


def assert_nothing_recorded(repo: Path) -> None:
    """No staging folder, no run or snapshot ref, no name claim; and the next command
    recovers no run (a run that never started is not a killed run)."""
    state = repo / ".git" / "gitml"
    for folder in ("runs", "names", "recovering"):
        assert not list((state / folder).glob("*")) if (state / folder).exists() else True
    assert git(repo, "for-each-ref", "refs/gitml", "refs/gitml-snapshots") == ""
    after = gitml(repo, "ls", "--all", "--json")
    assert (after.stdout, after.stderr) == ("[]\n", "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-P", "a\x01b=1"], "param key 'a\\x01b' contains a control character"),
        (["-P", "k" * 251 + "=1"], "param key is longer than 250 characters"),
        (["--tag", "t\x1b[31m=1"], "tag key 't\\x1b[31m' contains a control character"),
        (["--tag", "t" * 251 + "=1"], "tag key is longer than 250 characters"),
        (["-P", "lr=0.\udcff"], "the value of param 'lr' is not valid UTF-8 text"),
        (["-P", "\udcff=1"], "param key is not valid UTF-8 text"),
        (["--tag", "note=\udcff"], "the value of tag 'note' is not valid UTF-8 text"),
        (["-m", "caf\udce9"], "the note is not valid UTF-8 text"),
        (["--experiment", ""], "experiment '' is not valid: it is empty"),
        (["--experiment", "a\nb"], "experiment 'a\\nb' is not valid: it contains a control"),
        (["--experiment", "\x1b[2J"], "experiment '\\x1b[2J' is not valid"),
    ],
    ids=repr,
)
def test_a_refused_value_records_no_run(repo_with_commit, args, expected):
    result = gitml(repo_with_commit, "run", *args, "--", "true", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"gitml: error: {result.stderr[14:].rstrip()}"]
    assert expected in result.stderr
    assert_nothing_recorded(repo_with_commit)


def test_a_command_word_that_is_not_utf8_records_no_run(repo_with_commit):
    result = gitml(repo_with_commit, "run", "--", "echo", "caf\udce9", check=False)
    assert result.stderr == (
        "gitml: error: word 2 of the command is not valid UTF-8 text: 'caf\\udce9' "
        "(gitml records text as UTF-8)\n"
    )
    assert_nothing_recorded(repo_with_commit)


def test_a_script_whose_interpreter_is_missing_records_no_run(repo_with_commit):
    script = write(repo_with_commit / "s.sh", "#!/nonexistent/interp\necho hi\n")
    script.chmod(0o755)
    result = gitml(repo_with_commit, "run", "--", "./s.sh", check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "gitml: error: ./s.sh: interpreter /nonexistent/interp not found\n"
    assert_nothing_recorded(repo_with_commit)


def test_a_script_whose_env_interpreter_is_not_on_path_records_no_run(repo_with_commit):
    """`#!/usr/bin/env NAME` starts env, which then fails (exit 127): a failed run."""
    script = write(repo_with_commit / "s.py", "#!/usr/bin/env no-such-python-3\nprint(1)\n")
    script.chmod(0o755)
    result = gitml(repo_with_commit, "run", "--", "./s.py", check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "gitml: error: ./s.py: interpreter no-such-python-3 not found on PATH\n"
    )
    assert_nothing_recorded(repo_with_commit)
    script.write_text(f"#!/usr/bin/env {Path(sys.executable).name}\nprint(1)\n")
    assert gitml(repo_with_commit, "run", "--", "./s.py").returncode == 0


def test_a_file_the_system_cannot_execute_records_no_run(repo_with_commit):
    program = repo_with_commit / "random.bin"
    program.write_bytes(bytes(range(7, 250)) * 4)  # no #! line, no known binary format
    program.chmod(0o755)
    result = gitml(repo_with_commit, "run", "--", "./random.bin", check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "gitml: error: ./random.bin: cannot start: not a program this system can run "
        "(a script needs a #! line); nothing was recorded\n"
    )
    assert_nothing_recorded(repo_with_commit)


def test_a_script_run_from_a_subfolder_is_found_there(repo_with_commit, tmp_path):
    """`gitml -C sub run -- ./t.sh` runs sub/t.sh, as `git -C` would find it."""
    write(repo_with_commit / "sub" / "t.sh", "#!/bin/sh\necho ran in sub\n").chmod(0o755)
    result = gitml(tmp_path, "-C", str(repo_with_commit / "sub"), "run", "--", "./t.sh")
    assert result.stdout == "ran in sub\n"


API_START = """
import gitml
try:
    gitml.start_run(name="api", params=PARAMS, tags=TAGS)
except gitml.errors.InvalidValueError as error:
    print(error)
print(gitml.active_run())
"""


@pytest.mark.parametrize(
    ("params", "tags", "expected"),
    [
        ({"a\nb": 1}, {}, "param key 'a\\nb' contains a control character"),
        ({"lr": "\udcff"}, {}, "the value of param 'lr' is not valid UTF-8 text"),
        ({}, {"x" * 300: 1}, "tag key is longer than 250 characters"),
    ],
    ids=repr,
)
def test_start_run_refuses_bad_params_before_a_run_starts(repo_with_commit, params, tags, expected):
    code = API_START.replace("PARAMS", repr(params)).replace("TAGS", repr(tags))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_with_commit, capture_output=True, text=True
    )
    assert result.stdout.splitlines()[1:] == ["None"], result.stdout + result.stderr
    assert expected in result.stdout
    assert_nothing_recorded(repo_with_commit)


def test_file_names_that_are_not_utf8_break_no_run(repo_with_commit):
    """Linux file names are bytes: one no UTF-8 can hold, in a file the snapshot leaves
    out, in an artifact folder or in the folder a command runs in, was an unexpected
    error, or a run left for recovery that failed on every later command."""
    repo = repo_with_commit
    git(repo, "config", "gitml.artifactSizeLimit", "1k")
    git(repo, "config", "gitml.snapshotFileLimit", "1k")
    (repo / os.fsdecode(b"big\xfe.bin")).write_bytes(b"x" * 4096)
    (repo / os.fsdecode(b"\xfe.env")).write_bytes(b"KEY=1\n")
    gitml(repo, "run", "--name", "odd", "--", "true")
    shown = gitml(repo, "show", "odd").stdout
    assert "over the size limit: big\\udcfe.bin" in shown
    assert "looks like a secret: \\udcfe.env" in shown
    (repo / os.fsdecode(b"big\xfe.bin")).unlink()
    (repo / os.fsdecode(b"\xfe.env")).unlink()
    (repo / "out").mkdir()
    (repo / "out" / os.fsdecode(b"\xff.txt")).write_bytes(b"x")
    result = gitml(repo, "run", "--name", "folder", "--artifact", "out", "--", "true", check=False)
    assert "gitml: error: artifact path 'out/\\udcff.txt' is not valid UTF-8 text" in result.stderr
    shutil.rmtree(repo / "out")
    inside = repo / os.fsdecode(b"sub\xff")
    inside.mkdir()
    result = gitml(inside, "run", "--", "true", check=False)
    assert result.stderr == (
        "gitml: error: the name of the folder the command runs in is not valid UTF-8 text: "
        "'sub\\udcff' (gitml records text as UTF-8)\n"
    )
    code = (
        "import gitml\n"
        "with gitml.start_run(name='api'):\n"
        "    for call in (lambda: gitml.log_text('x', '\\udcff.txt'),\n"
        "                 lambda: gitml.log_text('x', 'a\\x00b.txt'),\n"
        "                 lambda: gitml.log_text('\\udcff', 'a.txt'),\n"
        "                 lambda: gitml.log_dict({'a': '\\udcff'}, 'a.json')):\n"
        "        try:\n"
        "            call()\n"
        "        except gitml.errors.GitmlError as error:\n"
        "            print(type(error).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert result.stdout.split() == [
        "ArtifactError",
        "ArtifactError",
        "InvalidValueError",
        "InvalidValueError",
    ]
    listed = gitml(repo, "ls")
    assert listed.stderr == ""  # no run left that recovery cannot commit
    assert {"odd", "folder", "api"} <= set(listed.stdout.split())
    assert not (repo / ".git" / "gitml" / "recovering").exists() or not any(
        (repo / ".git" / "gitml" / "recovering").iterdir()
    )


def test_log_param_refuses_text_that_is_not_utf8_with_a_gitml_error(repo_with_commit):
    code = (
        "import gitml\n"
        "with gitml.start_run(name='api'):\n"
        "    try:\n"
        "        gitml.log_param('k', '\\udcff')\n"
        "    except gitml.errors.InvalidValueError as error:\n"
        "        print(error)\n"
        "    gitml.log_param('k', 'kept')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_with_commit, capture_output=True, text=True
    )
    assert result.stdout == (
        "the value of param 'k' is not valid UTF-8 text: '\\udcff' (gitml records text as UTF-8)\n"
    ), result.stderr
    shown = json.loads(gitml(repo_with_commit, "show", "api", "--json").stdout)
    assert shown["params"] == {"k": "kept"}


def test_a_value_longer_than_mlflow_allows_is_refused_and_the_run_stays_listable(
    repo_with_commit,
):
    code = (
        "import gitml\n"
        "with gitml.start_run(name='api'):\n"
        "    for log, size in ((gitml.log_param, 6001), (gitml.set_tag, 8001)):\n"
        "        try:\n"
        "            log('k', 'v' * size)\n"
        "        except gitml.errors.InvalidValueError as error:\n"
        "            print(error)\n"
        "    gitml.log_param('k', 'v' * 6000)\n"
        "    gitml.set_tag('k', 'v' * 8000)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_with_commit, capture_output=True, text=True
    )
    assert result.stdout.splitlines() == [
        "the value of param 'k' is longer than 6,000 characters "
        "(log long text as an artifact, e.g. with gitml.log_text)",
        "the value of tag 'k' is longer than 8,000 characters "
        "(log long text as an artifact, e.g. with gitml.log_text)",
    ], result.stderr
    refused = gitml(repo_with_commit, "run", "--tag", "k=" + "v" * 8001, "--", "true", check=False)
    assert refused.returncode == 1 and "longer than 8,000 characters" in refused.stderr
    listed = json.loads(gitml(repo_with_commit, "ls", "--json").stdout)
    assert [(run["name"], run["status"]) for run in listed] == [("api", "finished")]
    assert listed[0]["params"] == {"k": "v" * 6000} and listed[0]["tags"]["k"] == "v" * 8000


# 3. what crashed is one clear line


def test_a_project_file_that_is_not_utf8_is_one_line(repo_with_commit):
    (repo_with_commit / "MLproject").write_bytes(b"name: x\nentry_points:\n  main: echo \xff\n")
    result = gitml(repo_with_commit, "run", check=False)
    assert result.stderr == (
        f"gitml: error: {repo_with_commit / 'MLproject'}, line 3: not UTF-8 text (byte 0xff); "
        "save the file as UTF-8\n"
    )
    assert_nothing_recorded(repo_with_commit)


def test_an_mlmodel_file_that_is_not_utf8_is_one_line(repo_with_commit):
    folder = repo_with_commit / "model"
    folder.mkdir()
    (folder / "MLmodel").write_bytes(b"flavors:\n  python_function: {loader_module: caf\xe9}\n")
    write(repo_with_commit / "in.csv", "x\n1\n")
    result = invoke(
        repo_with_commit, "predict", "-i", str(repo_with_commit / "in.csv"), str(folder)
    )
    assert_one_error_line(result, "MLmodel, line 2: not UTF-8 text (byte 0xe9)")


def test_a_model_name_of_10000_characters_is_refused_in_one_short_line(shared):
    result = invoke(shared, "model", "register", "a" * 10_000, "beta")
    assert_one_error_line(result, "model name 'aaaa", "… (10,000 characters) is not valid")
    assert "2 to 100 characters" in result.stderr and len(result.stderr) < 300
    assert git(shared, "tag", "--list", "a*") == ""


def test_a_version_of_10000_characters_is_refused(shared):
    result = invoke(
        shared, "model", "register", "clf", "beta", "--version", "v1.0.0-" + "a" * 10_000
    )
    assert_one_error_line(result, "is not a semantic version")
    assert len(result.stderr) < 300


def test_model_get_into_a_folder_under_a_file_is_one_line(shared):
    write(shared / "afile", "a file, not a folder\n")
    result = invoke(shared, "model", "get", "clf@v0.0.1", "-o", str(shared / "afile" / "out"))
    assert_one_error_line(result, f"{shared / 'afile'} is a file, not a folder")


@pytest.mark.parametrize("stage", ["a\nb", "prod\x1b[2J"], ids=repr)
def test_a_control_character_in_a_stage_is_one_line(shared, stage):
    for command in (["model", "promote"], ["tag"], ["model", "unassign"]):
        result = invoke(shared, *command, "clf", "v0.0.1", stage)
        assert_one_error_line(result, f"unknown stage {stage!r}")


def test_ls_with_stdout_closed_says_so_in_one_line(repo_with_commit):
    result = subprocess.run(
        [sys.executable, "-m", "gitml", "ls"],
        cwd=repo_with_commit,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.close(1),
    )
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: standard output is closed, so gitml has nowhere to write; "
        "redirect it to a file or to /dev/null instead\n"
    )


def limit_file_size(limit: int):
    """For preexec_fn: the process (and what it starts) may write files of `limit` bytes."""

    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_git_killed_by_a_signal_is_reported_by_its_name(repo_with_commit):
    (repo_with_commit / "data.bin").write_bytes(os.urandom(300_000))  # untracked, incompressible
    result = gitml(
        repo_with_commit, "run", "--", "true", check=False, preexec_fn=limit_file_size(100_000)
    )
    assert result.stderr == (
        "gitml: error: git add -A failed: killed by SIGXFSZ (file size limit exceeded)\n"
    )


KILLED_BY_LIMIT = (
    "import resource, signal\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_DFL)\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
    "open('big.out', 'wb').write(b'x' * 100000)\n"
)


def test_a_run_killed_by_a_signal_names_it(repo_with_commit):
    result = gitml(
        repo_with_commit,
        "run",
        "--name",
        "big",
        "--",
        sys.executable,
        "-c",
        KILLED_BY_LIMIT,
        check=False,
    )
    assert result.returncode == 153
    assert result.stderr.splitlines()[-1] == (
        "gitml: run big killed by SIGXFSZ (file size limit exceeded), exit 153; "
        "see `gitml show big`"
    )
    shown = gitml(repo_with_commit, "show", "big").stdout.splitlines()
    assert shown[1] == "status     killed by SIGXFSZ (file size limit exceeded), exit 153"


def test_output_over_the_file_size_limit_is_a_warning_not_a_traceback(repo_with_commit):
    result = gitml(
        repo_with_commit,
        "run",
        "--",
        sys.executable,
        "-c",
        "print('x' * 150000)",
        check=False,
        preexec_fn=limit_file_size(100_000),
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "gitml: warning: the run's output was not captured in full: file too large" in (
        result.stderr.splitlines()
    )


def test_rerun_refuses_a_bad_param_before_saying_it_reruns(shared):
    result = invoke(shared, "rerun", "alpha", "-P", "a\x01=1")
    assert result.stderr == "gitml: error: param key 'a\\x01' contains a control character\n"


@pytest.mark.parametrize("name", ["a\nb", "\x1b]0;title\x07"], ids=repr)
def test_set_experiment_refuses_a_name_no_line_can_show(name):
    import gitml

    with pytest.raises(gitml.errors.InvalidValueError):
        gitml.set_experiment(name)
