// The filter box evaluated in the page, for a keystroke that redraws without asking the
// server: the grammar of `gitml ls --filter` (gitml/compare/search.py) read the same way,
// then tested on the table's column arrays, a compiled test per comparison.
//
// The server stays the authority. Whatever this reader is not certain to decide exactly
// as the server's evaluator does is left to the server (`/api/select`): a filter that does
// not parse (the server says where and why), LIKE and ILIKE, text other than printable
// ASCII in the filter, and, found while testing, a number to read from text that is not
// ASCII or an order of texts that are not. tests/test_ui_pages.py checks both agree.

// Maps, not objects: a word typed ("constructor") never finds what every object inherits
const KINDS = new Map(Object.entries({
  metrics: "metrics", metric: "metrics", params: "params", param: "params", parameters: "params",
  tags: "tags", tag: "tags", attributes: "attributes", attribute: "attributes", attr: "attributes",
  run: "attributes",
}));
const ATTRIBUTES = new Set(["id", "name", "status", "experiment", "user", "branch", "start_time", "end_time", "duration"]);
const NUMERIC_ATTRIBUTES = new Set(["start_time", "end_time", "duration"]);
const ALIASES = new Map(Object.entries({
  run_id: "id", run_name: "name", user_id: "user", experiment_id: "experiment",
  experiment_name: "experiment", start: "start_time", end: "end_time",
}));
const OP_ALIASES = new Map([["==", "="], ["<>", "!="]]);
const MAX_NESTING = 100;
const TOKEN = /(?<space>\s+)|(?<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_]))|(?<word>[A-Za-z0-9_][A-Za-z0-9_\-/:]*)|(?<op>==|!=|<>|<=|>=|=|<|>)|(?<sign>[-+])|(?<punct>[().,])|(?<quote>['"`])/y;
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_\-/:]*(?:\.[A-Za-z_][A-Za-z0-9_\-/:]*)*$/;
// what Python's float() reads of ASCII text, underscores between digits too
const DECIMAL = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const SPECIAL = /^([+-]?)(inf|infinity|nan)$/i;
const PY_SPACE = /^[ \t\n\r\x0b\x0c]+|[ \t\n\r\x0b\x0c]+$/g; // what float() strips
const ASCII = /^[\x00-\x7f]*$/;

/** Thrown where the server must decide. */
class Unsure extends Error {}

/**
 * The test of filter `text` on the table `data`: a function of rows (indexes into the
 * table, in order) giving those that pass as an Int32Array, or null when a value it meets
 * is the server's to read; null at once when the filter is the server's to read.
 */
export function filterFor(text, data) {
  let test;
  try {
    test = compile(parse(text), data.columns, data.count);
  } catch (error) {
    if (error instanceof Unsure) return null;
    throw error;
  }
  return (rows) => {
    const kept = new Int32Array(rows.length);
    let n = 0;
    try {
      for (const i of rows) if (test(i)) kept[n++] = i;
    } catch (error) {
      if (error instanceof Unsure) return null;
      throw error;
    }
    return kept.subarray(0, n);
  };
}

// ---- tokens and tree ---------------------------------------------------------------------------

function tokenize(text) {
  if (!/^[\x20-\x7e\t\n\r]*$/.test(text)) throw new Unsure();
  const tokens = [];
  let position = 0;
  while (position < text.length) {
    TOKEN.lastIndex = position;
    const match = TOKEN.exec(text);
    if (!match) throw new Unsure(); // the server says which character
    const kind = Object.keys(match.groups).find((k) => match.groups[k] !== undefined);
    if (kind === "quote") {
      const token = readQuoted(text, position);
      tokens.push(token);
      position = token.end;
      continue;
    }
    if (kind === "number") tokens.push({ kind, text: match[0], value: Number(match[0]) });
    else if (kind !== "space") tokens.push({ kind, text: match[0], value: match[0] });
    position = TOKEN.lastIndex;
  }
  tokens.push({ kind: "end", text: "", value: null });
  return tokens;
}

function readQuoted(text, start) {
  const quote = text[start];
  let chars = "";
  let position = start + 1;
  while (position < text.length) {
    const char = text[position];
    if (char === quote) {
      if (text[position + 1] === quote) {
        chars += quote;
        position += 2;
        continue;
      }
      return { kind: quote === "`" ? "quoted_key" : "string", text: text.slice(start, position + 1), value: chars, end: position + 1 };
    }
    chars += char;
    position++;
  }
  throw new Unsure(); // never closed
}

function parse(text) {
  const tokens = tokenize(text);
  let index = 0;
  let depth = 0;
  const token = () => tokens[index];
  const advance = () => tokens[index++];
  const atKeyword = (...words) => token().kind === "word" && words.includes(token().text.toLowerCase());
  const isPunct = (char) => token().kind === "punct" && token().text === char;

  // a run of `and`s or `or`s is one node holding a list (no depth however long)
  function expression() {
    const parts = [conjunction()];
    while (atKeyword("or")) {
      advance();
      parts.push(conjunction());
    }
    return parts.length === 1 ? parts[0] : { or: parts };
  }
  function conjunction() {
    const parts = [negation()];
    while (atKeyword("and")) {
      advance();
      parts.push(negation());
    }
    return parts.length === 1 ? parts[0] : { and: parts };
  }
  function negation() {
    let node;
    if (atKeyword("not")) {
      enter();
      node = { not: negation() };
    } else if (isPunct("(")) {
      enter();
      node = expression();
      if (token().text !== ")") throw new Unsure();
      advance();
    } else {
      return comparison();
    }
    depth--;
    return node;
  }
  function enter() {
    if (depth === MAX_NESTING) throw new Unsure();
    depth++;
    advance();
  }
  function field() {
    const first = token();
    if (first.kind !== "word") throw new Unsure();
    advance();
    const name = first.text.toLowerCase();
    if (isPunct(".") && KINDS.has(name)) {
      advance();
      const kind = KINDS.get(name);
      const key = keyText();
      return kind === "attributes" ? { kind, key: attribute(key) } : { kind, key };
    }
    if (KINDS.has(name)) throw new Unsure();
    return { kind: "attributes", key: attribute(first.text) };
  }
  function keyText() {
    const first = token();
    if ((first.kind === "quoted_key" || first.kind === "string") && typeof first.value === "string") {
      advance();
      if (!first.value) throw new Unsure();
      return first.value;
    }
    if (first.kind !== "word" && first.kind !== "number") throw new Unsure();
    const parts = [advance().text];
    while (isPunct(".")) {
      advance();
      if (token().kind !== "word" && token().kind !== "number") throw new Unsure();
      parts.push(advance().text);
    }
    return parts.join(".");
  }
  function attribute(name) {
    const lower = name.toLowerCase();
    const found = ALIASES.get(lower) || lower;
    if (!ATTRIBUTES.has(found)) throw new Unsure();
    return found;
  }
  function comparison() {
    const f = field();
    const op = operator();
    const value = op === "in" || op === "not in" ? valueList() : single();
    const numeric = f.kind === "metrics" || (f.kind === "attributes" && NUMERIC_ATTRIBUTES.has(f.key));
    const values = Array.isArray(value) ? value : [value];
    if (numeric && values.some((v) => typeof v === "string")) throw new Unsure(); // the server's error
    return { field: f, op, value };
  }
  function operator() {
    const t = token();
    if (t.kind === "op") {
      advance();
      return OP_ALIASES.get(t.text) || t.text;
    }
    if (atKeyword("in")) return advance().text.toLowerCase();
    if (atKeyword("not")) {
      advance();
      if (atKeyword("in")) return "not " + advance().text.toLowerCase();
    }
    throw new Unsure(); // LIKE, ILIKE (left to the server), or no operator
  }
  function single() {
    const t = token();
    if (t.kind === "number" || t.kind === "string") return advance().value;
    throw new Unsure();
  }
  function valueList() {
    if (token().text !== "(") throw new Unsure();
    advance();
    const values = [single()];
    while (token().text === ",") {
      advance();
      values.push(single());
    }
    if (token().text !== ")") throw new Unsure();
    advance();
    return values;
  }

  if (!text.trim()) return null;
  const node = expression();
  if (token().kind !== "end") throw new Unsure();
  return node;
}

// ---- evaluation ----------------------------------------------------------------------------------

/** The column name of a field in the table: the grammar's spelling (metrics.`my key`). */
function columnName(field) {
  if (field.kind === "attributes") return field.key;
  const key = PLAIN_KEY.test(field.key) ? field.key : "`" + field.key.replaceAll("`", "``") + "`";
  return `${field.kind}.${key}`;
}

function compile(node, columns, count) {
  if (node === null) return () => true;
  if (node.not) {
    const inner = compile(node.not, columns, count);
    return (i) => !inner(i);
  }
  if (node.and) {
    const parts = node.and.map((part) => compile(part, columns, count));
    return (i) => parts.every((part) => part(i));
  }
  if (node.or) {
    const parts = node.or.map((part) => compile(part, columns, count));
    return (i) => parts.some((part) => part(i));
  }
  const column = columns[columnName(node.field)] || new Array(count).fill(null);
  let expected = node.value;
  if (node.field.kind === "attributes" && node.field.key === "status") {
    expected = Array.isArray(expected) ? expected.map(lower) : lower(expected); // MLflow writes 'FINISHED'
  }
  const test = valueTest(node.op, expected);
  return (i) => {
    const value = column[i];
    return value !== null && value !== undefined && test(value);
  };
}

function lower(value) {
  return typeof value === "string" ? value.toLowerCase() : value;
}

const COMPARE = {
  "=": (a, b) => a === b,
  "!=": (a, b) => a !== b,
  "<": (a, b) => a < b,
  "<=": (a, b) => a <= b,
  ">": (a, b) => a > b,
  ">=": (a, b) => a >= b,
};

function valueTest(op, expected) {
  if (op === "in" || op === "not in") {
    const tests = expected.map((v) => valueTest("=", v));
    if (op === "in") return (value) => tests.some((t) => t(value));
    return (value) => !tests.some((t) => t(value));
  }
  const compare = COMPARE[op];
  if (typeof expected === "string") {
    const ordered = op !== "=" && op !== "!=";
    if (ordered && !ASCII.test(expected)) throw new Unsure(); // code points, not UTF-16 units
    return (value) => {
      if (typeof value !== "string") throw new Unsure(); // Python's str() of a number
      if (ordered && !ASCII.test(value)) throw new Unsure();
      return compare(value, expected);
    };
  }
  return (value) => {
    const number = asNumber(value);
    return number !== null && compare(number, expected);
  };
}

/** A value as the server's evaluator reads it as a number (Python's float()); null when it
 * is none. NaN only from a number or from the text 'nan' in any case. */
function asNumber(value) {
  if (typeof value === "number") return value;
  if (typeof value !== "string") throw new Unsure();
  if (!ASCII.test(value)) throw new Unsure(); // Python reads other digits and spaces too
  const text = value.replace(PY_SPACE, "");
  const special = SPECIAL.exec(text);
  if (special) {
    if (special[2].toLowerCase() !== "nan") return special[1] === "-" ? -Infinity : Infinity;
    return value.toLowerCase() === "nan" ? NaN : null;
  }
  if (!DECIMAL.test(text)) return null;
  return Number(text.replaceAll("_", ""));
}
