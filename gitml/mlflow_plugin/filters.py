"""MLflow's run filters and order_by clauses read by gitml's own grammar
(`gitml.compare.search`, a superset of MLflow's) and written back in it, with
MLflow's names of run fields put on gitml's: the tag `mlflow.runName` is the run's
name, and an experiment id compared with `attributes.experiment_id` is its
experiment's name. The result is a `gitml ls --filter` / `--sort` text, which the
run index answers in SQL (`gitml.compare.query`). No mlflow here."""

from __future__ import annotations

from collections.abc import Callable

from gitml.compare.search import (
    And,
    Comparison,
    Field,
    Node,
    Not,
    Or,
    SortKey,
    parse_filter,
    parse_sort_key,
    sort_key_text,
    to_text,
)

RUN_NAME_TAG = "mlflow.runName"
_NAME = Field("attributes", "name")
_EXPERIMENT = Field("attributes", "experiment")


def gitml_filter(filter_string: str | None, name_of: Callable[[str], str | None]) -> str:
    """MLflow filter `filter_string` as gitml's filter text; FilterSyntaxError (saying
    where) when it does not parse. `name_of` names the experiment of an id (None for
    an id no experiment has)."""
    tree = parse_filter(filter_string or "")
    return "" if tree is None else to_text(_translate(tree, name_of))


def gitml_sort_keys(order_by: list[str] | None) -> list[SortKey]:
    """MLflow's `order_by` clauses ("metrics.rmse DESC", "start_time") as sort keys."""
    keys = []
    for text in order_by or []:
        key = parse_sort_key(text)
        keys.append(SortKey(_field(key.field), key.descending))
    return keys


def sort_texts(keys: list[SortKey]) -> list[str]:
    return [sort_key_text(key) for key in keys]


def _field(field: Field) -> Field:
    return _NAME if field == Field("tags", RUN_NAME_TAG) else field


def _translate(node: Node, name_of: Callable[[str], str | None]) -> Node:
    # a long chain of `and`s is a deep tree: walk it with a stack, not by recursion
    if isinstance(node, Comparison):
        field = _field(node.field)
        value = node.value
        if field == _EXPERIMENT:
            value = _experiment_names(value, name_of)
        return Comparison(field, node.op, value)
    if isinstance(node, Not):
        return Not(_translate(node.operand, name_of))
    kind = type(node)
    operands: list[Node] = []
    pending: list[Node] = [node]
    while pending:
        item = pending.pop()
        if type(item) is kind:
            assert isinstance(item, And | Or)
            pending.extend([item.right, item.left])
        else:
            operands.append(_translate(item, name_of))
    result = operands[0]
    for operand in operands[1:]:
        result = kind(result, operand)
    return result


def _experiment_names(value: float | str | tuple, name_of: Callable[[str], str | None]):
    """An experiment id written where gitml compares names becomes the name; a value
    that is no id (a name, as gitml writes it) stays."""
    if isinstance(value, tuple):
        return tuple(_experiment_names(item, name_of) for item in value)
    if isinstance(value, str) and value.isdigit():
        return name_of(value) or value
    return value
