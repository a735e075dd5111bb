"""Linear scikit-learn models load and predict with numpy alone, exactly as scikit-learn."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gitml
from gitml.errors import ModelInputError

COLUMNS = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(120, 6)), columns=COLUMNS)
    return X, rng.normal(size=(30, 6))


def _binary(X):
    return (X["f0"] + X["f1"] > 0).astype(int)


def _three_classes(X):
    return np.array(["low", "mid", "high"])[np.digitize(X["f2"], [-0.4, 0.4])]


@pytest.mark.parametrize(
    ("make", "target", "predict_fn"),
    [
        (LogisticRegression, _binary, "predict"),
        (LogisticRegression, _binary, "predict_proba"),
        (LogisticRegression, _three_classes, "predict"),
        (LogisticRegression, _three_classes, "predict_proba"),
        (LinearRegression, lambda X: 2 * X["f3"] - X["f4"] + 0.5, "predict"),
        (Ridge, lambda X: X["f5"], "predict"),
    ],
)
def test_numbers_predict_what_scikit_learn_predicts(tmp_path, table, make, target, predict_fn):
    X, rows = table
    model = make().fit(X, target(X))
    gitml.save_model(model, tmp_path / "m", predict_fn=predict_fn)

    assert (tmp_path / "m" / "linear.npz").is_file()
    loaded = gitml.load_model(tmp_path / "m")
    ours = loaded.predict(pd.DataFrame(rows, columns=COLUMNS))
    theirs = getattr(model, predict_fn)(pd.DataFrame(rows, columns=COLUMNS))
    if np.asarray(theirs).dtype.kind == "f":
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    else:
        assert list(ours) == list(theirs)
    assert type(loaded.unwrap()) is make


def test_a_pipeline_keeps_the_pickled_path(tmp_path, table):
    X, rows = table
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, _binary(X))

    gitml.save_model(model, tmp_path / "m")

    assert not (tmp_path / "m" / "linear.npz").exists()
    loaded = gitml.load_model(tmp_path / "m")
    assert list(loaded.predict(pd.DataFrame(rows, columns=COLUMNS))) == list(
        model.predict(pd.DataFrame(rows, columns=COLUMNS))
    )


def test_loading_and_predicting_import_no_scikit_learn(tmp_path, table):
    X, rows = table
    gitml.save_model(LogisticRegression().fit(X, _binary(X)), tmp_path / "m")
    script = (
        "import sys, gitml\n"
        f"m = gitml.load_model({str(tmp_path / 'm')!r})\n"
        f"print(list(m.predict({rows[:4].tolist()!r})))\n"
        "print(sorted(k for k in ('sklearn', 'scipy') if k in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()

    expected = (
        LogisticRegression().fit(X, _binary(X)).predict(pd.DataFrame(rows[:4], columns=COLUMNS))
    )
    assert out == [str(list(expected)), "[]"]


def test_columns_are_taken_by_name_and_a_missing_one_is_named(tmp_path, table):
    X, rows = table
    model = LinearRegression().fit(X, X["f0"] - 3 * X["f5"])
    gitml.save_model(model, tmp_path / "m")
    loaded = gitml.load_model(tmp_path / "m")
    frame = pd.DataFrame(rows, columns=COLUMNS)

    shuffled = frame[list(reversed(COLUMNS))]
    np.testing.assert_allclose(loaded.predict(shuffled), model.predict(frame))
    with pytest.raises(ModelInputError, match="f5"):
        loaded.predict(frame.drop(columns=["f5"]))


@pytest.mark.parametrize(("value", "found"), [(np.nan, "NaN"), (np.inf, "infinity")])
def test_nan_and_infinity_are_refused_as_scikit_learn_refuses_them(tmp_path, table, value, found):
    X, rows = table
    model = LogisticRegression().fit(X, _binary(X))
    gitml.save_model(model, tmp_path / "m")
    bad = pd.DataFrame(rows[:2], columns=COLUMNS)
    bad.iloc[1, 3] = value

    with pytest.raises(ValueError):
        model.predict(bad)
    with pytest.raises(ModelInputError, match=f"the input contains {found}"):
        gitml.load_model(tmp_path / "m").predict(bad)
