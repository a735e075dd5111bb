"""Meta-test: docs/compare.md covers every compare and reproduce command and option."""

import importlib
from pathlib import Path

import click
import pytest

from gitml.cli.main import COMMANDS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "compare.md").read_text()
OURS = ["diff", "compare", "metrics", "plot", "checkout", "branch", "rerun"]
LS_OPTIONS = ["--filter", "--sort", "--columns", "--csv"]


def command(name: str) -> click.Command:
    module_name, attribute = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module_name), attribute)


@pytest.mark.parametrize("name", OURS)
def test_every_command_and_option_is_documented(name):
    assert f"gitml {name}" in DOC
    for param in command(name).params:
        if isinstance(param, click.Option):
            assert any(opt in DOC for opt in param.opts if opt.startswith("--")), (name, param)


def test_the_search_options_of_ls_are_documented():
    options = {opt for p in command("ls").params for opt in p.opts}
    for option in LS_OPTIONS:
        assert option in options
        assert f"gitml ls {option}" in DOC
