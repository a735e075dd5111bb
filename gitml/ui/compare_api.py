"""`/api/diff`: what differs between two runs (`gitml diff`'s answers), and their code."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gitml.ui.answers import BadRequest, answer
from gitml.ui.runs_api import MAX_PATCH


def _sides(request: Request):
    from gitml.tracking.sides import base_side, resolve_side

    repo = request.app.state.ui.repo
    a, b = request.query_params.get("a"), request.query_params.get("b")
    if not a:
        raise BadRequest(400, "give run a (and b; without b, a is compared with its base)")
    side_a = resolve_side(repo, a)
    if not b:
        return base_side(side_a), side_a
    return side_a, resolve_side(repo, b)


def diff(request: Request) -> Response:
    """`GET /api/diff?a=&b=`: params, metrics, tags, environment, artifacts, changed files
    (as `gitml diff --json --stat`)."""
    from gitml.compare.diff import DiffOptions, diff_sides

    side_a, side_b = _sides(request)
    result = diff_sides(request.app.state.ui.repo, side_a, side_b, DiffOptions(patch=False))
    return answer(result.to_json())


def code_diff(request: Request) -> Response:
    """`GET /api/diff/code?a=&b=`: the files and unified diff between the two runs'
    trees (user code only, `.gitml/` left out)."""
    from gitml.compare.diff import changed_files, code_patch

    repo = request.app.state.ui.repo
    side_a, side_b = _sides(request)
    files = changed_files(repo, side_a.commit, side_b.commit)
    patch = code_patch(repo, side_a.commit, side_b.commit)
    return answer(
        {
            "a": side_a.to_json(),
            "b": side_b.to_json(),
            "files": [{**vars(f), "binary": f.binary} for f in files],
            "patch": patch[:MAX_PATCH],
            "truncated": len(patch) > MAX_PATCH,
        }
    )
