"""The grammar of a sweep's params (gitml/sweeps/space.py): the four forms and fixed
values, written back canonically; parse and format are exact inverses."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitml.errors import InvalidValueError
from gitml.sweeps.space import (
    Choice,
    IntRange,
    Uniform,
    check_command_fields,
    command_fields,
    fill_command,
    format_form,
    parse_assignment,
    parse_form,
    parse_space,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@st.composite
def uniforms(draw):
    log = draw(st.booleans())
    low = draw(finite.filter(lambda x: x > 0) if log else finite)
    high = draw(finite.filter(lambda x: x > low))
    return Uniform(low, high, log)


@st.composite
def int_ranges(draw):
    start = draw(st.integers(-1000, 1000))
    step = draw(st.integers(1, 10))
    stop = draw(st.integers(start + 1, start + 1000))
    return IntRange(start, stop, step)


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
choices = st.lists(words, min_size=1, max_size=6, unique=True).map(lambda v: Choice(tuple(v)))


@given(st.one_of(uniforms(), int_ranges(), choices))
def test_format_then_parse_gives_the_dimension_back(dim):
    assert parse_form(format_form(dim), "-P x") == dim


def test_the_four_forms_as_users_write_them():
    assert parse_form("loguniform(1e-4,1e-1)", "-P lr") == Uniform(1e-4, 1e-1, True)
    assert parse_form(" uniform( 0 , 0.5 ) ", "-P d") == Uniform(0.0, 0.5)
    assert parse_form("choice(3,5,7)", "-P depth") == Choice(("3", "5", "7"))
    assert parse_form("choice('a,b', \"c d\", e)", "-P w") == Choice(("a,b", "c d", "e"))
    assert parse_form("range(0,5)", "-P seed") == IntRange(0, 5)
    assert list(IntRange(0, 10, 3).values) == [0, 3, 6, 9]
    assert format_form(Uniform(1e-4, 0.1, True)) == "loguniform(0.0001, 0.1)"


def test_anything_but_a_call_is_a_fixed_value():
    assert parse_form("10", "-P epochs") == "10"
    assert parse_form("adam", "-P opt") == "adam"
    assert parse_form("a(b", "-P x") == "a(b"  # no closing paren: no call
    space = parse_space({"lr": "uniform(0,1)", "epochs": "3"})
    assert space.fixed == {"epochs": "3"}
    assert space.forms() == {"epochs": "3", "lr": "uniform(0.0, 1.0)"}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("loguniform(1e-4)", "two numbers"),
        ("loguniform(0, 1)", "0 < LOW"),
        ("uniform(1, 0)", "LOW < HIGH"),
        ("uniform(a, 1)", "not a number"),
        ("uniform(nan, 1)", "not a finite number"),
        ("uniform('1', 2)", "not quoted"),
        ("choice()", "at least one"),
        ("choice(1,,2)", "empty argument"),
        ("choice(1, 1)", "twice"),
        ("choice('open)", "not closed"),
        ("range(0, 5, 0)", "positive"),
        ("range(5, 0)", "holds no value"),
        ("range(0.5, 3)", "whole numbers"),
        ("normal(0, 1)", "unknown form normal"),
    ],
)
def test_a_malformed_form_is_one_clear_error(text, problem):
    with pytest.raises(InvalidValueError) as caught:
        parse_form(text, "-P x")
    message = str(caught.value)
    assert message.startswith("-P x: ") and problem in message and "\n" not in message


def test_a_param_name_and_the_assignment_are_checked():
    assert parse_assignment("lr=loguniform(1e-4,1e-1)") == ("lr", "loguniform(1e-4,1e-1)")
    with pytest.raises(InvalidValueError, match="NAME=FORM"):
        parse_assignment("lr")
    with pytest.raises(InvalidValueError, match="a param name"):
        parse_assignment("--lr=1")


def test_a_grid_is_every_combination_and_needs_finite_dimensions():
    space = parse_space({"a": "choice(x, y)", "b": "range(0, 3)", "c": "1"})
    assert space.grid() == [{"a": a, "b": b} for a in ("x", "y") for b in ("0", "1", "2")]
    with pytest.raises(InvalidValueError, match="finite list"):
        parse_space({"lr": "uniform(0, 1)"}).grid()
    with pytest.raises(InvalidValueError, match="over 100,000 points"):
        parse_space({"a": "range(0, 1000)", "b": "range(0, 1000)"}).grid()


def test_command_fields_take_the_trial_values_as_whole_words():
    command = ["python", "train.py", "--lr={lr}", "{opt}", "{{literal}}"]
    assert command_fields(command) == {"lr", "opt"}
    filled = fill_command(command, {"lr": "0.1", "opt": "a b; rm -rf /"})
    assert filled == ["python", "train.py", "--lr=0.1", "a b; rm -rf /", "{literal}"]
    with pytest.raises(InvalidValueError, match=r"\{lrr\}, which is no param"):
        check_command_fields(["python", "--lr", "{lrr}"], {"lr"})


def test_floats_keep_their_shortest_spelling():
    dim = parse_form("uniform(0.1, 0.30000000000000004)", "-P x")
    assert isinstance(dim, Uniform) and dim.high == 0.1 + 0.2
    assert not math.isnan(dim.low)
