"""A real PostgreSQL server on 127.0.0.1 for the tests of shared sweep storages: a fresh
cluster in a temporary folder, run as the `postgres` user when the tests run as root
(PostgreSQL refuses root), trusting local connections; stopped at the end."""

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.utils import free_port


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert found, "PostgreSQL is not installed (.ci/run installs it with apt-get)"
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a database on a server started for the caller."""
    binaries = postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="gitml-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
    log = folder / "server.log"
    start = [str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w"]
    subprocess.run(_as_postgres([*start, "start"]), check=True, capture_output=True)
    try:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_ready(binaries, port)
        yield url
    finally:
        stop = [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(binaries: Path, port: int) -> None:
    ready = [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)]
    for _ in range(100):
        if subprocess.run(ready, capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("PostgreSQL did not start")


def create_database(url: str, name: str) -> str:
    """A new, empty database on the server of `url`; its URL."""
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return url.rsplit("/", 1)[0] + "/" + name
