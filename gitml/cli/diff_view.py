"""`gitml diff` output: a terminal view and Markdown tables for a pull request."""

from collections.abc import Sequence

from gitml.cli import format as fmt
from gitml.compare.diff import Change, MetricChange, RunDiff


def _value(value) -> str:
    if value is None:
        return "-"
    return fmt.number(value) if isinstance(value, float) else fmt.printable(str(value))


def _signed(value: float | None) -> str:
    if value is None:
        return "-"
    text = fmt.rounded(value)
    return text if text.startswith("-") or value == 0 else "+" + text


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.2f}%"


def _better(change: MetricChange, diff: RunDiff) -> str:
    if change.better is None:
        return ""
    side = diff.a if change.better == "a" else diff.b
    return f"{side.label} better ({change.goal})"


def _size(size: int | None) -> str:
    return "-" if size is None else fmt.size(size)


def _hash(sha256: str | None) -> str:
    """The start of a content hash, which a fetched run's record may lack."""
    return "-" if sha256 is None else fmt.printable(sha256[:10])


def _title(diff: RunDiff) -> str:
    def name(side) -> str:
        if side.run is None:
            return f"{fmt.printable(side.label)} ({side.commit[:12]})"
        return f"run {fmt.printable(side.run.name)} ({side.run.id})"

    return f"{name(diff.a)}  →  {name(diff.b)}"


# terminal


def render_text(diff: RunDiff) -> str:
    lines = [_title(diff)]
    if diff.compared_records:
        lines += _changes_text("params", diff.params)
        if diff.same_params:
            same = ", ".join(fmt.printable(key) for key in diff.same_params)
            lines.append(f"  (the same in both: {same})")
        lines += _metrics_text(diff)
        lines += _changes_text("tags", diff.tags)
        lines += _environment_text(diff)
        lines += _artifacts_text(diff)
    if diff.compared_code:
        lines += _code_text(diff)
    return "\n".join(lines).rstrip("\n")


def _changes_text(title: str, changes: list[Change]) -> list[str]:
    if not changes:
        return ["", f"{title}: no differences"]
    keys = [fmt.printable(c.key) for c in changes]
    width = max(fmt.width(key) for key in keys)
    lines = ["", title]
    for c, key in zip(changes, keys, strict=True):
        lines.append(f"  {c.status:<8} {fmt.pad(key, width)}  {_value(c.a)} → {_value(c.b)}")
    return lines


def _metrics_text(diff: RunDiff) -> list[str]:
    if not diff.metrics:
        return ["", "metrics: none logged"]
    headers = ["  metric", diff.a.label, diff.b.label, "change", "relative", ""]
    rows = [
        [
            "  " + m.key,
            _value(m.a),
            _value(m.b),
            _signed(m.delta),
            _percent(m.relative),
            _better(m, diff),
        ]
        for m in diff.metrics
    ]
    return ["", "metrics", fmt.table(headers, rows, fixed=len(headers))]


def _environment_text(diff: RunDiff) -> list[str]:
    if not diff.packages and not diff.conda:
        return ["", "environment: no differences"]
    lines = ["", "environment"]
    for c in diff.packages:
        lines.append(f"  {c.status:<8} {_value(c.key)}  {_value(c.a)} → {_value(c.b)}")
    if diff.conda:
        lines += ["  conda.yaml:"] + ["    " + line for line in diff.conda.splitlines()]
    return lines


def _artifacts_text(diff: RunDiff) -> list[str]:
    if not diff.artifacts:
        return ["", "artifacts: no differences"]
    lines = ["", "artifacts"]
    for c in diff.artifacts:
        hashes = ""
        if c.status == "changed":
            hashes = f"  (sha256 {_hash(c.sha256_a)} → {_hash(c.sha256_b)})"
        path = fmt.printable(c.path)
        lines.append(f"  {c.status:<8} {path}  {_size(c.size_a)} → {_size(c.size_b)}{hashes}")
    return lines


def _code_text(diff: RunDiff) -> list[str]:
    if not diff.files:
        return ["", "code: no differences"]
    added = sum(f.added or 0 for f in diff.files)
    removed = sum(f.removed or 0 for f in diff.files)
    plural = "s" if len(diff.files) != 1 else ""
    lines = ["", f"code: {len(diff.files)} file{plural} changed, +{added} -{removed}"]
    for f in diff.files:
        counts = "binary" if f.binary else f"+{f.added} -{f.removed}"
        lines.append(f"  {f.status}  {fmt.printable(f.path)}  {counts}")
    if diff.patch:
        lines += ["", diff.patch.rstrip("\n")]
    return lines


# markdown


def _cell(value: object) -> str:
    return _value(value).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(diff: RunDiff) -> str:
    a, b = _cell(diff.a.label), _cell(diff.b.label)
    lines = [f"### {_title(diff)}"]
    if diff.compared_records:
        for title, changes in (("Params", diff.params), ("Tags", diff.tags)):
            lines += ["", f"**{title}**", ""]
            if changes:
                lines += _md_table([title[:-1].lower(), a, b], [[c.key, c.a, c.b] for c in changes])
            else:
                lines.append("no differences")
        lines += ["", "**Metrics**", ""]
        rows = [
            [m.key, m.a, m.b, _signed(m.delta), _percent(m.relative), _better(m, diff)]
            for m in diff.metrics
        ]
        lines += _md_table(["metric", a, b, "change", "relative", "better"], rows)
        if diff.packages:
            lines += ["", "**Packages**", ""]
            lines += _md_table(["package", a, b], [[c.key, c.a, c.b] for c in diff.packages])
        if diff.artifacts:
            lines += ["", "**Artifacts**", ""]
            rows = [[c.path, c.status, _size(c.size_a), _size(c.size_b)] for c in diff.artifacts]
            lines += _md_table(["artifact", "status", a, b], rows)
    if not diff.compared_code:
        return "\n".join(lines)
    lines += ["", "**Code**", ""]
    if diff.files:
        rows = [
            [f.path, f.status, "binary" if f.binary else f"+{f.added} -{f.removed}"]
            for f in diff.files
        ]
        lines += _md_table(["file", "status", "lines"], rows)
    else:
        lines.append("no differences")
    if diff.patch:
        fence = "````" if "```" in diff.patch else "```"
        lines += ["", "<details><summary>diff</summary>", "", fence + "diff"]
        lines += [diff.patch.rstrip("\n"), fence, "", "</details>"]
    return "\n".join(lines)
