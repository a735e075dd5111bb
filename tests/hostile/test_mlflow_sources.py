"""`gitml import mlflow FOLDER` of a hand-made mlruns folder: what MLflow's folder store
would read without bounds (a link out, a FIFO, a file of a gigabyte, a YAML alias bomb)
refuses the import in one line naming the file, before MLflow is even imported.

The folders are written by hand in MLflow's layout; the imports of real MLflow stores,
and of runs whose records are wrong in other ways, are in tests/test_mlflow_import.py."""

import os
from pathlib import Path

import pytest

from gitml.mlflow_plugin.mlruns import METRIC_LIMIT, metric_points
from tests.utils import git, gitml, write

RUN = "0/0123456789abcdef0123456789abcdef"
BOMB = "".join(
    f"a{level}: &a{level} [{', '.join([f'*a{level - 1}' if level else 'lol'] * 9)}]\n"
    for level in range(10)
)


def mlruns(root: Path) -> Path:
    """One experiment and one run, as MLflow's folder store writes them."""
    write(root / "0" / "meta.yaml", "experiment_id: '0'\nname: Default\nlifecycle_stage: active\n")
    write(
        root / RUN / "meta.yaml",
        f"run_id: {RUN[2:]}\nexperiment_id: '0'\nrun_name: alpha\nstatus: 3\n"
        "start_time: 1700000000000\nlifecycle_stage: active\n",
    )
    write(root / RUN / "params" / "lr", "0.1")
    write(root / RUN / "metrics" / "loss", "1700000000000 0.5 0\n")
    (root / RUN / "artifacts").mkdir()
    return root


def alias_bomb(root: Path) -> str:
    meta = root / RUN / "meta.yaml"
    meta.write_text(BOMB + meta.read_text().replace("run_name: alpha", "run_name: *a9"))
    return "uses YAML aliases, which MLflow never writes"


def linked_metric(root: Path) -> str:
    (root / RUN / "metrics" / "loss").unlink()
    os.symlink("/dev/zero", root / RUN / "metrics" / "loss")
    return "is a symbolic link, which MLflow would follow"


def fifo_param(root: Path) -> str:
    os.mkfifo(root / RUN / "params" / "lr2")
    return "is no regular file (a FIFO, socket or device)"


def huge_metric(root: Path) -> str:
    with open(root / RUN / "metrics" / "loss", "ab") as handle:
        handle.truncate(METRIC_LIMIT + 1)  # sparse: no disk used
    return f"holds {METRIC_LIMIT + 1:,} bytes, over the {METRIC_LIMIT:,}"


def huge_param(root: Path) -> str:
    write(root / RUN / "params" / "big", "x" * ((1 << 20) + 1))
    return "holds 1,048,577 bytes, over the 1,048,576"


def linked_experiment(root: Path) -> str:
    os.symlink(root / "0", root / "1")
    return "'1' in MLflow folder"


def deep_param(root: Path) -> str:
    write(root / RUN / "params" / Path(*["k"] * 40), "v")
    return "is nested over 32 folders deep"


@pytest.mark.parametrize(
    "spoil",
    [alias_bomb, linked_metric, fifo_param, huge_metric, huge_param, linked_experiment, deep_param],
)
def test_a_folder_mlflow_would_read_without_bounds_is_refused_in_one_line(
    repo_with_commit, tmp_path, spoil
):
    source = mlruns(tmp_path / "mlruns")
    said = spoil(source)
    before = git(repo_with_commit, "for-each-ref")

    result = gitml(repo_with_commit, "import", "mlflow", str(source), check=False)

    assert result.returncode == 1
    assert result.stderr.startswith("gitml: error: ") and result.stderr.count("\n") == 1
    assert said in result.stderr and "nothing imported" in result.stderr
    assert git(repo_with_commit, "for-each-ref") == before


def test_artifacts_are_left_to_the_artifact_reader(tmp_path):
    """A link among a run's artifacts is not the folder check's business: the import
    leaves that one file out and says so (test_mlflow_import)."""
    from gitml.mlflow_plugin.mlruns import check_mlruns

    source = mlruns(tmp_path / "mlruns")
    os.symlink("/etc/passwd", source / RUN / "artifacts" / "leak")
    check_mlruns(source)


def test_metric_points_are_read_a_line_at_a_time_and_bad_lines_named(tmp_path):
    source = mlruns(tmp_path / "mlruns")
    lines = [
        "1700000000001 nan 1",
        "1700000000002 0.25",
        "x 0.5 3",
        "1700000000004 0.5 4 a",
        "1" * 5000,
        "1700000000005 inf 99999999999999999999999",
    ]
    write(source / RUN / "metrics" / "loss", "\n".join(lines) + "\n")
    experiment, run = RUN.split("/")

    points = list(metric_points(source, experiment, run, "loss"))

    assert str(points[0][0]) == "nan" and points[0][1:] == (1, 1700000000001)
    assert points[1:4] == [
        (0.25, 0, 1700000000002),
        "line 3 is no metric point",
        "line 4 is no metric point",
    ]
    assert points[4] == "line 5 is longer than 4096 bytes"
    assert points[5] == (float("inf"), 99999999999999999999999, 1700000000005)
    (outside,) = metric_points(source, "..", run, "loss")
    assert outside == f"its metric file '../{run}/metrics/loss' is no path inside the folder"
