"""`gitml ui`'s pages in a real browser: Debian's chromium driven by Playwright, a real
`gitml ui` process on a real repository. Every page is opened, runs are filtered, sorted,
grouped, selected and compared, a chart is zoomed, artifacts are opened, a model is
promoted; a screenshot of each page is saved (to $GITML_UI_SCREENSHOTS, else a temporary
folder). Markup in run data must show as text: no dialog, no element made of it."""

import json
import math
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect, sync_playwright

import gitml
from tests.conftest import record_three_runs
from tests.ui_helpers import UiServer
from tests.utils import cli, git, isolated, write

pytestmark = pytest.mark.slow
# Plotly (4.8 MB of JavaScript) takes seconds to load on a busy 2-core machine
expect.set_options(timeout=30_000)

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 900}
SCREENSHOTS = os.environ.get("GITML_UI_SCREENSHOTS")  # read before fixtures clear GITML_*
HOSTILE = "<img src=x onerror=alert(1)>"
BOLD = '<b>bold</b> <a href="https://example.com/">link</a>'  # markup Plotly reads in its text
GITML_RUN = [sys.executable, "-m", "gitml", "run"]
LONG = 20_000  # points of the rich run's loss: more than a chart is sent
LIVE = (
    "import os, sys, time, gitml\n"
    "print('live output starts', flush=True)\n"
    "step = 0\n"
    "while not os.path.exists(sys.argv[1]) and step < 600:\n"
    "    gitml.log_metric('tick', step, step=step)\n"
    "    print(f'tick {step}', flush=True)\n"
    "    step += 1\n"
    "    time.sleep(0.2)\n"
)


def _png(width: int = 64, height: int = 48) -> bytes:
    """A real PNG image (a colour gradient)."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 160)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _rich_run(repo: Path) -> None:
    """A run with a long metric, an image, a CSV, Markdown, JSON and a model with a
    signature, recorded over an uncommitted edit (its code tab shows it)."""
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    write(repo / "src" / "model.py", "WEIGHT = 2\n")
    with gitml.start_run(name="rich", repo=repo, experiment="vision"):
        gitml.log_params({"lr": "0.02", "opt": "adam"})
        gitml.set_tag("team", "blue")
        for step in range(LONG):
            gitml.log_metric("loss", math.exp(-step / 3000) + 0.05 * math.sin(step / 7), step=step)
        for step in range(100):
            gitml.log_metric("acc", 0.5 + step / 250, step=step)
        staged = repo / "plot.png"
        staged.write_bytes(_png())
        gitml.log_artifact(staged)
        staged.unlink()
        gitml.log_text('epoch,loss,acc\n1,0.9,0.5\n2,0.5,"0,7"\n', "table.csv")
        gitml.log_text("# Notes\n\nSome *markdown*.\n", "notes.md")
        gitml.log_dict({"accuracy": 0.93, "classes": ["a", "b"]}, "report.json")
        frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
        model = LinearRegression().fit(frame, [1.0, 2.0, 3.0])
        gitml.log_model(model, name="model", input_example=frame.iloc[:2])
    git(repo, "checkout", "--", "src/model.py")


def _hostile_run(repo: Path) -> None:
    """Markup everywhere a run's text shows: experiment, param, tag, artifacts."""
    with gitml.start_run(name="hostile", repo=repo, experiment=HOSTILE):
        gitml.log_params({"note": HOSTILE, "lr": "0.3", "html": BOLD})
        gitml.set_tag("owner", HOSTILE)
        gitml.log_metric("loss", 0.7)
        gitml.log_text(HOSTILE + "\n", "evil.md")
        gitml.log_text(f"a,b\n{HOSTILE},1\n", "evil.csv")
        svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
        gitml.log_text(svg, "evil.svg")


@pytest.fixture(scope="module")
def served(templates, tmp_path_factory):
    """alpha, beta, gamma (`gitml run`), rich, hostile, a run that prints; model clf
    registered from rich; one `gitml ui` for the module."""
    home = tmp_path_factory.mktemp("ui-pages-home")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolated(monkeypatch, home)
        repo = templates.copy(record_three_runs, tmp_path_factory.mktemp("ui-pages") / "repo")
        _rich_run(repo)
        _hostile_run(repo)
        talky = ["--name", "talky", "--", "python", "-c", "print('hello from talky')"]
        subprocess.run(
            GITML_RUN + talky,
            cwd=repo,
            check=True,
            capture_output=True,
        )
        cli(repo, "model", "register", "clf", "rich", "--path", "model")
        server = UiServer(repo)
        try:
            yield server, repo, monkeypatch
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(SCREENSHOTS) if SCREENSHOTS else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Watch:
    """What a page did that it must not: a dialog opened, a script error, an element
    made from run data."""

    def __init__(self, page: Page):
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def check(self, page: Page) -> None:
        assert self.dialogs == []
        assert self.errors == []
        assert page.locator("img[src='x']").count() == 0


@pytest.fixture
def page(browser, served):
    server, _, _ = served
    context = browser.new_context(viewport=VIEWPORT, base_url=f"http://127.0.0.1:{server.port}")
    page = context.new_page()
    watch = Watch(page)
    yield page
    watch.check(page)
    context.close()


NAME_CELLS = ".runs-table .vt-body .vt-row:not([hidden]) [data-key=name]"


def _row(page: Page, name: str):
    """The table row of run `name`."""
    cell = page.locator("[data-key=name]", has_text=re.compile(f"^{name}$"))
    return page.locator(".runs-table .vt-row", has=cell)


def _axis_type(page: Page, axis: str) -> str:
    return page.evaluate(
        f"() => document.querySelector('.chart[data-metric=loss]').layout.{axis}.type"
    )


def _query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _names(page: Page) -> list[str]:
    return [
        text.strip()
        for text in page.locator(
            ".runs-table .vt-body .vt-row:not([hidden]) [data-key=name]"
        ).all_inner_texts()
    ]


def _open_runs(page: Page, query: str = "") -> None:
    page.goto("/" + query)
    expect(page.locator(".count")).to_have_text(re.compile(r"\d+ (of \d+ )?runs"))


def test_runs_page_lists_every_run_and_shows_markup_as_text(page, served, shots):
    _open_runs(page)
    expect(page.locator(".count")).to_have_text("6 runs")
    assert set(_names(page)) == {"alpha", "beta", "gamma", "rich", "hostile", "talky"}
    # the hostile run's experiment, param and tag are text in their cells
    page.get_by_role("button", name="Columns").click()
    page.locator(".chooser label.choice", has_text="tags.owner").locator("input").check()
    expect(page.locator(".runs-table .vt-cell", has_text=HOSTILE).first).to_be_visible()
    assert page.locator(".runs-table .vt-cell", has_text=HOSTILE).count() >= 2
    page.screenshot(path=shots / "runs.png")


def test_filter_error_sort_group_and_the_url(page, served):
    server, repo, _ = served
    _open_runs(page)
    box = page.get_by_label("filter")
    fast = "params.lr > 0.05 and not status = 'failed'"
    box.fill(fast)
    expect(page.locator(".count")).to_have_text("3 of 6 runs")
    assert set(_names(page)) == {"alpha", "beta", "hostile"}
    assert _query(page)["filter"] == [fast]
    # the command line says the same, and gitml ls gives the same runs
    command = page.get_by_label("gitml ls command").input_value()
    quoted = "'params.lr > 0.05 and not status = '\\''failed'\\'''"
    assert command.startswith(f"gitml ls --all --filter {quoted} --columns name,")
    listed = json.loads(cli(repo, "ls", "--all", "--json", "--filter", fast).output)
    assert {run["name"] for run in listed} == {"alpha", "beta", "hostile"}
    # a malformed filter: the message, a caret under the column, the table left as it was
    box.fill("params.lr > 0.05 and metrics.loss >")
    error = page.locator(".filter-error")
    expect(error).to_be_visible()
    expect(error.locator(".filter-message")).to_contain_text("expected a value")
    caret = error.locator(".filter-caret").inner_text()
    assert caret.index("^") == len("params.lr > 0.05 and metrics.loss >")
    expect(page.locator(".vt-th[data-key='metrics.loss']")).to_have_class(re.compile(r"\berror\b"))
    expect(page.locator(".count")).to_have_text("3 of 6 runs")
    box.fill("")
    expect(error).to_be_hidden()
    expect(page.locator(".count")).to_have_text("6 runs")
    # sort by a metric: ascending, then descending; runs without it come last
    header = page.locator(".vt-th[data-key='metrics.loss']")
    first = page.locator(".runs-table .vt-body .vt-row:not([hidden]) [data-key=name]").first
    header.click()
    expect(header.locator(".arrow")).to_have_text("▲")
    expect(first).to_have_text("rich")  # its last loss is near 0
    header.click()
    expect(header.locator(".arrow")).to_have_text("▼")
    expect(first).to_have_text("alpha")  # 1 / 0.1
    expect(page.locator(".runs-table")).not_to_have_attribute("aria-busy", "true")
    losses = {"alpha": 10.0, "beta": 5.0, "gamma": 2.5, "hostile": 0.7}
    names = _names(page)
    ordered = [n for n in names if n in losses]
    assert ordered == sorted(losses, key=losses.get, reverse=True)
    assert _query(page)["sort"] == ["-metrics.loss"]
    # group by experiment: one group row per experiment with min / mean / max
    page.get_by_label("group by").select_option("experiment")
    groups = page.locator(".runs-table .group-row")
    expect(groups.first).to_be_visible()
    texts = groups.all_inner_texts()
    assert any("vision" in text for text in texts)
    assert any(HOSTILE in text for text in texts)
    assert any(re.search(r"\d / [\d.]+ / \d", text) for text in texts)
    assert _query(page)["group"] == ["experiment"]
    # the URL alone gives the same view back
    url = page.url
    page.goto("about:blank")
    page.goto(url)
    expect(page.locator(".runs-table .group-row").first).to_be_visible()
    expect(page.locator(".vt-th[data-key='metrics.loss'] .arrow")).to_have_text("▼")


# the filter box tested in the page (filter.js) against the server's evaluator
TRICKY = ["1_000", " 5 ", "nan", "NaN", "-nan", "+nan", "inf", "-Infinity", "0x10", "1e3", "",
          "abc", "0.5", ".5", "5.", "1__0", "Z", "a b", "5\x1c"]  # fmt: skip
NOT_ASCII = ["\u0663", "\u00e9", "\U0001f600"]  # an Arabic-Indic 3 reads as 3.0 in Python
NUMBERS = ["0", "1", "-1", "0.5", "3", "5", "1000", "1e3", "-0", ".5", "1e400"]
TEXTS = ["'a'", "'Z'", "'nan'", "'1_000'", "'finished'", "'FINISHED'", "'Failed'", "''",
         "'\u00e9'", "'a b'", "'it''s'"]  # fmt: skip
FIELDS = ["metrics.m", "metrics.`odd key`", "params.p", "params.q", "tags.t", "status", "name",
          "start_time", "duration", "end_time", "branch", "attributes.user", "run_id",
          "params.missing", "metrics.missing"]  # fmt: skip
OPS = ["=", "==", "!=", "<>", "<", "<=", ">", ">=", "in", "not in", "like", "ilike"]


def _tricky_runs(texts: list[str]) -> list:
    import random

    from gitml.tracking.record import RunSummary

    rng = random.Random(7)
    runs = []
    for i in range(60):
        metric = rng.choice([0.0, 0.5, 1.0, -1.0, 3.0, math.nan, math.inf, -math.inf, 1000.0])
        runs.append(
            RunSummary(
                id=f"run{i:03d}",
                name=rng.choice(["a", "b", "Z", "a b", "it's", texts[-1]]),
                experiment="e",
                status=rng.choice(["finished", "failed", "running"]),
                start_ms=1_700_000_000_000 + i * rng.choice([1, 1000]),
                end_ms=rng.choice([None, 1_700_000_000_500 + i]),
                user=rng.choice(["ann", "bob"]),
                params={k: rng.choice(texts) for k in ("p", "q") if rng.random() < 0.8},
                metrics={"m": metric, "odd key": rng.choice([0.5, 2.0])} if i % 7 else {},
                tags={"t": rng.choice(texts)} if i % 3 else {},
                branch=rng.choice([None, "main", "dev"]),
            )
        )
    return runs


def _random_filters(count: int) -> list[str]:
    import random

    rng = random.Random(11)

    def comparison() -> str:
        field, op = rng.choice(FIELDS), rng.choice(OPS)
        value = lambda: rng.choice(NUMBERS + TEXTS)  # noqa: E731
        if op in ("in", "not in"):
            listed = ", ".join(value() for _ in range(rng.randint(1, 3)))
            return f"{field} {op} ({listed})"
        return f"{field} {op} {value()}"

    def expression(depth: int) -> str:
        roll = rng.random()
        if depth > 2 or roll < 0.45:
            return comparison()
        if roll < 0.6:
            return f"not {expression(depth + 1)}"
        if roll < 0.75:
            return f"({expression(depth + 1)})"
        word = rng.choice(["and", "or", "AND", "Or"])
        return f"{expression(depth + 1)} {word} {expression(depth + 1)}"

    return [expression(0) for _ in range(count)]


def test_the_filter_box_reads_filters_as_the_server_does(page):
    """Every filter the page tests itself (filter.js, on the table's columns) selects
    what the server's evaluator selects; the ones it leaves to the server are few."""
    from gitml.compare.sorting import RunQuery, select_runs
    from gitml.errors import GitmlError
    from gitml.ui.table import runs_table

    everyday = [
        "metrics.m > 0.5",
        "params.p > 0.5 or tags.t = 'nan'",
        "status = 'FINISHED' and not branch in ('main')",
        "metrics.m != 1",
        "params.p = 'abc' and name < 'b'",
        "params.p > 1 and metrics.m > 1 and duration > 0 and start_time >= 1700000000000",
    ]
    inherited = ["constructor.x = 1", "toString = 'a'", "__proto__.x = 1", "params.__proto__ = 'a'",
                 "hasOwnProperty > 1", "tags.constructor != 'x'"]  # fmt: skip
    filters = _random_filters(400) + inherited + everyday
    page.goto("/")
    decided = 0
    for texts in (TRICKY, TRICKY + NOT_ASCII):
        runs = _tricky_runs(texts)
        table = runs_table(runs)
        answers = page.evaluate(
            """async ({table, filters}) => {
              const {filterFor} = await import('/static/filter.js');
              const rows = Int32Array.from({length: table.count}, (_, i) => i);
              return filters.map((text) => {
                const test = filterFor(text, table);
                const kept = test && test(rows);
                return kept ? Array.from(kept, (i) => table.columns.id[i]) : null;
              });
            }""",
            {"table": table, "filters": filters},
        )
        for text, local in zip(filters, answers, strict=True):
            try:
                expected = [run.id for run in select_runs(runs, RunQuery(text))]
            except GitmlError:
                assert local is None, text  # the server says what is wrong with it
                continue
            if local is not None:
                decided += 1
                assert local == expected, text
        if texts is TRICKY:
            assert all(answer is not None for answer in answers[-len(everyday) :])
    assert decided >= len(filters) // 2


def test_a_saved_view_is_a_ref_and_opens_again(page, served):
    _, repo, _ = served
    _open_runs(page)
    page.get_by_label("filter").fill("params.opt = 'adam'")
    expect(page.locator(".count")).to_have_text("1 of 6 runs")
    page.get_by_label("view name").fill("adam-runs")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".message")).to_have_text("saved view adam-runs")
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/gitml/views/").split() == [
        "refs/gitml/views/adam-runs"
    ]
    _open_runs(page)
    expect(page.locator(".count")).to_have_text("6 runs")
    page.get_by_label("saved views").select_option("adam-runs")
    expect(page.locator(".count")).to_have_text("1 of 6 runs")
    expect(page.get_by_label("filter")).to_have_value("params.opt = 'adam'")


def test_select_and_compare_runs(page, served, shots):
    _open_runs(page)
    for name in ("alpha", "beta", "rich"):
        _row(page, name).locator("input[type=checkbox]").check()
    assert len(_query(page)["sel"][0].split(",")) == 3
    page.get_by_role("button", name="Compare 3").click()
    expect(page).to_have_url(re.compile(r"/compare\?runs=[0-9a-z]{8,},[0-9a-z]{8,},[0-9a-z]{8,}$"))
    table = page.locator("table.side-by-side")
    expect(table.locator("thead")).to_contain_text("alpha")
    expect(table.locator("thead")).to_contain_text("rich")
    expect(table.locator("tr[data-key='params.lr']")).to_have_class("differs")
    rows_before = table.locator("tbody tr").count()
    page.get_by_label("only differences").check()
    expect(table.locator("tr[data-key='attributes.user']")).to_have_count(0)
    assert table.locator("tbody tr").count() < rows_before
    assert _query(page)["diff"] == ["1"]
    # curves, scatter, parallel coordinates drawn; smoothing redraws
    for chart in ("curves", "scatter", "parallel"):
        expect(page.locator(f"[data-chart={chart}] .main-svg").first).to_be_attached()
    page.get_by_label("metric", exact=True).select_option("loss")
    expect(page.locator("[data-chart=curves] .scatterlayer .trace")).to_have_count(3)
    page.get_by_label("smoothing").evaluate(
        "(el) => { el.value = '0.9'; el.dispatchEvent(new Event('input')); }"
    )
    expect(page.locator("[data-chart=curves] .scatterlayer .trace")).to_have_count(6)
    assert _query(page)["smooth"] == ["0.9"]
    # the code diff between two runs: rich saw an uncommitted edit of src/model.py
    page.get_by_label("code from").select_option(label="alpha")
    page.get_by_label("code to").select_option(label="rich")
    code = page.locator("section", has=page.locator("pre.text"))
    expect(page.locator("pre.text .add", has_text="+WEIGHT = 2")).to_be_visible()
    assert code.count() >= 1
    page.screenshot(path=shots / "compare.png", full_page=True)


def test_chart_text_from_runs_is_text(page, served):
    page.goto("/compare?runs=hostile,alpha")
    scatter = page.locator("[data-chart=scatter]")
    expect(scatter.locator(".main-svg").first).to_be_attached()
    page.get_by_label("scatter x").select_option("params.html")
    expect(scatter).to_contain_text(BOLD)
    parallel = page.locator("[data-chart=parallel]")
    expect(parallel).to_contain_text(HOSTILE)
    expect(parallel).to_contain_text(BOLD)
    assert page.locator(".js-plotly-plot a").count() == 0


def test_run_page_facts_and_metric_chart_zoom(page, served, shots):
    _open_runs(page)
    page.locator(".runs-table [data-key=name] a", has_text="rich").click()
    expect(page).to_have_url(re.compile(r"/run/[0-9a-z]+$"))
    expect(page.locator("h1")).to_have_text("rich")
    expect(page.locator("table[data-section=params]")).to_contain_text("0.02")
    expect(page.locator("table[data-section=metrics]")).to_contain_text(str(LONG))
    page.screenshot(path=shots / "run.png", full_page=True)
    page.locator(".tabs a[data-tab=metrics]").click()
    chart = page.locator(".chart[data-metric=loss]")
    label = page.locator(".chart-card[data-card=loss] .points-label")
    expect(label).to_have_text(re.compile(rf"^[\d,]+ of {LONG:,} points$"))
    returned = int(chart.get_attribute("data-returned"))
    assert 0 < returned < LONG
    # zoom: drag across a narrow band of the x axis; the exact points of that range arrive
    area = chart.locator(".nsewdrag").first
    box = area.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.42, y, steps=5)
    page.mouse.up()
    expect(label).to_have_text(re.compile(rf"^([\d,]+) of \1 points in view \({LONG:,} in all\)$"))
    assert int(chart.get_attribute("data-total")) < returned
    # log scale, wall-time axis
    page.get_by_label("log scale").check()
    assert _axis_type(page, "yaxis") == "log"
    page.get_by_label("x axis").select_option("time")
    expect(label).to_have_text(re.compile(rf"of {LONG:,} points$"))
    assert _axis_type(page, "xaxis") == "date"
    assert _query(page) == {"tab": ["metrics"], "x": ["time"], "log": ["1"]}
    page.screenshot(path=shots / "run-metrics.png", full_page=True)


def test_artifacts_preview_each_kind(page, served, shots):
    page.goto("/run/rich?tab=artifacts")
    tree = page.locator(".tree")
    preview = page.locator(".preview")
    tree.locator(".node", has_text="plot.png").click()
    image = preview.locator("img")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('.preview img').naturalWidth === 64")
    tree.locator(".node", has_text="table.csv").click()
    expect(preview.locator("table")).to_contain_text("0,7")
    expect(preview).to_contain_text("2 rows × 3 columns")
    tree.locator(".node", has_text="report.json").click()
    expect(preview.locator("pre")).to_contain_text('"accuracy": 0.93')
    tree.locator(".node", has_text="notes.md").click()
    expect(preview.locator("pre")).to_contain_text("Some *markdown*.")
    tree.locator("[data-model=model]").click()
    signature = preview.locator("table[data-section=signature-inputs]")
    expect(signature).to_contain_text("double")
    expect(preview).to_contain_text("Flavors: python_function, sklearn")
    page.screenshot(path=shots / "run-artifacts.png", full_page=True)
    # a hostile run's files are text (Markdown, CSV) or an inert image (SVG)
    page.goto("/run/hostile?tab=artifacts")
    tree.locator(".node", has_text="evil.md").click()
    expect(preview.locator("pre")).to_contain_text(HOSTILE)
    tree.locator(".node", has_text="evil.csv").click()
    expect(preview.locator("td", has_text=HOSTILE)).to_be_visible()
    tree.locator(".node", has_text="evil.svg").click()
    expect(preview.locator("img")).to_be_visible()


def test_output_environment_and_code_tabs(page, served, shots):
    page.goto("/run/talky?tab=output")
    expect(page.locator("pre.output")).to_have_text(re.compile("hello from talky"))
    page.goto("/run/talky?tab=environment")
    expect(page.locator("dl.facts")).to_contain_text("python")
    page.screenshot(path=shots / "run-environment.png", full_page=True)
    page.goto("/run/rich?tab=code")
    expect(page.locator("table.grid")).to_contain_text("src/model.py")
    expect(page.locator("pre.text .add", has_text="+WEIGHT = 2")).to_be_visible()
    expect(page.locator("pre.text .del", has_text="-WEIGHT = 1")).to_be_visible()
    page.screenshot(path=shots / "run-code.png", full_page=True)


def test_registry_promote_history_date_and_unassign(page, served, shots):
    _, repo, _ = served
    page.goto("/models")
    card = page.locator(".model-card[data-model=clf]")
    expect(card).to_contain_text("latest v0.0.1")
    row = card.locator("tr[data-version='v0.0.1']")
    row.get_by_label("stage for v0.0.1").fill("production")
    row.get_by_role("button", name="Promote").click()
    chip = card.locator(".stage[data-stage=production][data-version='v0.0.1']")
    expect(chip).to_be_visible()
    expect(row.get_by_label("stage for v0.0.1")).to_have_value("")  # done: the box is cleared
    models = json.loads(cli(repo, "model", "ls", "--json").output)
    assert models[0]["stages"] == {"production": ["v0.0.1"]}
    # register a second version from the page
    page.get_by_label("model name").fill("clf")
    page.get_by_label("run", exact=True).fill("hostile")
    page.get_by_label("artifact path").fill("evil.md")
    page.get_by_role("button", name="Register", exact=True).click()
    expect(card).to_contain_text("latest v0.0.2")
    # history: who and when, newest first
    card.get_by_role("button", name="History").click()
    history = card.locator("table[data-section=history]")
    expect(history.locator("tbody tr")).to_have_count(3)
    expect(history.locator("tbody tr").first).to_contain_text("register")
    expect(history).to_contain_text("assign")
    expect(history).to_contain_text("Test User")
    # what was in production today, and before the model existed
    card.get_by_label("date for clf").fill("2001-01-01")
    card.get_by_role("button", name="Show").click()
    expect(card.locator(".at-answer")).to_contain_text("no stage held a version")
    card.get_by_label("date for clf").fill("2099-01-01")
    # a model registered elsewhere appears (the board redraws): the typed date stays
    cli(repo, "model", "register", "other", "rich", "--path", "model")
    expect(page.locator(".model-card[data-model=other]")).to_be_visible()
    expect(card.get_by_label("date for clf")).to_have_value("2099-01-01")
    card.get_by_role("button", name="Show").click()
    expect(card.locator(".at-answer")).to_contain_text("production → v0.0.1")
    page.screenshot(path=shots / "models.png", full_page=True)
    # unassign: the chip goes, and so does the stage for gitml
    chip.get_by_role("button").click()
    expect(chip).to_have_count(0)
    models = {m["model"]: m for m in json.loads(cli(repo, "model", "ls", "--json").output)}
    assert models["clf"]["stages"] == {}


def test_a_new_run_appears_and_its_output_is_tailed_live(page, served, tmp_path):
    server, repo, _ = served
    _open_runs(page)
    expect(page.locator(".count")).to_have_text(re.compile(r"^\d+ runs$"))
    before = int(page.locator(".count").inner_text().split()[0])
    stop = tmp_path / "stop"
    write(tmp_path / "live.py", LIVE)
    live = subprocess.Popen(
        [*GITML_RUN, "--name", "live", "--", "python", str(tmp_path / "live.py"), str(stop)],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        expect(page.locator(".count")).to_have_text(f"{before + 1} runs", timeout=30_000)
        row = _row(page, "live")
        expect(row.locator("[data-key=status]")).to_have_text("running")
        row.locator("[data-key=name] a").click()
        page.locator(".tabs a[data-tab=output]").click()
        output = page.locator("pre.output")
        expect(output).to_contain_text("live output starts", timeout=30_000)
        expect(output).to_contain_text("tick 3", timeout=30_000)
        expect(page.locator(".tab-body .note")).to_contain_text("live")
        # its chart follows as it logs
        page.locator(".tabs a[data-tab=metrics]").click()
        label = page.locator(".chart-card[data-card=tick] .points-label")
        expect(label).to_have_text(re.compile(r"of [\d,]+ points$"))
        first = label.inner_text()
        expect(label).not_to_have_text(first)
    finally:
        stop.write_text("")
        live.wait(60)


def test_themes_follow_the_os_and_switch(browser, served, shots):
    server, _, _ = served
    context = browser.new_context(
        color_scheme="dark",
        viewport=VIEWPORT,
        base_url=f"http://127.0.0.1:{server.port}",
    )
    page = context.new_page()
    watch = Watch(page)
    try:
        _open_runs(page)
        background = "() => getComputedStyle(document.body).backgroundColor"
        dark = page.evaluate(background)
        assert dark == "rgb(22, 25, 31)"
        page.screenshot(path=shots / "runs-dark.png")
        switch = page.locator("button.theme-switch")
        expect(switch).to_have_text("◐ auto")
        switch.click()
        expect(switch).to_have_text("☀ light")
        assert page.evaluate(background) == "rgb(255, 255, 255)"
        page.reload()
        expect(page.locator("button.theme-switch")).to_have_text("☀ light")
        assert page.evaluate(background) == "rgb(255, 255, 255)"
        page.goto("/compare?runs=alpha,beta")
        expect(page.locator("[data-chart=curves] .main-svg").first).to_be_attached()
        page.locator("button.theme-switch").click()
        expect(page.locator("button.theme-switch")).to_have_text("☾ dark")
        assert page.evaluate(background) == "rgb(22, 25, 31)"
        page.screenshot(path=shots / "compare-dark.png", full_page=True)
        watch.check(page)
    finally:
        context.close()
