"""`gitml compare`, `gitml metrics`, `gitml plot` on runs made by real `gitml run` calls."""

import csv
import io
import json
import os

import pytest

from gitml.compare.plot import sparkline
from tests.utils import git, gitml, write

CURVE = """\
import gitml
p = gitml.get_params()
lr = float(p["lr"])
for step in range(20):
    gitml.log_metric("train/loss", 1 / (1 + lr * step), step=step)
    if step % 5 == 0:
        gitml.log_metric("acc", lr * step, step=step)
"""


def record_curves(repo):
    """Runs `slow` (lr 0.1) and `fast` (lr 0.5) of curve.py, tagged kind=curve."""
    write(repo / "curve.py", CURVE)
    git(repo, "add", "curve.py")
    git(repo, "commit", "-q", "-m", "curve")
    for name, lr in (("slow", "0.1"), ("fast", "0.5")):
        gitml(
            repo,
            "run",
            "--name",
            name,
            "-P",
            f"lr={lr}",
            "--tag",
            "kind=curve",
            "--",
            "python",
            "curve.py",
        )


@pytest.fixture
def curves(templates, tmp_path):
    return templates.copy(record_curves, tmp_path / "repo")


def test_compare_side_by_side_marks_differing_rows(curves):
    out = gitml(curves, "compare", "slow", "fast").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["key", "slow", "fast"]
    rows = {line[3:].split()[0]: line for line in lines[1:]}
    assert rows["params.lr"].startswith("*") and rows["params.lr"].split()[2:] == ["0.1", "0.5"]
    assert rows["status"].startswith(" ") and rows["tags.kind"].startswith(" ")
    assert rows["metrics.train/loss"].startswith("*")
    only = gitml(curves, "compare", "slow", "fast", "--diff-only").stdout
    assert "tags.kind" not in only and "params.lr" in only
    data = json.loads(gitml(curves, "compare", "slow", "fast", "--json").stdout)
    assert [run["name"] for run in data["runs"]] == ["slow", "fast"]
    lr = next(row for row in data["rows"] if row["key"] == "params.lr")
    assert lr == {"key": "params.lr", "values": ["0.1", "0.5"], "differs": True}


def test_compare_needs_two_different_runs(curves):
    result = gitml(curves, "compare", "slow", "slow", check=False)
    assert result.returncode == 1
    assert result.stderr == "gitml: error: give at least two different runs to compare\n"
    result = gitml(curves, "compare", "slow", "nosuch", check=False)
    assert result.returncode == 1 and "no run matches 'nosuch'" in result.stderr


def test_metric_history_in_every_format(curves):
    data = json.loads(gitml(curves, "metrics", "fast", "--json").stdout)
    assert sorted(data) == ["acc", "train/loss"]
    assert [p["step"] for p in data["train/loss"]] == list(range(20))
    assert data["train/loss"][2]["value"] == pytest.approx(1 / 2)
    assert [p["value"] for p in data["acc"]] == [0.0, 2.5, 5.0, 7.5]
    rows = list(csv.reader(io.StringIO(gitml(curves, "metrics", "fast", "acc", "--csv").stdout)))
    assert rows[0] == ["key", "step", "value", "timestamp"]
    assert [r[:3] for r in rows[1:]] == [
        ["acc", s, v] for s, v in (("0", "0.0"), ("5", "2.5"), ("10", "5.0"), ("15", "7.5"))
    ]
    text = gitml(curves, "metrics", "fast").stdout.splitlines()
    assert text[0].startswith("acc ") and "(4 points)" in text[0]
    assert text[1].startswith("train/loss") and "(20 points)" in text[1]
    table = text[3:]
    assert table[0].split() == ["step", "acc", "train/loss"]
    assert table[1].split() == ["0", "0", "1"] and table[2].split()[:2] == ["1", "-"]


def test_metric_history_unknown_key_names_the_known_ones(curves):
    result = gitml(curves, "metrics", "fast", "los", check=False)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: cannot show metric 'los': run fast did not log it "
        "(known keys: acc, train/loss)\n"
    )


def test_plot_sparklines_share_one_scale(curves):
    out = gitml(curves, "plot", "train/loss", "slow", "fast").stdout.splitlines()
    assert out[0] == "train/loss (one scale for all runs)"
    slow, fast = (line.split()[1] for line in out[1:])
    assert len(slow) == len(fast) == 20
    assert slow[0] == fast[0] == "█"
    assert fast[-1] == "▁" and slow[-1] > fast[-1]


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_a_chart_file(curves, tmp_path, suffix):
    pytest.importorskip("matplotlib")  # the optional 'plot' extra
    target = tmp_path / f"loss{suffix}"
    out = gitml(curves, "plot", "train/loss", "slow", "fast", "-o", str(target)).stdout
    assert out == f"wrote {target}\n"
    data = target.read_bytes()
    if suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert b"<svg" in data and b"slow" in data and b"fast" in data


def test_plot_without_matplotlib_says_how_to_get_it(curves, tmp_path):
    blocker = write(tmp_path / "block" / "matplotlib" / "__init__.py", "raise ImportError('no')\n")
    env = {**os.environ, "PYTHONPATH": str(blocker.parent.parent)}
    target = tmp_path / "loss.png"
    result = gitml(curves, "plot", "acc", "slow", "-o", str(target), check=False, env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "gitml: error: writing a chart needs matplotlib, which is not installed: "
        "pip install 'gitml[plot]'\n"
    )
    assert not target.exists()
    # the terminal sparkline needs no extra
    assert gitml(curves, "plot", "acc", "slow", env=env).stdout.startswith("acc")


def test_plot_bad_file_name_and_unknown_metric(curves, tmp_path):
    result = gitml(curves, "plot", "acc", "slow", "-o", str(tmp_path / "x.jpg"), check=False)
    assert result.returncode == 1 and "use a name ending in .png, .svg, .pdf" in result.stderr
    result = gitml(curves, "plot", "nope", "slow", check=False)
    assert result.returncode == 1 and "cannot show metric 'nope'" in result.stderr


def test_sparkline_and_steps():
    assert sparkline([]) == ""
    assert sparkline([1, 1, 1]) == "▅▅▅"
    assert sparkline([0, 1, float("nan"), 2]) == "▁▅ █"
    assert len(sparkline(list(range(1000)), width=40)) == 40
    assert sparkline([5], scale=(0, 10)) == "▅"


def test_history_of_a_run_in_progress_comes_from_its_staging_folder(curves, tmp_path):
    import subprocess
    import sys
    import time

    go = tmp_path / "go"
    script = write(
        tmp_path / "live.py",
        "import gitml, os, time\n"
        "gitml.start_run(name='live')\n"
        "for step in range(3):\n"
        "    gitml.log_metric('loss', 3 - step, step=step)\n"
        "print('logged', flush=True)\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.05)\n"
        "gitml.end_run()\n",
    )
    child = subprocess.Popen(
        [sys.executable, str(script)], cwd=curves, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "logged\n"
        data = json.loads(gitml(curves, "metrics", "live", "--json").stdout)
        assert [(p["step"], p["value"]) for p in data["loss"]] == [(0, 3.0), (1, 2.0), (2, 1.0)]
        listed = gitml(curves, "ls", "--filter", "status = 'running'", "--json").stdout
        assert [r["name"] for r in json.loads(listed)] == ["live"]
        busy = gitml(curves, "diff", "slow", "live", check=False)
        assert busy.returncode == 1
        assert (
            busy.stderr == "gitml: error: run live is still running; compare it once it has ended\n"
        )
        compared = json.loads(gitml(curves, "compare", "live", "slow", "--json").stdout)
        loss = next(row for row in compared["rows"] if row["key"] == "metrics.loss")
        assert loss["values"] == [1.0, None]  # the last point logged so far, as in ls
        table = gitml(curves, "compare", "live", "slow").stdout
        assert "metrics.loss" in table and "running" in table
        before = git(curves, "status", "--porcelain")
        checkout = gitml(curves, "checkout", "live", check=False)
        assert checkout.returncode == 1 and checkout.stdout == ""
        assert checkout.stderr == (
            "gitml: error: run live is still running; check it out once it has ended\n"
        )
        assert git(curves, "status", "--porcelain") == before
        rerun = gitml(curves, "rerun", "live", check=False)
        assert rerun.returncode == 1 and rerun.stdout == ""
        assert (
            rerun.stderr == "gitml: error: run live is still running; rerun it once it has ended\n"
        )
    finally:
        go.touch()
        child.wait(timeout=30)
    deadline = time.time() + 10
    while "live" not in gitml(curves, "ls", "--json").stdout and time.time() < deadline:
        time.sleep(0.1)
    committed = json.loads(gitml(curves, "metrics", "live", "loss", "--json").stdout)
    assert [(p["step"], p["value"]) for p in committed["loss"]] == [(0, 3.0), (1, 2.0), (2, 1.0)]
