"""`gitml serve --env-manager venv`: the model served by the Python of its own environment.

The environment is built with uv from PyPI (the model's requirements plus the server's),
using the machine user's uv cache so that a second test session downloads nothing.
"""

import os
import pwd
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import gitml
from tests.models_helpers import Server


@pytest.fixture
def uv_with_shared_cache(monkeypatch):
    found = shutil.which("uv") or shutil.which("uv", path=sysconfig.get_path("scripts"))
    if not found:
        pytest.fail("uv is not installed: it is in the test extra, `pip install -e '.[test]'`")
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(found).parent), os.environ["PATH"]]))
    monkeypatch.setenv("GITML_VENV_INSTALLER", "uv")
    home = pwd.getpwuid(os.getuid()).pw_dir
    monkeypatch.setenv("UV_CACHE_DIR", os.path.join(home, ".cache", "uv"))


@pytest.mark.slow
def test_venv_serving_runs_in_the_models_environment(tmp_path, uv_with_shared_cache):
    gitml.save_model(lambda rows: np.asarray(rows).sum(axis=1), tmp_path / "fn")
    server = Server(str(tmp_path / "fn"), tmp_path, "--env-manager", "venv").start()
    try:
        import psutil

        python = psutil.Process(server.proc.pid).cmdline()[0]
        assert server.request("POST", "/invocations", {"inputs": [[1, 2], [3, 4]]}) == (
            200,
            {"predictions": [3, 7]},
        )
    finally:
        code, err = server.stop()
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "gitml" / "envs"
    assert python.startswith(str(cache)), python
    assert f"gitml: built the model's environment in {cache}" in err
    assert code == 0, err
