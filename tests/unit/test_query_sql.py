"""The SQL a filter and sort keys become (`gitml.compare.query`) against the one
evaluator (`gitml.compare.search`, `gitml.compare.sorting`), on random runs held in an
index in memory: an exact condition selects exactly the runs the predicate keeps, any
other at least those; a whole query selects and orders as `select_runs` does."""

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gitml.compare.query import MAX_PUSHED, filter_sql, order_sql, select_indexed
from gitml.compare.search import (
    COMPARISONS,
    And,
    Comparison,
    Field,
    Not,
    Or,
    SortKey,
    compile_filter,
    parse_filter,
    sort_key_text,
    to_text,
)
from gitml.compare.sorting import RunQuery, select_runs
from gitml.errors import FilterSyntaxError, UnknownKeyError
from gitml.store.repository import Repository
from gitml.tracking.index import memory_index
from gitml.tracking.record import RunSummary

TEXTS = ["", "a", "b", "rf", "0.1", "1e3", " 2 ", "nan", "NaN", "-nan", "inf", "-inf", "1_0"]
TEXTS += ["\u0661\u0662", "10", "2", "a\x00b", "\u00c4", "abc%", "B"]
NUMBERS = [0.0, -0.0, 0.1, 1.0, 2.0, 10.0, 1000.0, -1.0, 12.0, math.inf, -math.inf]
KEYS = ["a", "b", "c"]
TEXT_ATTRIBUTES = ["id", "name", "status", "experiment", "user"]
NUMERIC_ATTRIBUTES = ["start_time", "end_time", "duration"]
NOWHERE = Repository(None, Path("/nonexistent"), Path("/nonexistent"))

texts = st.sampled_from(TEXTS)
numbers = st.sampled_from(NUMBERS)


# Strategies are built once, here: one built inside a draw is validated again at each
# draw, which took most of these tests' time.
STARTS = [0, 5, 1_700_000_000_000]
starts = st.sampled_from(STARTS)
ends = {start: st.sampled_from([None, start, start + 5, start + 1000]) for start in STARTS}
runs_count = st.integers(0, 10)
id_ends = st.sampled_from(["0", "1"])
run_names = st.sampled_from(["alpha", "beta", "123", "1e5", "", "Zeta"])
experiments = st.sampled_from(["main", "x", "10"])
statuses = st.sampled_from(["finished", "failed", "killed", "damaged"])
users = st.sampled_from(["ann", "bob", ""])
keys = st.sampled_from(KEYS)
param_maps = st.dictionaries(keys, texts, max_size=3)
metric_maps = st.dictionaries(keys, st.sampled_from([*NUMBERS, math.nan]), max_size=3)
tag_maps = st.dictionaries(keys, texts, max_size=2)


@st.composite
def run_lists(draw) -> list[RunSummary]:
    runs = []
    for i in range(draw(runs_count)):
        start = draw(starts)
        runs.append(
            RunSummary(
                id=f"01h{i:09d}{draw(id_ends)}",
                name=draw(run_names),
                experiment=draw(experiments),
                status=draw(statuses),
                start_ms=start,
                end_ms=draw(ends[start]),
                user=draw(users),
                params=draw(param_maps),
                metrics=draw(metric_maps),
                tags=draw(tag_maps),
                sha="0" * 40,
            )
        )
    return runs


kinds = st.sampled_from(["params", "tags", "metrics", "attributes"])
attribute_keys = st.sampled_from(TEXT_ATTRIBUTES + NUMERIC_ATTRIBUTES)
field_keys = st.sampled_from([*KEYS, "missing"])
attribute_texts = st.sampled_from(["alpha", "finished", "FAILED", "main", "ann", "", "1e5", "01h"])
# (numeric, attributes) -> the values compared with
plains = {
    (True, False): numbers,
    (True, True): numbers,
    (False, False): st.one_of(numbers, texts),
    (False, True): st.one_of(numbers, attribute_texts),
}
value_lists = {kind: st.lists(plain, min_size=1, max_size=3) for kind, plain in plains.items()}
numeric_ops = st.sampled_from([*COMPARISONS, "in", "not in"])
text_ops = st.sampled_from([*COMPARISONS, "in", "not in", "like"])
like_ops = st.sampled_from(["like", "ilike", "not like"])
like_patterns = st.sampled_from(["a%", "%", "_", "%0%", "A%"])


@st.composite
def comparisons(draw) -> Comparison:
    kind = draw(kinds)
    if kind == "attributes":
        key = draw(attribute_keys)
        numeric = key in NUMERIC_ATTRIBUTES
    else:
        key = draw(field_keys)
        numeric = kind == "metrics"
    field = Field(kind, key)
    values = (numeric, kind == "attributes")
    op = draw(numeric_ops if numeric else text_ops)
    if op == "like":
        return Comparison(field, draw(like_ops), draw(like_patterns))
    if op in ("in", "not in"):
        return Comparison(field, op, tuple(draw(value_lists[values])))
    return Comparison(field, op, draw(plains[values]))


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)
    ),
    max_leaves=6,
)
sort_keys = st.builds(
    SortKey,
    st.one_of(
        st.builds(Field, st.sampled_from(["params", "tags", "metrics"]), st.sampled_from(KEYS)),
        st.builds(Field, st.just("attributes"), st.sampled_from(NUMERIC_ATTRIBUTES + ["name"])),
    ),
    st.booleans(),
)


def indexed(runs: list[RunSummary]):
    index = memory_index(NOWHERE)
    with index.writing():
        for run in runs:
            index.record(run)
    return index


@pytest.mark.slow  # 200 examples
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_lists(), st.lists(filters, min_size=1, max_size=4))
def test_an_exact_condition_selects_what_the_evaluator_keeps(runs, trees):
    index = indexed(runs)
    for tree, correlated in ((tree, c) for tree in trees for c in (False, True)):
        part = filter_sql(tree, correlated)
        kept = {run.id for run in runs if compile_filter(tree)(run)}
        condition = part.sql or "1"
        rows = index.db.execute(f"SELECT r.id FROM runs r WHERE {condition}", part.values)
        selected = {run_id for (run_id,) in rows}
        if part.exact:
            assert selected == kept, to_text(tree)
        else:
            assert selected >= kept, to_text(tree)
    index.close()


@pytest.mark.slow  # 200 examples
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run_lists(),
    st.one_of(st.none(), filters),
    st.lists(sort_keys, max_size=2),
    st.one_of(st.none(), st.integers(0, 4)),  # one metric and a limit: read in its order
    st.sampled_from([None, "main"]),
)
def test_a_query_selects_and_orders_as_select_runs(runs, tree, keys, limit, experiment):
    text = to_text(tree)
    try:
        assume(parse_filter(text) == tree)
    except FilterSyntaxError:
        assume(False)  # an infinity has no text
    query = RunQuery(text, [sort_key_text(key) for key in keys], experiment, None, limit)
    newest_first = sorted(runs, key=lambda run: run.id, reverse=True)
    index = indexed(runs)
    try:
        expected = [run.id for run in select_runs(newest_first, query)]
    except UnknownKeyError as error:
        with pytest.raises(UnknownKeyError) as raised:
            select_indexed(index, query)
        assert _said(raised.value) == _said(error)  # the keys listed in another order
    else:
        assert [row.run.id for row in select_indexed(index, query)] == expected
    index.close()


def _said(error: UnknownKeyError) -> tuple[str, list[str]]:
    text, known = str(error).split(" (known keys: ")
    return text, sorted(known.removesuffix(")").split(", "))


def test_only_sort_keys_sql_ranks_exactly_become_sql():
    assert order_sql([SortKey(Field("attributes", "name"))]) is None
    order = order_sql([SortKey(Field("metrics", "loss"), True)])
    assert order is not None and order.values == ("loss",) and "s0.num DESC" in order.terms


def test_like_and_long_filters_are_left_to_the_evaluator():
    assert not filter_sql(parse_filter("params.a LIKE 'x%'")).exact
    assert filter_sql(parse_filter("params.a LIKE 'x%' and params.b = 'y'")).sql is not None
    long = " or ".join(["params.a = 'x'"] * (MAX_PUSHED + 1))
    assert filter_sql(parse_filter(long)) == filter_sql(parse_filter("params.a LIKE 'x'"))
