"""`gitml diff` between runs made by real `gitml run` calls."""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.compare.diff import _packages, changes, metric_changes
from tests.utils import assert_fsck_clean, git, gitml, write

TRAIN = """\
import gitml
p = gitml.get_params()
lr = float(p["lr"])
gitml.log_metric("loss", 1 / lr)
gitml.log_metric("acc", lr * 2)
open("model.bin", "wb").write(bytes([0, 255, int(lr * 100)]) * 100)
"""


def record_two_runs(repo):
    """`first` (lr 0.1), then code, conda.yaml and a binary file change, then `second`."""
    write(repo / "train.py", TRAIN)
    write(repo / "conda.yaml", "dependencies:\n  - python=3.11\n")
    write(repo / ".gitignore", "model.bin\n")
    write(repo / "gitml.yaml", "name: demo\nmetrics:\n  loss: min\n  acc: {goal: max}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "train")
    common = ["-P", "epochs=3", "--artifact", "model.bin", "--", "python", "train.py"]
    gitml(repo, "run", "--name", "first", "-P", "lr=0.1", "--tag", "team=a", *common)
    write(repo / "train.py", TRAIN + "print('done')\n")
    write(repo / "conda.yaml", "dependencies:\n  - python=3.11\n  - numpy\n")
    (repo / "weights.bin").write_bytes(bytes(range(256)) * 4)
    gitml(
        repo, "run", "--name", "second", "-P", "lr=0.2", "-P", "new=1", "--tag", "team=b", *common
    )


@pytest.fixture
def two_runs(templates, tmp_path):
    return templates.copy(record_two_runs, tmp_path / "repo")


def test_terminal_view_has_every_section(two_runs):
    out = gitml(two_runs, "diff", "first", "second").stdout
    assert out.startswith("run first (")
    assert "  changed  lr   0.1 → 0.2" in out
    assert "  added    new  - → 1" in out
    assert "  (the same in both: epochs)" in out
    assert "  changed  team  a → b" in out
    loss = next(line for line in out.splitlines() if line.startswith("  loss"))
    assert loss.split() == ["loss", "10", "5", "-5", "-50.00%", "second", "better", "(min)"]
    acc = next(line for line in out.splitlines() if line.startswith("  acc"))
    assert acc.split()[1:5] == ["0.2", "0.4", "+0.2", "+100.00%"]
    assert "second better (max)" in acc
    assert "    +  - numpy" in out  # conda.yaml, unified diff
    assert "  changed  model.bin  300 B → 300 B  (sha256 " in out
    assert "  A  weights.bin  binary" in out
    assert "  M  train.py  +1 -0" in out
    assert "Binary files /dev/null and b/weights.bin differ" in out
    assert "+print('done')" in out
    assert ".gitml" not in out


def test_json_and_markdown(two_runs):
    data = json.loads(gitml(two_runs, "diff", "first", "second", "--json").stdout)
    assert data["a"]["name"] == "first" and data["b"]["name"] == "second"
    assert {"key": "lr", "status": "changed", "a": "0.1", "b": "0.2"} in data["params"]
    assert data["same_params"] == ["epochs"]
    loss = next(m for m in data["metrics"] if m["key"] == "loss")
    assert loss == {
        "key": "loss",
        "a": 10.0,
        "b": 5.0,
        "delta": -5.0,
        "relative": -0.5,
        "goal": "min",
        "better": "b",
    }
    files = {f["path"]: f for f in data["files"]}
    assert set(files) == {"train.py", "conda.yaml", "weights.bin"}
    assert files["weights.bin"]["binary"] is True and files["weights.bin"]["added"] is None
    assert data["artifacts"][0]["path"] == "model.bin"
    assert data["artifacts"][0]["status"] == "changed"
    assert "numpy" in data["environment"]["conda"]

    md = gitml(two_runs, "diff", "first", "second", "--md").stdout
    assert "| param | first | second |\n|---|---|---|\n| lr | 0.1 | 0.2 |" in md
    assert "| loss | 10 | 5 | -5 | -50.00% | second better (min) |" in md
    assert "| weights.bin | A | binary |" in md
    assert "```diff\n" in md


def test_stat_and_no_code(two_runs):
    stat = gitml(two_runs, "diff", "first", "second", "--stat").stdout
    assert "  M  train.py  +1 -0" in stat and "diff --git" not in stat
    no_code = gitml(two_runs, "diff", "first", "second", "--no-code").stdout
    assert "code:" not in no_code and "train.py" not in no_code and "lr" in no_code


def test_one_run_against_its_base(two_runs):
    out = gitml(two_runs, "diff", "second").stdout
    assert out.splitlines()[0].startswith("base ")
    assert "params" not in out  # a commit has no params: only the code is compared
    assert "  M  train.py  +1 -0" in out and "  M  conda.yaml  +1 -0" in out
    assert "code: no differences" in gitml(two_runs, "diff", "first").stdout


def test_a_branch_or_commit_stands_in_for_the_code(two_runs):
    out = gitml(two_runs, "diff", "main", "second").stdout
    assert out.startswith("main (")
    assert "  M  train.py  +1 -0" in out and "params" not in out
    head = git(two_runs, "rev-parse", "HEAD").strip()
    back = gitml(two_runs, "diff", "second", head[:10], "--stat").stdout
    assert "  M  train.py  +0 -1" in back


def test_bad_input_is_one_clear_line(two_runs):
    same = gitml(two_runs, "diff", "first", "first", check=False)
    assert same.returncode == 1
    assert same.stderr == (
        "gitml: error: first and first are the same run: give two different ones, "
        "or one run to compare it with its base\n"
    )
    unknown = gitml(two_runs, "diff", "first", "nosuchrun", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("gitml: error: no run matches 'nosuchrun'")
    commit_only = gitml(two_runs, "diff", "main", check=False)
    assert commit_only.returncode == 1
    assert "main is not a run" in commit_only.stderr
    assert_fsck_clean(two_runs)


def test_package_changes():
    a = _packages("numpy==1.26.0\nclick==8.1\nOld_Pkg==1\n")
    b = _packages("numpy==2.0.0\nclick==8.1\nnew-pkg==0.1\n")
    assert [(c.key, c.status, c.a, c.b) for c in changes(a, b)] == [
        ("new-pkg", "added", None, "0.1"),
        ("numpy", "changed", "1.26.0", "2.0.0"),
        ("old-pkg", "removed", "1", None),
    ]


EXTREMES = """\
import gitml
values = {
    "a": {"loss": float("inf"), "big": 1e308, "same": float("inf"), "low": -float("inf")},
    "b": {"loss": 0.5, "big": -1e308, "same": float("inf"), "low": -float("inf")},
}[gitml.get_params()["side"]]
gitml.log_metrics(values)
"""


def record_extreme_runs(repo):
    """Runs `a` and `b` with infinite metrics and a difference that overflows."""
    write(repo / "extremes.py", EXTREMES)
    write(repo / "gitml.yaml", "metrics:\n  loss: min\n  big: max\n  same: min\n  low: max\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "extremes")
    for side in ("a", "b"):
        gitml(repo, "run", "--name", side, "-P", f"side={side}", "--", "python", "extremes.py")


@pytest.fixture
def extreme_runs(templates, tmp_path):
    return templates.copy(record_extreme_runs, tmp_path / "repo")


def test_infinite_metrics_and_overflowing_changes(extreme_runs):
    out = gitml(extreme_runs, "diff", "a", "b", "--no-code").stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert rows["loss"] == ["loss", "inf", "0.5", "-inf", "-", "b", "better", "(min)"]
    assert rows["big"] == ["big", "1e+308", "-1e+308", "-inf", "-", "a", "better", "(max)"]
    assert rows["same"] == ["same", "inf", "inf", "0", "+0.00%"]
    assert rows["low"] == ["low", "-inf", "-inf", "0", "+0.00%"]
    assert "nan" not in out

    data = json.loads(gitml(extreme_runs, "diff", "a", "b", "--no-code", "--json").stdout)
    metrics = {m["key"]: m for m in data["metrics"]}
    assert metrics["loss"] == {
        "key": "loss",
        "a": "inf",
        "b": 0.5,
        "delta": "-inf",
        "relative": None,
        "goal": "min",
        "better": "b",
    }
    assert metrics["big"]["delta"] == "-inf" and metrics["big"]["relative"] is None
    assert metrics["big"]["better"] == "a"
    assert metrics["same"]["delta"] == 0.0 and metrics["same"]["better"] is None
    assert metrics["low"]["delta"] == 0.0 and metrics["low"]["better"] is None

    md = gitml(extreme_runs, "diff", "a", "b", "--no-code", "--md").stdout
    assert "| loss | inf | 0.5 | -inf | - | b better (min) |" in md
    assert "| big | 1e+308 | -1e+308 | -inf | - | a better (max) |" in md
    assert "| same | inf | inf | 0 | +0.00% |  |" in md
    assert "nan" not in md


finite_or_infinite = st.floats(allow_nan=False)


@given(finite_or_infinite, finite_or_infinite, st.sampled_from(["min", "max"]))
def test_metric_change_follows_the_values(a, b, goal):
    (change,) = metric_changes({"m": a}, {"m": b}, {"m": goal})
    assert not math.isnan(change.delta)
    if a == b:
        assert change.delta == 0 and change.better is None
    else:
        b_wins = b < a if goal == "min" else b > a
        assert change.better == ("b" if b_wins else "a")
        assert (change.delta > 0) == (b > a)
    if change.relative is not None:
        assert math.isfinite(change.relative)


def test_an_artifact_whose_record_has_no_hash_shows_a_dash():
    """A fetched run's record may list an artifact without its sha256: the diff shows
    '-' for it (slicing the missing hash crashed the view)."""
    from gitml.cli.diff_view import render_text
    from gitml.compare.diff import ArtifactChange, RunDiff
    from gitml.tracking.sides import Side

    diff = RunDiff(Side("first", "0" * 40), Side("second", "1" * 40), compared_records=True)
    diff.artifacts = [ArtifactChange("model.bin", "changed", 3, 4, None, "ab" * 32)]
    assert "  changed  model.bin  3 B → 4 B  (sha256 - → ababababab)" in render_text(diff)
