"""Selecting runs through the run index: a filter tree and sort keys translated to SQL
over its tables (`gitml.tracking.index`), `--limit` pushed down with them.

One grammar, one evaluator: the filter is parsed once (`gitml.compare.search`) and
the SQL only narrows; unless it was exact, every run it yields is then tested by the
evaluator's predicate. Each node translates to a condition that is either exact (it
selects the runs the predicate keeps: property-tested in tests/unit/test_query_sql.py)
or none at all (LIKE and ILIKE, a number compared with a text attribute, a filter of
more than MAX_PUSHED comparisons), and a node holding an inexact one is inexact in
turn (`not`, `or`) or keeps only its exact parts (`and`), so the SQL selects a
superset of the matches whatever the filter. Sort keys on params, metrics, tags and
the numeric attributes become ORDER BY terms that rank exactly as
`gitml.compare.sorting` does (numbers, then text, then missing; ties newest first); a
sort by a text attribute is done in Python on the runs the SQL selected. `--limit`
becomes LIMIT when the filter is exact and the order is SQL's, else reading stops at
the limit's last match; sorted by one metric, runs are read in the order of that
metric's index and the reading stops at the limit (`_top_by_metric`).

Every statement is built of constant fragments; keys and values are parameters.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass

from gitml.compare.search import (
    ATTRIBUTES,
    COMPARISONS,
    And,
    Comparison,
    Field,
    Node,
    Not,
    Or,
    Predicate,
    SortKey,
    chain,
    compile_filter,
    field_text,
    parse_filter,
    parse_sort_key,
)
from gitml.compare.sorting import RunQuery, sort_runs
from gitml.errors import UnknownKeyError
from gitml.store.repository import Repository
from gitml.tracking.catalog import running_runs
from gitml.tracking.index import KEY_TABLES, RunIndex, using_index
from gitml.tracking.record import RunSummary, summary_from_json

MAX_PUSHED = 100  # comparisons; a longer filter is left to the evaluator alone
_NUMERIC_COLUMNS = {"start_time": "r.start_ms", "end_time": "r.end_ms", "duration": "r.duration_ms"}
_TEXT_COLUMNS = {
    "id": "r.id",
    "name": "r.name",
    "status": "r.status",
    "experiment": "r.experiment",
    "user": "r.user",
    "branch": "r.branch",  # NULL: not known (see RunSummary.branch)
}
_NUMBER_TESTS = {  # numeric comparisons of a key's `num` (NaN: `nan` = 1, num NULL)
    "=": "num = ?",
    "!=": "(num != ? OR nan = 1)",
    "<": "num < ?",
    "<=": "num <= ?",
    ">": "num > ?",
    ">=": "num >= ?",
}
assert set(_NUMBER_TESTS) == set(COMPARISONS)


@dataclass(frozen=True)
class Part:
    """A condition on `runs r`: its SQL (None: no condition), values, and whether it
    selects exactly the runs the predicate does (else: at least those)."""

    sql: str | None
    values: tuple = ()
    exact: bool = True


_ANY = Part(None, (), False)


def filter_sql(node: Node | None, correlated: bool = False) -> Part:
    """The SQL condition of a filter tree (see the module's docstring). A key's test is
    `r.rid IN (…)`, a list SQLite builds once, or with `correlated`, `EXISTS (…)`
    looked up run by run (for a query that reads runs in a metric's order and stops
    at its limit)."""
    if node is None:
        return Part(None)
    if _comparisons(node) > MAX_PUSHED:
        return _ANY
    return _node(node, correlated)


def _comparisons(node: Node) -> int:
    count, pending = 0, [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Comparison):
            count += 1
        elif isinstance(current, Not):
            pending.append(current.operand)
        else:
            pending += [current.left, current.right]
    return count


def _node(node: Node, correlated: bool) -> Part:
    if isinstance(node, Comparison):
        return _comparison(node, correlated)
    if isinstance(node, Not):
        inner = _node(node.operand, correlated)
        if not inner.exact or inner.sql is None:
            return _ANY
        return Part(f"NOT ({inner.sql})", inner.values)
    kind = And if isinstance(node, And) else Or
    parts = [_node(operand, correlated) for operand in chain(node, kind)]
    exact = all(part.exact for part in parts)
    if kind is Or and any(part.sql is None for part in parts):
        return _ANY
    kept = [part for part in parts if part.sql is not None]
    if not kept:
        return Part(None, (), exact)
    word = " AND " if kind is And else " OR "
    values = tuple(value for part in kept for value in part.values)
    return Part(word.join(f"({part.sql})" for part in kept), values, exact)


def _comparison(node: Comparison, correlated: bool) -> Part:
    field, op = node.field, node.op
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if op not in COMPARISONS and op not in ("in", "not in"):
        return _ANY  # LIKE, ILIKE: the evaluator's matcher alone
    if field.kind == "attributes":
        return _attribute(field.key, op, values)
    table = KEY_TABLES[field.kind]
    texts = tuple(value for value in values if isinstance(value, str))
    numbers = tuple(float(value) for value in values if not isinstance(value, str))
    if op in COMPARISONS:
        test = f"value {op} ?" if texts else _NUMBER_TESTS[op]
        return _has_key(table, field.key, test, values, correlated)
    tests: list[str] = []
    tested: tuple = ()
    if texts:
        tests.append(f"value IN ({_marks(texts)})")
        tested += texts
    if numbers:
        tests.append(f"coalesce(num IN ({_marks(numbers)}), 0)")
        tested += numbers
    match = " OR ".join(tests)
    test = match if op == "in" else f"NOT ({match})"
    return _has_key(table, field.key, test, tested, correlated)


def _has_key(table: str, key: str, test: str, values: tuple, correlated: bool) -> Part:
    """Runs having `key` in `table` with a value that passes `test`."""
    if correlated:
        sql = f"EXISTS (SELECT 1 FROM {table} WHERE run = r.rid AND key = ? AND ({test}))"
    else:
        sql = f"r.rid IN (SELECT run FROM {table} WHERE key = ? AND ({test}))"
    return Part(sql, (key, *values))


def _attribute(name: str, op: str, values: tuple) -> Part:
    if name in _NUMERIC_COLUMNS:  # the parser lets only numbers reach these
        column = _NUMERIC_COLUMNS[name]
        numbers = tuple(float(value) for value in values)
        if op in COMPARISONS:
            test = f"{column} {op} ?"
        else:
            test = f"{column} {op.upper()} ({_marks(numbers)})"
        return Part(f"{column} IS NOT NULL AND {test}", numbers)
    if not all(isinstance(value, str) for value in values):
        return _ANY  # a text attribute read as a number: the evaluator alone
    if name == "status":  # as the evaluator: MLflow writes 'FINISHED'
        values = tuple(value.lower() for value in values)
    column = _TEXT_COLUMNS[name]
    # a run without the value matches no comparison, negated or not (as the evaluator)
    if op in COMPARISONS:
        return Part(f"{column} IS NOT NULL AND {column} {op} ?", values)
    return Part(f"{column} IS NOT NULL AND {column} {op.upper()} ({_marks(values)})", values)


def _marks(values: tuple) -> str:
    return ",".join("?" * len(values))


# sorting


MAX_ORDER_JOINS = 48  # sort keys the query joins (SQLite: 64 tables at most, runs included)


@dataclass(frozen=True)
class Order:
    """LEFT JOINs (with their values) and ORDER BY terms ranking runs as
    `gitml.compare.sorting.sort_runs` does; None where SQL cannot (text attributes)."""

    joins: str
    values: tuple
    terms: str


def order_sql(keys: list[SortKey]) -> Order | None:
    """A key given again is left out (runs it ties on were tied on it by its first
    place); past MAX_ORDER_JOINS keys, None: SQLite joins at most 64 tables."""
    joins: list[str] = []
    values: list[str] = []
    terms: list[str] = []
    seen: set[tuple[str, str]] = set()
    for number, key in enumerate(keys):
        field, direction = key.field, "DESC" if key.descending else "ASC"
        if (field.kind, field.key) in seen:
            continue
        seen.add((field.kind, field.key))
        if field.kind == "attributes":
            column = _NUMERIC_COLUMNS.get(field.key)
            if column is None:
                return None
            terms += [f"{column} IS NULL", f"{column} {direction}"]
            continue
        if len(joins) == MAX_ORDER_JOINS:
            return None
        alias = f"s{number}"
        table = KEY_TABLES[field.kind]
        joins.append(f"LEFT JOIN {table} {alias} ON {alias}.run = r.rid AND {alias}.key = ?")
        values.append(field.key)
        if field.kind == "metrics":  # numbers; NaN and absent are missing
            terms += [f"{alias}.num IS NULL", f"{alias}.num {direction}"]
            continue
        # numbers first, then text, then missing (absent, or NaN as a number)
        terms += [
            f"CASE WHEN {alias}.num IS NOT NULL THEN 0 "
            f"WHEN {alias}.run IS NULL OR {alias}.nan != 0 THEN 2 ELSE 1 END",
            f"{alias}.num {direction}",
            f"CASE WHEN {alias}.num IS NULL AND {alias}.nan = 0 THEN {alias}.value END {direction}",
        ]
    terms.append("r.id DESC")  # ties: newest first, as the listing they were sorted from
    return Order(" ".join(joins), tuple(values), ", ".join(terms))


# the query


class Listed:
    """A run selected: the JSON text of its summary as the index keeps it
    (`RunSummary.to_json`), read into a RunSummary only when asked, so that listing
    every run as JSON writes the stored text as it is."""

    __slots__ = ("_json", "_run")

    def __init__(self, text: str | None = None, run: RunSummary | None = None):
        self._json = text
        self._run = run

    @property
    def run(self) -> RunSummary:
        if self._run is None:
            assert self._json is not None  # one of the two is always given
            self._run = summary_from_json(json.loads(self._json))
        return self._run

    @property
    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(self.run.to_json(), ensure_ascii=False)
        return self._json


def select_indexed(
    index: RunIndex, query: RunQuery, running: list[RunSummary] | None = None
) -> list[Listed]:
    """What `gitml.compare.sorting.select_runs` selects from every run, taken from
    `index` and the runs in progress `running`."""
    tree = parse_filter(query.filter or "")
    keys = [parse_sort_key(text) for text in query.order_by]
    running = running or []
    check_known([key.field for key in keys], index, running, "sort by")
    predicate = compile_filter(tree)
    condition, where_values, exact = _where(tree, query, correlated=False)
    order = order_sql(keys)
    limit = query.max_results
    if exact and limit is not None and len(keys) == 1 and keys[0].field.kind == "metrics":
        found = _top_by_metric(index, keys[0], tree, query, limit)
        return _with_running(found, running, query, predicate, keys, limit)
    statement = "SELECT r.summary FROM runs r "
    values: tuple = ()
    if order is not None:
        statement += order.joins
        values += order.values
    statement += f" WHERE {condition} ORDER BY {order.terms if order else 'r.id DESC'}"
    values += where_values
    if exact and order is not None and limit is not None:
        statement += " LIMIT ?"
        values += (limit,)
    rows: Iterable[Listed] = map(Listed, index.summary_texts(statement, values))
    if not exact:
        rows = (row for row in rows if predicate(row.run))
    if order is not None and limit is not None:
        rows = _first(rows, limit)
    found = list(rows)
    # without an ORDER BY of its own, SQL's order is only the newest first
    return _with_running(found, running, query, predicate, keys, limit, order is not None)


def _where(tree: Node | None, query: RunQuery, correlated: bool) -> tuple[str, tuple, bool]:
    """The condition selecting the runs of `query` (constant text), its values, and
    whether it is exact."""
    where = [filter_sql(tree, correlated)]
    if query.experiment is not None:
        where.append(Part("r.experiment = ?", (query.experiment,)))
    if query.experiments is not None:
        experiments = tuple(query.experiments)
        where.append(Part(f"r.experiment IN ({_marks(experiments)})", experiments))
    if query.status is not None:
        where.append(Part("r.status = ?", (query.status,)))
    kept = [part for part in where if part.sql is not None]
    condition = " AND ".join(f"({part.sql})" for part in kept) or "1"
    values = tuple(value for part in kept for value in part.values)
    return condition, values, all(part.exact for part in where)


def _top_by_metric(
    index: RunIndex, key: SortKey, tree: Node | None, query: RunQuery, limit: int
) -> list[Listed]:
    """The first `limit` runs by one metric, read in the order of the metric's index
    and stopping there (the filter tested run by run), then, if too few have it, the
    newest of those that lack it: what the general ORDER BY gives, without sorting
    every run that matches."""
    condition, values, _ = _where(tree, query, correlated=True)
    direction = "DESC" if key.descending else "ASC"
    present = (
        "SELECT r.summary FROM metrics s0 CROSS JOIN runs r ON r.rid = s0.run "
        f"WHERE s0.key = ? AND s0.num IS NOT NULL AND ({condition}) "
        f"ORDER BY s0.num {direction}, r.id DESC LIMIT ?"
    )
    found = [Listed(text) for text in index.summary_texts(present, (key.field.key, *values, limit))]
    if len(found) < limit:
        missing = (
            "SELECT r.summary FROM runs r LEFT JOIN metrics s0 ON s0.run = r.rid AND s0.key = ? "
            f"WHERE s0.num IS NULL AND ({condition}) ORDER BY r.id DESC LIMIT ?"
        )
        rest = (key.field.key, *values, limit - len(found))
        found += [Listed(text) for text in index.summary_texts(missing, rest)]
    return found


def _with_running(
    found: list[Listed],
    running: list[RunSummary],
    query: RunQuery,
    predicate: Predicate,
    keys: list[SortKey],
    limit: int | None,
    in_order: bool = True,
) -> list[Listed]:
    """`found` (committed runs, in order when `in_order`) with the runs in progress that
    match, in the query's order."""
    chosen = [Listed(run=run) for run in running if _in_scope(run, query) and predicate(run)]
    if in_order and not chosen:
        return found  # in SQL's order, which is the evaluator's
    found = found + chosen
    found.sort(key=lambda row: row.run.id, reverse=True)
    rank = {id(row.run): row for row in found}
    found = [rank[id(run)] for run in sort_runs([row.run for row in found], keys)]
    return found if limit is None else found[:limit]


def _in_scope(run: RunSummary, query: RunQuery) -> bool:
    return (
        (query.experiment is None or run.experiment == query.experiment)
        and (query.experiments is None or run.experiment in query.experiments)
        and (query.status is None or run.status == query.status)
    )


def _first(rows: Iterable[Listed], count: int) -> list[Listed]:
    found: list[Listed] = []
    for row in rows:
        if len(found) == count:
            break
        found.append(row)
    return found


def find_listed(repo: Repository, query: RunQuery, include_running: bool = True) -> list[Listed]:
    """The runs of `repo` that `query` selects, in its order (see `select_indexed`)."""
    running = running_runs(repo) if include_running else []
    return using_index(repo, lambda index: select_indexed(index, query, running))


def find_runs(repo: Repository, query: RunQuery, include_running: bool = True) -> list[RunSummary]:
    """The summaries of the runs `find_listed` selects."""
    return [row.run for row in find_listed(repo, query, include_running)]


# keys that exist


def check_known(
    fields: list[Field], index: RunIndex, running: list[RunSummary], purpose: str
) -> None:
    """Refuse a param, metric or tag key that no run has (attributes always exist), as
    `gitml.compare.sorting.check_known` does for a list of runs."""
    wanted = [field for field in fields if field.kind != "attributes"]
    if not wanted or (not running and not index.count()):
        return
    for field in wanted:
        if index.has_key(field.kind, field.key):
            continue
        if any(field.key in getattr(run, field.kind) for run in running):
            continue
        raise UnknownKeyError(purpose, field_text(field), known_keys(index, running))


def known_keys(index: RunIndex, running: list[RunSummary]) -> list[str]:
    """Every field some run has, in the grammar's spelling."""
    found: dict[str, None] = {f"attributes.{name}": None for name in ATTRIBUTES}
    for kind in KEY_TABLES:
        keys = dict.fromkeys(index.keys(kind))
        for run in running:
            keys.update(dict.fromkeys(getattr(run, kind)))
        found.update(dict.fromkeys(field_text(Field(kind, key)) for key in keys))
    return list(found)


def check_columns(repo: Repository, fields: list[Field]) -> None:
    """Refuse a column whose param, metric or tag key no run has."""
    running = running_runs(repo)
    using_index(repo, lambda index: check_known(fields, index, running, "show column"))


def count_runs(repo: Repository) -> int:
    """How many runs there are, committed or running."""
    return using_index(repo, RunIndex.count) + len(running_runs(repo))
