"""MLflow's model names, stages and aliases as gitml registry names (no mlflow needed)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.errors import InvalidValueError
from gitml.mlflow_plugin.names import model_name, stage_name
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
