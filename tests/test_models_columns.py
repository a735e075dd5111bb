"""Models fitted on a table but saved without a signature match input columns by name,
and refuse a missing one in the signature's words, whatever path predicts."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gitml
from gitml.errors import ModelInputError
from tests.utils import gitml as gitml_cli

MISSING_B = "input column 'b' is missing; the model's signature expects: a, b, c"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])


@pytest.fixture(params=["linear", "pipeline"])
def unsigned(request, tmp_path, table):
    """(folder, estimator): a linear model (numpy path) or a pipeline (scikit-learn path)."""
    if request.param == "linear":
        model = LinearRegression()
    else:
        model = make_pipeline(StandardScaler(), LinearRegression())
    model.fit(table, 2 * table["a"] - table["c"])
    folder = tmp_path / "model"
    gitml.save_model(model, folder)
    assert gitml.load_model(folder).signature is None
    assert (folder / "linear.npz").is_file() == (request.param == "linear")
    return folder, model


def test_a_missing_column_is_refused_in_the_signature_s_words(unsigned, table):
    folder, _ = unsigned
    model = gitml.load_model(folder)
    with pytest.raises(ModelInputError) as refused:
        model.predict(table.drop(columns=["b"]))
    assert str(refused.value) == MISSING_B
    with pytest.raises(ModelInputError) as refused:
        model.predict(table[["c"]])
    assert str(refused.value) == (
        "input column 'a' is missing (and 'b'); the model's signature expects: a, b, c"
    )


def test_gitml_predict_says_the_same(unsigned, table, tmp_path):
    folder, _ = unsigned
    table.drop(columns=["b"]).to_csv(tmp_path / "input.csv", index=False)
    result = gitml_cli(tmp_path, "predict", str(folder), "-i", "input.csv", check=False)
    assert result.returncode == 1
    assert result.stderr == f"gitml: error: {MISSING_B}\n"


def test_columns_are_matched_by_name(unsigned, table):
    folder, estimator = unsigned
    shuffled = table[["c", "a", "b"]].assign(extra=1.0)
    predicted = gitml.load_model(folder).predict(shuffled)
    np.testing.assert_allclose(predicted, estimator.predict(table), rtol=1e-9)
