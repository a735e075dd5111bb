"""MLflow's run filters and order_by clauses read by gitml's own grammar
(`gitml.compare.search`, a superset of MLflow's) and written back in it, with
MLflow's names of run fields put on gitml's: the tag `mlflow.runName` is the run's
name, and an experiment id compared with `attributes.experiment_id` is every name
its experiment files runs under (a renamed experiment's runs keep the name they were
filed under). The result is a `gitml ls --filter` / `--sort` text, which the
run index answers in SQL (`gitml.compare.query`). No mlflow here."""

from __future__ import annotations

from collections.abc import Callable

from gitml.compare.search import (
    SET_OPS,
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
from gitml.tracking.record import DAMAGED, is_experiment_id

RUN_NAME_TAG = "mlflow.runName"
_NAME = Field("attributes", "name")
_EXPERIMENT = Field("attributes", "experiment")


NamesOf = Callable[[str], tuple[str, ...]]  # an experiment id → its runs' names, oldest first


def gitml_filter(filter_string: str | None, names_of: NamesOf) -> str:
    """MLflow filter `filter_string` as gitml's filter text; FilterSyntaxError (saying
    where) when it does not parse. `names_of` gives the names the runs of an experiment
    id are filed under, the current one last (none for an id no experiment has)."""
    tree = parse_filter(filter_string or "")
    return "" if tree is None else to_text(_translate(tree, names_of))


def without_damaged(filter_text: str | None) -> str:
    """Gitml filter `filter_text` keeping only the runs gitml can read: a DAMAGED run
    (a commit whose record does not parse) is no MLflow run. The index answers it in
    SQL, so a page of results is cut there too."""
    readable = to_text(Comparison(Field("attributes", "status"), "!=", DAMAGED))
    return f"({filter_text}) and {readable}" if filter_text else readable


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


def _translate(node: Node, names_of: NamesOf) -> Node:
    # a long chain of `and`s is a deep tree: walk it with a stack, not by recursion
    if isinstance(node, Comparison):
        field = _field(node.field)
        if field == _EXPERIMENT:
            return _experiment_comparison(node.op, node.value, names_of)
        return Comparison(field, node.op, node.value)
    if isinstance(node, Not):
        return Not(_translate(node.operand, names_of))
    kind = type(node)
    operands: list[Node] = []
    pending: list[Node] = [node]
    while pending:
        item = pending.pop()
        if type(item) is kind:
            assert isinstance(item, And | Or)
            pending.extend([item.right, item.left])
        else:
            operands.append(_translate(item, names_of))
    result = operands[0]
    for operand in operands[1:]:
        result = kind(result, operand)
    return result


def _experiment_comparison(op: str, value: float | str | tuple, names_of: NamesOf) -> Comparison:
    """An experiment compared by id, where gitml compares names: `=`, `!=`, `IN` and
    `NOT IN` take every name of each id's experiment (one name stays `=` or `!=`);
    another comparison (LIKE, `<`) its current name. A value that is no id (a name,
    as gitml writes it; an id no experiment has) stays as it is."""
    values = value if isinstance(value, tuple) else (value,)
    named = [_names(item, names_of) for item in values]
    if op not in ("=", "!=", *SET_OPS):
        return Comparison(_EXPERIMENT, op, named[0][-1])
    names = tuple(dict.fromkeys(name for found in named for name in found))
    if op in ("=", "!=") and len(names) == 1:
        return Comparison(_EXPERIMENT, op, names[0])
    return Comparison(_EXPERIMENT, "in" if op in ("=", "in") else "not in", names)


def _names(value: float | str, names_of: NamesOf) -> tuple:
    if isinstance(value, str) and is_experiment_id(value):
        return names_of(value) or (value,)
    return (value,)
