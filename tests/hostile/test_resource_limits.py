"""Inputs that would make time or memory explode: LIKE patterns that backtrack, YAML
alias bombs, deep nesting, and big but legal data (long metric histories, many params).

A command that would run for minutes is stopped by a subprocess timeout, which is the
failure; memory is read from the finished child's own peak resident size (ru_maxrss).
"""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import git, gitml, write

TIMEOUT = 60  # seconds; every command here finishes in well under one when bounded
MEMORY_CAP = 2 << 30  # address space of a child: an input that explodes fails, not the machine

BACKTRACKING_PATTERN = "%a" * 12  # against 39 'a's and a 'b': C(39, 12) ways to fail


def cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def bounded(repo: Path, *args: str, timeout: float = TIMEOUT, **kwargs):
    """`gitml ARGS` in a child; one that runs past `timeout` fails the test."""
    try:
        return gitml(repo, *args, check=False, timeout=timeout, preexec_fn=cap_memory, **kwargs)
    except subprocess.TimeoutExpired:
        pytest.fail(f"gitml {' '.join(args)[:200]} ran for more than {timeout} s")


def bounded_python(repo: Path, code: str, timeout: float = TIMEOUT):
    """`python -c CODE` in `repo`; one that runs past `timeout` fails the test."""
    try:
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            preexec_fn=cap_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -c {code[:200]!r} ran for more than {timeout} s")


# Runs a command, its output to a file, and prints its exit code and peak RSS (KiB).
# A child's ru_maxrss starts from its parent's at fork, so the command is started by
# this small process and not by pytest, which may have loaded scikit-learn.
MEASURE = (
    "import resource, subprocess, sys\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    code = subprocess.call(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL)\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_memory_mib(repo: Path, output: Path, *args: str) -> tuple[int, float]:
    """(exit code, peak resident MiB) of `gitml ARGS`, its stdout written to `output`.

    The peak is that of the gitml process and of its own children (such as a git it
    reads through): the largest of them."""
    command = [sys.executable, "-c", MEASURE, str(output), sys.executable, "-m", "gitml", *args]
    try:
        result = subprocess.run(
            command, cwd=repo, capture_output=True, text=True, timeout=TIMEOUT, check=True
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"gitml {' '.join(args)} ran for more than {TIMEOUT} s")
    code, peak = result.stdout.split()
    return int(code), int(peak) / 1024  # Linux reports KiB


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single `gitml: error:` line a refused input must give, without a traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gitml: error: "), result.stderr
    return lines[0]


@pytest.fixture
def project(repo_with_commit) -> Path:
    """A repository with a committed script that runs a no-op."""
    write(repo_with_commit / "noop.py", "print('ran')\n")
    git(repo_with_commit, "add", "noop.py")
    git(repo_with_commit, "commit", "-q", "-m", "noop")
    return repo_with_commit


# 1. LIKE patterns


@pytest.fixture
def long_named_run(project) -> Path:
    gitml(project, "run", "--name", "a" * 39 + "b", "--", "python", "noop.py")
    return project


def test_like_pattern_that_backtracks_is_fast_in_ls(long_named_run):
    for op in ("LIKE", "ILIKE", "NOT LIKE"):
        result = bounded(long_named_run, "ls", "--filter", f"name {op} '{BACKTRACKING_PATTERN}'")
        assert result.returncode == 0, result.stderr
        assert ("a" * 39 + "b" in result.stdout) == (op == "NOT LIKE")


def test_like_pattern_that_backtracks_is_fast_in_search_runs(long_named_run):
    code = (
        "import gitml\n"
        f"print(len(gitml.search_runs(filter=\"name LIKE '{BACKTRACKING_PATTERN}'\")))\n"
        f"print(len(gitml.search_runs(filter=\"name LIKE '{BACKTRACKING_PATTERN[:-1]}b'\")))\n"
    )
    result = bounded_python(long_named_run, code)
    assert result.stdout.split() == ["0", "1"], result.stderr


def test_like_pattern_that_backtracks_is_fast_in_gc(long_named_run):
    result = bounded(long_named_run, "gc", "--dry-run", "--filter", f"name LIKE '%{'_' * 39}'")
    assert "would delete " + "a" * 39 + "b" in result.stdout, result.stderr
    pattern = f"name LIKE '{BACKTRACKING_PATTERN}'"
    result = bounded(long_named_run, "gc", "--dry-run", "--filter", pattern)
    assert result.stdout.strip() == "no runs to delete", result.stderr


# 2. YAML alias bombs


def alias_bomb(use: str) -> str:
    """~350 bytes of YAML whose aliases stand for 9**9 strings; `use` refers to the
    biggest one as `*i` (e.g. "name: *i")."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for inner, outer in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{outer}: &{outer} [{', '.join(['*' + inner] * 9)}]")
    return "\n".join([*lines, use, ""])


def assert_refused_naming(result: subprocess.CompletedProcess, path: Path, words: str) -> None:
    line = one_line_error(result)
    assert str(path) in line and words in line, line
    assert len(line) < 500, line[:500]


def test_alias_bomb_in_conda_yaml_is_refused_naming_the_file(project):
    conda = write(project / "conda.yaml", alias_bomb("dependencies: *i"))
    result = bounded(project, "run", "--", "python", "noop.py")
    assert_refused_naming(result, conda, "aliases stand for more than 100,000 values")
    assert git(project, "for-each-ref", "refs/gitml/runs") == ""


@pytest.mark.parametrize("name", ["gitml.yaml", "MLproject"])
def test_alias_bomb_in_a_project_file_is_refused_naming_the_file(project, name):
    path = write(
        project / name,
        alias_bomb("name: *i") + "entry_points:\n  main:\n    command: python noop.py\n",
    )
    result = bounded(project, "run", "-e", "main")
    assert_refused_naming(result, path, "aliases stand for more than 100,000 values")


def test_alias_bomb_in_python_env_yaml_is_refused_naming_the_file(project):
    path = write(project / "python_env.yaml", alias_bomb("python: *i"))
    result = bounded(project, "env", "path", "--file", str(path))
    assert_refused_naming(result, path, "aliases stand for more than 100,000 values")


def test_aliases_within_bounds_still_read(project):
    write(
        project / "gitml.yaml",
        "defaults: &common {type: float, default: 0.1}\n"
        "entry_points:\n"
        "  main:\n"
        "    parameters: {lr: *common, wd: *common}\n"
        "    command: python noop.py {lr} {wd}\n",
    )
    result = bounded(project, "run", "-e", "main")
    assert result.returncode != 0 and "unknown field 'defaults'" in result.stderr
    write(
        project / "gitml.yaml",
        "entry_points:\n"
        "  main:\n"
        "    parameters: {lr: &common {type: float, default: 0.1}, wd: *common}\n"
        "    command: python noop.py {lr} {wd}\n",
    )
    result = bounded(project, "run", "-e", "main")
    assert result.returncode == 0, result.stderr


# 3. deep nesting


def test_deeply_nested_filter_is_one_line(project):
    for text in ("(" * 5000 + "name = 'a'" + ")" * 5000, "not " * 5000 + "name = 'a'"):
        line = one_line_error(bounded(project, "ls", "--filter", text))
        assert "nest more than 100 deep" in line and len(line) < 500, line[:500]


def test_a_long_chain_of_or_is_not_nesting(long_named_run):
    text = " or ".join(f"name = 'x{i}'" for i in range(5000)) + " or name LIKE 'a%'"
    result = bounded(long_named_run, "ls", "--filter", text)
    assert result.returncode == 0, result.stderr[:500]
    assert "a" * 39 + "b" in result.stdout


def test_deeply_nested_project_file_is_one_line(project):
    path = write(project / "gitml.yaml", "name: " + "[" * 20000 + "]" * 20000 + "\n")
    result = bounded(project, "run", "--", "python", "noop.py")
    assert_refused_naming(result, path, "line 1")


def test_log_dict_refuses_a_dict_nested_too_deep(project, monkeypatch):
    import gitml
    from gitml.errors import InvalidValueError

    monkeypatch.chdir(project)
    deep: dict = {}
    node = deep
    for _ in range(100_000):
        node["a"] = {}
        node = node["a"]
    looped: dict = {"self": None}
    looped["self"] = looped
    with gitml.start_run():
        for value in (deep, looped):
            for name in ("deep.json", "deep.yaml"):
                with pytest.raises(InvalidValueError, match="nested more than 100 levels"):
                    gitml.log_dict(value, name)
        gitml.log_dict({"a": {"b": [1, 2]}}, "fine.json")
    (run,) = gitml.search_runs(output_format="list")
    assert [a["path"] for a in gitml.get_run(run["id"])["artifacts"]] == ["fine.json"]


def deep_json(depth: int = 100_000) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def replace_record(repo: Path, run_id: str, path: str, data: bytes) -> None:
    """Point the run's ref at a copy of its commit whose `path` holds `data`
    (what a hostile remote could send)."""
    ref = f"refs/gitml/runs/{run_id}"
    blob = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True
        )
        .stdout.decode()
        .strip()
    )
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "hostile-index")}
    for args in (
        ["read-tree", ref],
        ["update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
    ):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    message = git(repo, "log", "-1", "--format=%B", ref)
    parents = git(repo, "log", "-1", "--format=%P", ref).split()
    commit = subprocess.run(
        ["git", "commit-tree", tree, *[f"-p{sha}" for sha in parents], "-m", message],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(repo, "update-ref", ref, commit)


def test_deeply_nested_run_json_makes_a_damaged_run(project):
    gitml(project, "run", "--name", "deep", "--", "python", "noop.py")
    gitml(project, "run", "--name", "plain", "--", "python", "noop.py")
    runs = {run["name"]: run["id"] for run in json.loads(gitml(project, "ls", "--json").stdout)}
    replace_record(project, runs["deep"], ".gitml/run.json", deep_json().encode())
    for args in (("show", "deep"), ("diff", "plain", "deep")):
        result = bounded(project, *args)
        assert result.returncode == 0 and result.stderr == "", result.stderr
    record = json.loads(bounded(project, "show", "deep", "--json").stdout)
    assert record["status"] == "damaged"
    assert (
        record["damage"]
        == "its .gitml/run.json: nested more than 100 levels deep (gitml reads at most 100)"
    )


def test_diff_of_runs_with_huge_environment_files_is_fast(project):
    """difflib takes minutes over two conda.yaml files of hundreds of thousands of lines
    that share lines in another order (a remote may send any), seconds over a thousand."""
    gitml(project, "run", "--name", "one", "--", "python", "noop.py")
    gitml(project, "run", "--name", "two", "--", "python", "noop.py")
    runs = {run["name"]: run["id"] for run in json.loads(gitml(project, "ls", "--json").stdout)}
    for seed, name in enumerate(("one", "two")):
        lines = "".join(f"  - pkg{(i * (seed + 7919)) % 8000}\n" for i in range(800_000))
        replace_record(project, runs[name], ".gitml/env/conda.yaml", lines.encode())
    result = bounded(project, "diff", "one", "two", "--no-code")
    assert result.returncode == 0, result.stderr
    assert "one/conda.yaml (800,000 lines) and two/conda.yaml (800,000 lines) differ" in (
        result.stdout
    )
    small = "".join(f"  - pkg{i}\n" for i in range(1000))
    replace_record(project, runs["one"], ".gitml/env/conda.yaml", small.encode())
    replace_record(project, runs["two"], ".gitml/env/conda.yaml", (small + "  - numpy\n").encode())
    assert "    +  - numpy" in bounded(project, "diff", "one", "two", "--no-code").stdout


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> Path:
    """A scikit-learn model folder with a column signature (columns a, b, c)."""
    import gitml
    from tests.models_helpers import train_sklearn

    folder = tmp_path_factory.mktemp("saved") / "model"
    model, X = train_sklearn()
    gitml.save_model(model, folder, input_example=X.iloc[:2])
    return folder


@pytest.fixture
def model_copy(saved_model, tmp_path) -> Path:
    import shutil

    return Path(shutil.copytree(saved_model, tmp_path / "model"))


def predict_input(tmp_path: Path) -> Path:
    rows = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[0.1, 0.2, 0.3]]}}
    return write(tmp_path / "input.json", json.dumps(rows))


def test_alias_bomb_in_an_mlmodel_file_is_refused_naming_the_file(model_copy, tmp_path):
    mlmodel = model_copy / "MLmodel"
    mlmodel.write_text(mlmodel.read_text().replace("model_uuid:", "old_uuid:"))
    with mlmodel.open("a") as file:
        file.write(alias_bomb("model_uuid: *i"))
    result = bounded(tmp_path, "predict", str(model_copy), "-i", str(predict_input(tmp_path)))
    assert_refused_naming(result, mlmodel, "aliases stand for more than 100,000 values")


def test_alias_bomb_in_a_model_conda_yaml_is_refused_before_serving(tmp_path):
    from gitml.errors import DocumentError
    from gitml.models.environment import serving_spec_text

    path = str(tmp_path / "conda.yaml")
    with pytest.raises(DocumentError, match=r"conda.yaml, line 6: its aliases stand for more"):
        serving_spec_text(alias_bomb("dependencies: *i"), path)


def test_deeply_nested_signature_json_is_one_line(model_copy, tmp_path):
    import yaml

    mlmodel = model_copy / "MLmodel"
    data = yaml.safe_load(mlmodel.read_text())
    data["signature"]["inputs"] = "[" * 100_000 + "]" * 100_000
    mlmodel.write_text(yaml.safe_dump(data))
    result = bounded(tmp_path, "predict", str(model_copy), "-i", str(predict_input(tmp_path)))
    line = one_line_error(result)
    assert "signature inputs: nested more than 100 levels deep" in line, line


def test_deeply_nested_prediction_input_file_is_one_line(saved_model, tmp_path):
    path = write(tmp_path / "deep.json", deep_json())
    result = bounded(tmp_path, "predict", str(saved_model), "-i", str(path))
    line = one_line_error(result)
    assert f"{path}: nested more than 100 levels deep" in line, line


def test_deeply_nested_request_body_is_a_400_that_says_so(saved_model):
    from tests.models_helpers import Server

    with Server(str(saved_model), saved_model.parent) as server:
        for body in (deep_json(), "[" * 100_000 + "]" * 100_000):
            status, answer = server.request("POST", "/invocations", body)
            assert status == 400, answer
            assert "the request body is nested more than 100 levels deep" in answer["message"]
        rows = {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[0.1, 0.2, 0.3]]}}
        assert server.request("POST", "/invocations", rows)[0] == 200


# 4. big but legal data

POINTS = 1_000_000
MEMORY_BOUND_MIB = 150  # gitml reading a metric a block at a time takes about 50


def record_long_metric_run(repo: Path) -> None:
    """A run `long` whose metric `loss` has POINTS points: logged as a few points by a
    real `gitml run`, then its metric file swapped for one of POINTS lines (as a run
    that logged them all would have; logging a million points takes a while)."""
    write(
        repo / "curve.py",
        "import gitml\nfor step in range(3):\n    gitml.log_metric('loss', 1.0)\n",
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "curve")
    gitml(repo, "run", "--name", "long", "--", "python", "curve.py")
    lines = [f"{step}\t{1 / (step + 1)!r}\t{1_800_000_000_000 + step}\n" for step in range(POINTS)]
    (run,) = json.loads(gitml(repo, "ls", "--json").stdout)
    replace_record(repo, run["id"], ".gitml/metrics/loss.tsv", "".join(lines).encode())


@pytest.fixture
def long_metric_run(templates, tmp_path) -> Path:
    return templates.copy(record_long_metric_run, tmp_path / "repo")


@pytest.mark.slow
def test_metrics_of_a_million_points_sums_up_in_bounded_memory(long_metric_run, tmp_path):
    output = tmp_path / "out.txt"
    code, peak = peak_memory_mib(long_metric_run, output, "metrics", "long", "loss")
    assert code == 0 and peak < MEMORY_BOUND_MIB, (code, peak)
    text = output.read_text()
    assert len(text.splitlines()) < 10, text[:2000]
    assert "(1,000,000 points)" in text and "0 to 999999" in text
    assert "every point with `gitml metrics long --csv` or --json" in text


@pytest.mark.slow
def test_metrics_csv_and_json_stream_every_point_in_bounded_memory(long_metric_run, tmp_path):
    output = tmp_path / "out.csv"
    code, peak = peak_memory_mib(long_metric_run, output, "metrics", "long", "loss", "--csv")
    assert code == 0 and peak < MEMORY_BOUND_MIB, (code, peak)
    with output.open() as file:
        assert next(file) == "key,step,value,timestamp\n"
        assert next(file) == "loss,0,1.0,1800000000000\n"
        count = 2 + sum(1 for _ in file)
    assert count == POINTS + 1
    output = tmp_path / "out.json"
    code, peak = peak_memory_mib(long_metric_run, output, "metrics", "long", "--json")
    assert code == 0 and peak < MEMORY_BOUND_MIB, (code, peak)
    (points,) = json.loads(output.read_text()).values()
    assert len(points) == POINTS
    assert points[-1] == {"step": POINTS - 1, "value": 1 / POINTS, "timestamp": 1_800_000_999_999}


def test_metrics_of_a_run_with_thousands_of_metrics_lists_them_once(project):
    """Each metric's points were looked up by listing the run's metric files again: the
    6,000 metrics of one run took minutes to show, 36,000,000 file names decoded."""
    code = (
        "import gitml\n"
        "with gitml.start_run(name='wide'):\n"
        "    gitml.log_metrics({f'm{i}': i for i in range(6000)})\n"
    )
    assert bounded_python(project, code).returncode == 0
    for args in (("metrics", "wide"), ("metrics", "wide", "--json")):
        result = bounded(project, *args)
        assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 6000


def test_damaged_metric_lines_are_left_out(project):
    gitml(project, "run", "--name", "damaged", "--", "python", "noop.py")
    (run,) = json.loads(gitml(project, "ls", "--json").stdout)
    damage = b"not\ta\tpoint\n1\t2\n3\t4\t5\t6\n" + b"9" * 3_000_000 + b"\n"  # > 1 block
    lines = b"0\t0.5\t1\n" + damage + b"1\t0.25\t2\n2\t0.125"
    replace_record(project, run["id"], ".gitml/metrics/loss.tsv", lines)
    result = bounded(project, "metrics", "damaged", "--csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "key,step,value,timestamp",
        "loss,0,0.5,1",
        "loss,1,0.25,2",
    ]


def test_ls_with_fifty_thousand_params_shows_what_fits(project):
    write(
        project / "many.py", "import gitml\ngitml.log_params({f'p{i}': i for i in range(50_000)})\n"
    )
    gitml(project, "run", "--name", "wide", "--", "python", "many.py")
    result = bounded(project, "ls", "-a", env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    header, row, hidden = result.stdout.splitlines()
    assert header.split()[:7] == [
        "ID",
        "NAME",
        "STATUS",
        "STARTED",
        "DURATION",
        "EXPERIMENT",
        "params.p0",
    ]
    assert "wide" in row and hidden.endswith(
        "more columns hidden: widen the terminal or use --json)"
    )


def deep_folder(root: Path, depth: int) -> None:
    """`root/d/d/…/d/f.txt`, `depth` folders of `d` (made through folder descriptors:
    os.makedirs itself recurses once per level)."""
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    file = os.open("f.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(file, b"x")
    os.close(file)
    os.close(fd)


def remove_deep_folder(root: Path) -> None:
    """Undo `deep_folder` a level at a time from the top, with short paths (shutil.rmtree
    recurses once per level too, and pytest's clean-up of old temporary folders would
    stumble on it)."""
    while (root / "d" / "d").is_dir():
        (root / "d" / "d").rename(root / "inner")
        (root / "d").rmdir()
        (root / "inner").rename(root / "d")
    (root / "d" / "f.txt").unlink()
    (root / "d").rmdir()
    root.rmdir()


def test_an_artifact_folder_nested_too_deep_is_one_line(project):
    deep_folder(project / "art", 1200)
    try:
        write(project / ".gitignore", "art/\n")
        result = bounded(project, "run", "--artifact", "art", "--", "python", "noop.py")
    finally:
        remove_deep_folder(project / "art")
    errors = [line for line in result.stderr.splitlines() if line.startswith("gitml: error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "is nested more than 100 levels deep (gitml stores at most 100)" in errors[0]
    assert len(errors[0]) < 300, errors[0]
