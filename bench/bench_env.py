"""Environment costs: run start with a cached venv vs local, and building a
two-package venv with uv vs plain pip.

    python bench/bench_env.py [--repeat N]

Everything happens in a temporary folder (its own repository and
XDG_CACHE_HOME); the two packages are tiny wheels written by the script and
installed with --no-index --find-links, so no network is used and the build
figure is the installer's own overhead. Prints medians and ratios against the
baseline measured in the same run (local start; pip build).
"""

import argparse
import base64
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

GOAL_EXTRA_START = 0.2  # seconds a cached venv may add to a run's start


def write_wheel(folder: Path, name: str) -> None:
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    lines = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        lines.append(f"{path},sha256={digest.decode()},{len(text)}")
    files[f"{dist}/RECORD"] = "\n".join([*lines, f"{dist}/RECORD,,"]) + "\n"
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)


def spec(wheels: Path | None) -> str:
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    text = f"dependencies:\n  - python={python}\n  - pip\n"
    if wheels:
        text += f"  - pip:\n    - --no-index\n    - --find-links {wheels}\n"
        text += "    - benchpkg-one==1.0\n    - benchpkg-two==1.0\n"
    return text


def gitml(repo: Path, env: dict, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "gitml", *args], cwd=repo, env=env, check=True, capture_output=True
    )
    return time.perf_counter() - start


def make_repo(folder: Path, spec_text: str) -> Path:
    repo = folder / "repo"
    repo.mkdir()
    (repo / "conda.yaml").write_text(spec_text)
    (repo / "train.py").write_text("import gitml\ngitml.log_metric('x', 1)\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], cwd=repo, check=True)
    return repo


def bench_start(root: Path, repeat: int) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache")}
    repo = make_repo(root, spec(None))
    gitml(repo, env, "env", "create")  # build once: the timings below are cache hits
    times = {"local": [], "venv": []}
    for _ in range(repeat):  # interleaved, so machine noise hits both alike
        for manager in times:
            times[manager].append(
                gitml(repo, env, "run", "--env-manager", manager, "--", "python", "train.py")
            )
    local, venv = (statistics.median(times[m]) for m in ("local", "venv"))
    print(f"run of a one-metric script, median of {repeat}:")
    print(f"  local            {local:7.3f} s  (baseline)")
    print(f"  venv, cached     {venv:7.3f} s  ratio {venv / local:.2f}x")
    extra = venv - local
    verdict = "meets" if extra <= GOAL_EXTRA_START else "misses"
    print(f"  venv adds {extra:+.3f} s: {verdict} the goal of <= {GOAL_EXTRA_START} s")


def bench_build(root: Path, repeat: int) -> None:
    wheels = root / "wheels"
    wheels.mkdir()
    for name in ("benchpkg_one", "benchpkg_two"):
        write_wheel(wheels, name)
    (root / "build").mkdir()
    repo = make_repo(root / "build", spec(wheels))
    installers = ["pip"] + (["uv"] if shutil.which("uv") else [])
    times = {installer: [] for installer in installers}
    for trial in range(repeat):
        for installer in installers:
            env = {
                **os.environ,
                "XDG_CACHE_HOME": str(root / f"cache-{installer}-{trial}"),
                "GITML_VENV_INSTALLER": installer,
            }
            times[installer].append(gitml(repo, env, "env", "create"))
    pip = statistics.median(times["pip"])
    print(f"building a venv with two packages (offline wheels), median of {repeat}:")
    print(f"  python -m venv + pip  {pip:7.3f} s  (baseline)")
    if "uv" in times:
        uv = statistics.median(times["uv"])
        print(f"  uv                    {uv:7.3f} s  ratio {uv / pip:.2f}x")
    else:
        print("  uv                    not on PATH (pip install uv to measure it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitml-bench-env-") as folder:
        root = Path(folder)
        (root / "start").mkdir()
        bench_start(root / "start", args.repeat)
        bench_build(root, max(3, args.repeat // 2))


if __name__ == "__main__":
    main()
