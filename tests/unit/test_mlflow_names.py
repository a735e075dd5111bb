"""MLflow's model names, stages and aliases as gitml registry names (no mlflow needed)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.errors import InvalidValueError, ModelNotFoundError
from gitml.mlflow_plugin.names import (
    logged_model_id,
    model_name,
    parse_logged_model_id,
    stage_name,
)
from gitml.registry.tags import is_valid_name


@pytest.mark.parametrize(
    ("mlflow", "gitml"),
    [
        ("Wine Model", "wine-model"),
        ("wine_model", "wine-model"),
        ("ElasticnetWineModel", "elasticnetwinemodel"),
        ("sk-learn-random-forest-reg-model", "sk-learn-random-forest-reg-model"),
        ("  team/Classifier v2!", "team/classifier-v2"),
    ],
)
def test_names_are_mapped_to_the_registry_grammar(mlflow, gitml):
    assert model_name(mlflow) == gitml


@pytest.mark.parametrize("mlflow", ["2024 model", "x", "___", "", "a" * 101, "é"])
def test_a_name_the_grammar_still_refuses_is_refused_with_the_rule(mlflow):
    with pytest.raises(InvalidValueError, match="cannot be a gitml model name.*lowercase letters"):
        model_name(mlflow)


@given(st.text(max_size=120))
def test_a_mapped_name_is_valid_and_maps_to_itself(text):
    try:
        mapped = model_name(text)
    except InvalidValueError:
        return
    assert is_valid_name(mapped) and model_name(mapped) == mapped


def test_stages_and_aliases_are_case_insensitive():
    assert stage_name("Production") == stage_name("PRODUCTION") == "production"
    assert stage_name("Champion") == "champion"
    with pytest.raises(InvalidValueError, match="cannot be a gitml stage"):
        stage_name("no spaces")


@given(
    folder=st.text(
        st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=30
    ).filter(
        lambda name: "/" not in name and name not in (".", "..") and ".git" not in name.lower()
    )
)
def test_logged_model_ids_round_trip(folder):
    run_id = "01j9zq8m4x7c2v5b3n6k8p0r1s"
    assert parse_logged_model_id(logged_model_id(run_id, folder)) == (run_id, folder)


@pytest.mark.parametrize(
    "text",
    ["m-", "model", "m-01j9zq8m4x7c2v5b3n6k8p0r1s-zz", "m-01j9zq8m4x7c2v5b3n6k8p0r1s-",
     "m-../etc-6d", f"m-01j9zq8m4x7c2v5b3n6k8p0r1s-{b'../x'.hex()}",
     "x-01j9zq8m4x7c2v5b3n6k8p0r1s-6d"],
)  # fmt: skip
def test_what_is_no_logged_model_id_is_not_found(text):
    with pytest.raises(ModelNotFoundError, match="no logged model has the id"):
        parse_logged_model_id(text)
