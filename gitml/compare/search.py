"""The run filter grammar: tokenizer, parser, printer and evaluator; sort keys and
column lists are rules of the same parser.

MLflow's search syntax (`metrics.acc > 0.9 and params.model = 'rf'`, LIKE,
ILIKE, IN, `attributes.*`, backtick-quoted keys) plus `or`, `not` and
parentheses. The parser builds a small tree of frozen dataclasses; `to_text`
prints a tree back so that `parse(to_text(tree)) == tree` for every tree, as
`sort_key_text` and `columns_text` do for sort keys and column lists.

Grammar (keywords are case-insensitive):

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := field op value | field ["not"] "in" "(" value ("," value)* ")"
    field      := kind "." key | attribute
    op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | ["not"] "like" | "ilike"
    sort_key   := ["-" | "+"] field ["asc" | "desc"]     (`gitml ls --sort`, order_by)
    columns    := [field] ("," [field])*                  (`gitml ls --columns`)

A comparison with a key the run lacks is false (so `not` of it is true).
Evaluation reads only `RunSummary` fields, never a git tree.

Parentheses and `not`s nest at most MAX_NESTING deep; a long run of `and`s or `or`s
is walked as a list, so no length of filter exhausts Python's recursion limit.
"""

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gitml.compare.like import like_matcher
from gitml.errors import FilterSyntaxError, InvalidValueError
from gitml.tracking.record import RunSummary

KINDS = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "parameters": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
# attribute name → RunSummary reader; numbers for times, text otherwise
ATTRIBUTES: dict[str, Callable[[RunSummary], object]] = {
    "id": lambda run: run.id,
    "name": lambda run: run.name,
    "status": lambda run: run.status,
    "experiment": lambda run: run.experiment,
    "user": lambda run: run.user,
    "branch": lambda run: run.branch,
    "start_time": lambda run: run.start_ms,
    "end_time": lambda run: run.end_ms,
    "duration": lambda run: run.duration_ms,
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "duration"}
ATTRIBUTE_ALIASES = {
    "run_id": "id",
    "run_name": "name",
    "user_id": "user",
    "experiment_id": "experiment",
    "experiment_name": "experiment",
    "start": "start_time",
    "end": "end_time",
}
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("like", "ilike", "not like")
SET_OPS = ("in", "not in")
_OP_ALIASES = {"==": "=", "<>": "!="}
MAX_NESTING = 100  # parentheses and `not`s, one inside the other
# printed without quotes: dot-separated words, each starting with a letter or '_'
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-/:]*(?:\.[A-Za-z_][A-Za-z0-9_\-/:]*)*\Z")

# tokens


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, quoted_key, number, op, sign, punct, end; bad: what does not lex
    text: str
    value: float | str | FilterSyntaxError | None  # for `bad`: the error saying why
    column: int  # 1-based

    @property
    def end(self) -> int:
        """The 0-based offset just after the token."""
        return self.column - 1 + len(self.text)


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_]))
  | (?P<word>[A-Za-z0-9_][A-Za-z0-9_\-/:]*)
  | (?P<op>==|!=|<>|<=|>=|=|<|>)
  | (?P<sign>[-+])
  | (?P<punct>[().,])
  | (?P<quote>['"`])
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`; a FilterSyntaxError at the first thing that is no token."""
    tokens = list(_scan(text))
    for token in tokens:
        if isinstance(token.value, FilterSyntaxError):  # a `bad` token
            raise token.value
    return tokens


def _scan(text: str) -> Iterator[Token]:
    """Every token of `text`, then `end`. What is no token becomes a `bad` token holding
    the error (an unexpected character; an unclosed quote, to the end of the text), so
    that a column list can say which column holds it."""
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            error = FilterSyntaxError(
                text, position + 1, f"unexpected character {text[position]!r}"
            )
            yield Token("bad", text[position], error, position + 1)
            position += 1
            continue
        kind = match.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        if kind == "quote":
            token = _read_quoted(text, position)
            yield token
            position = token.end
            continue
        if kind == "number":
            yield Token("number", match.group(), float(match.group()), position + 1)
        elif kind != "space":
            yield Token(kind, match.group(), match.group(), position + 1)
        position = match.end()
    yield Token("end", "", None, len(text) + 1)


def _read_quoted(text: str, start: int) -> Token:
    """A quoted string ('…' or "…") or key (`…`); a doubled quote stands for itself."""
    quote = text[start]
    chars = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == quote:
            if text[position + 1 : position + 2] == quote:
                chars.append(quote)
                position += 2
                continue
            kind = "quoted_key" if quote == "`" else "string"
            return Token(kind, text[start : position + 1], "".join(chars), start + 1)
        chars.append(char)
        position += 1
    error = FilterSyntaxError(text, start + 1, f"the quote {quote} opened here is never closed")
    return Token("bad", text[start:], error, start + 1)


# the tree


@dataclass(frozen=True)
class Field:
    kind: str  # metrics | params | tags | attributes
    key: str

    def __str__(self) -> str:
        return field_text(self)


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # one of COMPARISONS, STRING_OPS or SET_OPS
    value: float | str | tuple


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class And:
    left: "Node"
    right: "Node"


@dataclass(frozen=True)
class Or:
    left: "Node"
    right: "Node"


Node = Comparison | Not | And | Or


@dataclass(frozen=True)
class SortKey:
    field: Field
    descending: bool = False


# parsing


def parse_filter(text: str) -> Node | None:
    """The tree of a filter expression; None for an empty one."""
    if not text.strip():
        return None
    parser = _Parser(text)
    node = parser.expression()
    parser.expect_end()
    return node


def parse_field(text: str) -> Field:
    """A single field such as `metrics.acc`, `params.\\`my key\\`` or `status`."""
    parser = _Parser(text)
    field = parser.field()
    parser.expect_end(_END_OF_KEY)
    return field


def parse_sort_key(text: str) -> SortKey:
    """`metrics.loss`, `-metrics.loss`, `metrics.loss DESC`, `start_time ASC`; an
    InvalidValueError about the key (not about a filter) when it does not parse."""
    try:
        return _Parser(text).sort_key()
    except FilterSyntaxError as error:
        raise key_error("sort by", text, _sort_key_spec(text), error) from None


def parse_columns(text: str) -> list[Field]:
    """`params.lr,metrics.loss,name` to fields: the `columns` rule, a field between
    commas (a comma inside quotes or backticks belongs to its key); empty ones are
    skipped. An error names the column that does not parse."""
    fields = []
    for tokens in _split_on_commas(_scan(text)):
        if not tokens:
            continue
        column = text[tokens[0].column - 1 : tokens[-1].end]
        bad = next((t.value for t in tokens if isinstance(t.value, FilterSyntaxError)), None)
        try:
            if bad is not None:
                raise bad
            parser = _Parser(text, [*tokens, Token("end", "", None, tokens[-1].end + 1)])
            fields.append(parser.field())
            parser.expect_end(_END_OF_KEY)
        except FilterSyntaxError as error:
            raise key_error("show column", column, column, error) from None
    if not fields:
        raise InvalidValueError("--columns is empty: name keys, e.g. --columns name,metrics.loss")
    return fields


def _split_on_commas(tokens: Iterator[Token]) -> list[list[Token]]:
    items: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == "punct" and token.text == ",":
            items.append([])
        elif token.kind != "end":
            items[-1].append(token)
    return items


def key_error(purpose: str, text: str, spec: str, error: FilterSyntaxError) -> InvalidValueError:
    """A sort or column key that does not parse, said of a key (not of a filter), with
    how to quote a key that has spaces or other characters (`spec`: the key alone)."""
    message = f"cannot {purpose} {text!r}: {error.reason}"
    kind, dot, key = spec.strip().partition(".")
    key = key.strip().strip("`\"'")
    if dot and kind.lower() in KINDS and KINDS[kind.lower()] != "attributes" and key:
        quoted = "`" + key.replace("`", "``") + "`"
        message += f"; a key with spaces or other characters goes in backticks: {kind}.{quoted}"
    return InvalidValueError(message)


def _sort_key_spec(text: str) -> str:
    """The key of a sort key as typed, without its sign and direction: what to show
    quoted in backticks when it does not parse."""
    spec = text.strip()
    if spec[:1] in ("-", "+"):
        spec = spec[1:]
    words = spec.rsplit(None, 1)
    if len(words) == 2 and words[1].lower() in _DIRECTIONS:
        spec = words[0]
    return spec


_END_OF_KEY = "expected the end of the key"
_DIRECTIONS = ("asc", "desc")


class _Parser:
    def __init__(self, text: str, tokens: list[Token] | None = None):
        self.text = text
        self.tokens = tokenize(text) if tokens is None else tokens
        self.index = 0
        self.depth = 0  # parentheses and `not`s open at this point

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.text.lower() in words

    def error(self, message: str, token: Token | None = None) -> FilterSyntaxError:
        token = token or self.token
        found = "the end" if token.kind == "end" else repr(token.text)
        return FilterSyntaxError(self.text, token.column, f"{message}, found {found}")

    def expect_end(self, message: str = "expected 'and', 'or' or the end of the filter") -> None:
        if self.token.kind != "end":
            raise self.error(message)

    def expression(self) -> Node:
        node = self.conjunction()
        while self.at_keyword("or"):
            self.advance()
            node = Or(node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.negation()
        while self.at_keyword("and"):
            self.advance()
            node = And(node, self.negation())
        return node

    def negation(self) -> Node:
        node: Node
        if self.at_keyword("not"):
            self.enter()
            node = Not(self.negation())
        elif self.token.text == "(" and self.token.kind == "punct":
            self.enter()
            node = self.expression()
            if self.token.text != ")":
                raise self.error("expected ')' to close the parenthesis")
            self.advance()
        else:
            return self.comparison()
        self.depth -= 1
        return node

    def enter(self) -> None:
        """Step past a `not` or `(`, one level deeper."""
        if self.depth == MAX_NESTING:
            raise FilterSyntaxError(
                self.text,
                self.token.column,
                f"parentheses and 'not's nest more than {MAX_NESTING} deep; simplify the filter",
            )
        self.depth += 1
        self.advance()

    def sort_key(self) -> SortKey:
        descending = False
        if self.token.kind == "sign":
            descending = self.advance().text == "-"
        field = self.field()
        if self.at_keyword(*_DIRECTIONS):
            descending ^= self.advance().text.lower() == "desc"
        self.expect_end(_END_OF_KEY)
        return SortKey(field, descending)

    def field(self) -> Field:
        token = self.token
        if token.kind != "word":
            raise self.error("expected a key such as metrics.acc, params.lr or status")
        self.advance()
        name = token.text.lower()
        if self.token.text == "." and self.token.kind == "punct" and name in KINDS:
            self.advance()
            kind = KINDS[name]
            key = self.key()
            if kind == "attributes":
                return Field(kind, self.attribute(key, token))
            return Field(kind, key)
        if name in KINDS:
            raise self.error(f"expected '.' and a key after {token.text!r}")
        return Field("attributes", self.attribute(token.text, token))

    def key(self) -> str:
        """A key after `kind.`: plain words joined by dots, or one quoted key."""
        token = self.token
        if token.kind in ("quoted_key", "string") and isinstance(token.value, str):
            self.advance()
            if not token.value:
                raise self.error("a key cannot be empty", token)
            return token.value
        if token.kind not in ("word", "number"):
            raise self.error("expected a key after '.'")
        parts = [self.advance().text]
        while self.token.text == "." and self.token.kind == "punct":
            self.advance()
            if self.token.kind not in ("word", "number"):
                raise self.error("expected more of the key after '.'")
            parts.append(self.advance().text)
        return ".".join(parts)

    def attribute(self, name: str, token: Token) -> str:
        attribute = ATTRIBUTE_ALIASES.get(name.lower(), name.lower())
        if attribute not in ATTRIBUTES:
            known = ", ".join(sorted(ATTRIBUTES))
            raise FilterSyntaxError(
                self.text,
                token.column,
                f"unknown attribute {name!r} (attributes: {known}; "
                "or use metrics.KEY, params.KEY, tags.KEY)",
            )
        return attribute

    def comparison(self) -> Node:
        field = self.field()
        op_token = self.token
        op = self.operator()
        value = self.value_list() if op in SET_OPS else self.value()
        self.check_types(field, op, value, op_token)
        return Comparison(field, op, value)

    def operator(self) -> str:
        token = self.token
        if token.kind == "op":
            self.advance()
            return _OP_ALIASES.get(token.text, token.text)
        if self.at_keyword("like", "ilike", "in"):
            return self.advance().text.lower()
        if self.at_keyword("not"):
            self.advance()
            if self.at_keyword("like", "in"):
                return "not " + self.advance().text.lower()
            raise self.error("expected LIKE or IN after NOT")
        raise self.error("expected a comparison (=, !=, <, <=, >, >=, LIKE, ILIKE, IN)")

    def value(self) -> float | str:
        token = self.token
        if token.kind in ("number", "string") and isinstance(token.value, float | str):
            self.advance()
            return token.value
        raise self.error("expected a value: a number or a 'quoted string'")

    def value_list(self) -> tuple:
        if self.token.text != "(":
            raise self.error("expected '(' and a list of values after IN")
        self.advance()
        values = [self.value()]
        while self.token.text == ",":
            self.advance()
            values.append(self.value())
        if self.token.text != ")":
            raise self.error("expected ',' or ')' in the list of values")
        self.advance()
        return tuple(values)

    def check_types(self, field: Field, op: str, value, op_token: Token) -> None:
        numeric = field.kind == "metrics" or (
            field.kind == "attributes" and field.key in NUMERIC_ATTRIBUTES
        )
        values = value if isinstance(value, tuple) else (value,)
        if numeric and op in STRING_OPS:
            raise self.error(f"{op.upper()} compares text; {field} is a number", op_token)
        if numeric and any(isinstance(v, str) for v in values):
            raise FilterSyntaxError(
                self.text, op_token.column, f"{field} is a number: compare it with a number"
            )
        if op in STRING_OPS and not isinstance(value, str):
            raise self.error(f"{op.upper()} needs a 'quoted pattern'", op_token)


# printing


def field_text(field: Field) -> str:
    key = field.key
    if not _PLAIN_KEY.match(key):
        key = "`" + key.replace("`", "``") + "`"
    return f"{field.kind}.{key}"


def sort_key_text(key: SortKey) -> str:
    """`-metrics.loss` or `params.lr`; `parse_sort_key` inverts it."""
    return ("-" if key.descending else "") + field_text(key.field)


def columns_text(fields: list[Field]) -> str:
    """`name,metrics.loss`; `parse_columns` inverts it."""
    return ",".join(field_text(field) for field in fields)


def _value_text(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_value_text(v) for v in value) + ")"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(float(value))


_PRECEDENCE = {Or: 1, And: 2, Not: 3, Comparison: 4}


def to_text(node: Node | None) -> str:
    """The canonical text of a tree; it parses back to an equal tree."""
    if node is None:
        return ""
    if isinstance(node, Comparison):
        op = node.op.upper() if node.op[0].isalpha() else node.op
        return f"{field_text(node.field)} {op} {_value_text(node.value)}"
    if isinstance(node, Not):
        return "not " + _wrap(node.operand, _PRECEDENCE[Not])
    word = "and" if isinstance(node, And) else "or"
    level = _PRECEDENCE[type(node)]
    # left-associative: a right operand of the same level needs parentheses; a left one
    # of the same kind continues the chain (walked in a loop: chains can be long)
    rights = []
    left: Node = node
    while isinstance(left, And | Or) and type(left) is type(node):
        rights.append(left.right)
        left = left.left
    parts = [_wrap(left, level)] + [_wrap(right, level + 1) for right in reversed(rights)]
    return f" {word} ".join(parts)


def _wrap(node: Node, level: int) -> str:
    text = to_text(node)
    return f"({text})" if _PRECEDENCE[type(node)] < level else text


# evaluation


Predicate = Callable[[RunSummary], bool]


def compile_filter(node: Node | None) -> Predicate:
    """A fast predicate for a tree (closures built once, applied to many runs)."""
    if node is None:
        return lambda run: True
    if isinstance(node, Not):
        inner = compile_filter(node.operand)
        return lambda run: not inner(run)
    if isinstance(node, And):
        parts = [compile_filter(operand) for operand in chain(node, And)]
        return lambda run: all(part(run) for part in parts)
    if isinstance(node, Or):
        parts = [compile_filter(operand) for operand in chain(node, Or)]
        return lambda run: any(part(run) for part in parts)
    return _compile_comparison(node)


def chain(node: Node, kind: type[And] | type[Or]) -> list[Node]:
    """The operands of a chain of `kind` nodes (And or Or), left to right, in a loop."""
    operands, pending = [], [node]
    while pending:
        current = pending.pop()
        if isinstance(current, kind):
            pending += [current.right, current.left]
        else:
            operands.append(current)
    return operands


def value_getter(field: Field) -> Callable[[RunSummary], object]:
    """Reads a field of a run; None when the run lacks it."""
    if field.kind == "attributes":
        return ATTRIBUTES[field.key]
    key = field.key
    if field.kind == "metrics":
        return lambda run: run.metrics.get(key)
    if field.kind == "params":
        return lambda run: run.params.get(key)
    return lambda run: run.tags.get(key)


def _compile_comparison(node: Comparison) -> Predicate:
    get = value_getter(node.field)
    expected = node.value
    if node.field == Field("attributes", "status"):  # MLflow writes 'FINISHED'
        expected = _lower(expected)
    test = _value_test(node.op, expected)

    def predicate(run: RunSummary) -> bool:
        value = get(run)
        return value is not None and test(value)

    return predicate


def _value_test(op: str, expected) -> Callable[[object], bool]:
    if op in STRING_OPS:
        matches = like_matcher(expected, ignore_case=op == "ilike")
        if op == "not like":
            return lambda value: not matches(str(value))
        return lambda value: matches(str(value))
    if op in SET_OPS:
        tests = [_value_test("=", v) for v in expected]
        if op == "in":
            return lambda value: any(t(value) for t in tests)
        return lambda value: not any(t(value) for t in tests)
    compare = _OPERATORS[op]
    if isinstance(expected, str):
        return lambda value: compare(str(value), expected)

    def numeric(value) -> bool:
        number = _as_number(value)
        return number is not None and compare(number, expected)

    return numeric


def _lower(value):
    if isinstance(value, tuple):
        return tuple(_lower(v) for v in value)
    return value.lower() if isinstance(value, str) else value


_OPERATORS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _as_number(value) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) and str(value).lower() != "nan" else number
