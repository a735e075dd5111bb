"""A script under `gitml run` logs with any Python from 3.8 on (a project env may pin
MLflow's `python: "3.8"`): the modules its logging calls import stay within 3.8."""

import ast
import importlib.util
import json
import sys

from gitml.envs.pythons import find_python
from gitml.errors import EnvironmentBuildError
from tests.utils import git, gitml, write

SCRIPT = """\
import json, os, sys
import gitml
from gitml.errors import GitmlError
gitml.set_experiment("exp")
with gitml.start_run() as run:
    gitml.log_param("lr", 0.1)
    gitml.log_params({"epochs": 2})
    gitml.log_metric("loss", 0.5)
    gitml.log_metric("loss", 0.25, step=7)
    gitml.log_metrics({"acc": 0.9}, step=1)
    gitml.set_tag("model", "rf")
    gitml.set_tags({"team": "ml"})
    gitml.log_dict({"a": 1}, "report.json")
    gitml.log_text("hello", "notes/hello.txt")
    os.makedirs("out", exist_ok=True)
    with open("out/weights.bin", "w") as file:
        file.write("w")
    gitml.log_artifact("out/weights.bin")
    gitml.log_artifacts("out", "copy")
    for bad in (lambda: gitml.log_metric("m", "x"), lambda: gitml.log_text("x", "../x")):
        try:
            bad()
        except GitmlError as error:
            print("refused:", error)
    assert gitml.get_params() == {"lr": "0.1", "epochs": "2"}
    assert gitml.active_run().info.run_id == run.info.run_id
    assert gitml.get_run(run.info.run_id)["metrics"]["loss"]["last"] == 0.25
gitml.end_run()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] == "gitml")))
"""


def oldest_python() -> str:
    """The oldest Python from 3.8 on that gitml finds here (pyenv, pythonX.Y on PATH);
    the running one on a machine that has none older."""
    for minor in ("3.8", "3.9", "3.10"):
        try:
            return find_python(minor, "this test").path
        except EnvironmentBuildError:
            continue
    return sys.executable


def _run(repo, python: str) -> tuple[list[str], list[str]]:
    write(repo / "train.py", SCRIPT)
    result = gitml(repo, "run", "--", python, "train.py", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    return lines[:-1], json.loads(lines[-1])


def test_the_logging_api_works_on_the_oldest_python_here(repo_with_commit):
    python = oldest_python()
    printed, _ = _run(repo_with_commit, python)
    assert printed[:2] == [
        "refused: metric 'm' must be a number, got str 'x'",
        "refused: artifact path '../x' must be relative and stay inside the run "
        "(no leading '/', no '..')",
    ]
    (ref,) = git(repo_with_commit, "for-each-ref", "--format=%(refname)", "refs/gitml/runs").split()
    files = set(git(repo_with_commit, "ls-tree", "-r", "--name-only", ref, ".gitml").split())
    assert {
        ".gitml/metrics/loss.tsv",
        ".gitml/metrics/acc.tsv",
        ".gitml/artifacts/report.json",
        ".gitml/artifacts/notes/hello.txt",
        ".gitml/artifacts/weights.bin",
        ".gitml/artifacts/copy/weights.bin",
    } <= files
    record = json.loads(git(repo_with_commit, "show", f"{ref}:.gitml/run.json"))
    assert record["params"] == {"lr": "0.1", "epochs": "2"}
    assert record["tags"]["model"] == "rf" and record["tags"]["team"] == "ml"
    assert record["metrics"]["loss"]["last_step"] == 7


def test_every_module_the_logging_api_imports_is_python_3_8_source(repo_with_commit):
    """Syntax by Python 3.8's grammar, and annotations never evaluated (PEP 563), for the
    modules the script above really imports; the test above runs them on an old Python
    when this machine has one."""
    _, modules = _run(repo_with_commit, sys.executable)
    assert {"gitml.api", "gitml.tracking.staging"} <= set(modules)
    for name in modules:
        path = importlib.util.find_spec(name).origin
        with open(path, encoding="utf-8") as file:
            tree = ast.parse(file.read(), path, feature_version=(3, 8))
        future = [
            node
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        ]
        assert [alias.name for node in future for alias in node.names] == ["annotations"], name
