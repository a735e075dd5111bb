"""MLflow's run filters and order_by clauses read by gitml's own grammar
(`gitml.compare.search`, a superset of MLflow's), with MLflow's names of run
fields put on gitml's: the tag `mlflow.runName` is the run's name, and an
experiment id compared with `attributes.experiment_id` is its experiment's name.
No mlflow here."""

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
    compile_filter,
    parse_filter,
    parse_sort_key,
)
from gitml.tracking.record import RunSummary

RUN_NAME_TAG = "mlflow.runName"
_NAME = Field("attributes", "name")
_EXPERIMENT = Field("attributes", "experiment")


def run_predicate(
    filter_string: str | None, names_by_id: dict[str, str]
) -> Callable[[RunSummary], bool]:
    """The test of MLflow filter `filter_string` on a run; FilterSyntaxError (saying
    where) when it does not parse."""
    tree = parse_filter(filter_string or "")
    return compile_filter(None if tree is None else _translate(tree, names_by_id))


def sort_keys(order_by: list[str] | None) -> list[SortKey]:
    """MLflow's `order_by` clauses ("metrics.rmse DESC", "start_time") as sort keys."""
    keys = []
    for text in order_by or []:
        key = parse_sort_key(text)
        keys.append(SortKey(_field(key.field), key.descending))
    return keys


def _field(field: Field) -> Field:
    return _NAME if field == Field("tags", RUN_NAME_TAG) else field


def _translate(node: Node, names_by_id: dict[str, str]) -> Node:
    # a long chain of `and`s is a deep tree: walk it with a stack, not by recursion
    if isinstance(node, Comparison):
        field = _field(node.field)
        value = node.value
        if field == _EXPERIMENT:
            value = _experiment_names(value, names_by_id)
        return Comparison(field, node.op, value)
    if isinstance(node, Not):
        return Not(_translate(node.operand, names_by_id))
    kind = type(node)
    operands: list[Node] = []
    pending: list[Node] = [node]
    while pending:
        item = pending.pop()
        if type(item) is kind:
            assert isinstance(item, And | Or)
            pending.extend([item.right, item.left])
        else:
            operands.append(_translate(item, names_by_id))
    result = operands[0]
    for operand in operands[1:]:
        result = kind(result, operand)
    return result


def _experiment_names(value: float | str | tuple, names_by_id: dict[str, str]):
    if isinstance(value, tuple):
        return tuple(_experiment_names(item, names_by_id) for item in value)
    if isinstance(value, str) and value in names_by_id and value not in names_by_id.values():
        return names_by_id[value]
    return value
