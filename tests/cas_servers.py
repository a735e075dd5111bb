"""Real servers on 127.0.0.1 for the large-artifact tests and bench (this module holds
no tests): a Git LFS server (giftless with its local-storage backend, under werkzeug's
threaded WSGI server in a child process), an LFS server that stalls every upload half-way
(to kill a push in the middle of one, deterministically), and an S3 endpoint (moto's
server mode: it speaks the protocol; it is no durable store)."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.gitservers import wait_for_port
from tests.utils import free_port

GIFTLESS = """\
import sys
from giftless.app import init_app
from giftless.auth.identity import DefaultIdentity
from werkzeug.serving import make_server


class Anyone(DefaultIdentity):
    # giftless's allow_anon:read_write refuses per-object checks (it looks the object's
    # id up among permissions granted for none): this test server lets anyone do anything
    def is_authorized(self, organization, repo, permission, oid=None):
        return True


def anyone(_request):
    return Anyone("anyone")


storage = {"storage_class": "giftless.storage.local_storage:LocalStorage",
           "storage_options": {"path": sys.argv[2]}}
app = init_app(additional_config={
    "AUTH_PROVIDERS": ["__main__:anyone"],
    "PRE_AUTHORIZED_ACTION_PROVIDER": None,  # no signed URLs: uploads go to the same app
    "TRANSFER_ADAPTERS": {"basic": {"factory": "giftless.transfer.basic_streaming:factory",
                                    "options": storage}},
})
make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True).serve_forever()
"""


class GiftlessServer:
    """`url` is the LFS endpoint of repository org/repo (git config lfs.url)."""

    def __init__(self, storage: Path):
        self.storage = storage
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/org/repo"
        self.process: subprocess.Popen | None = None

    def object_path(self, sha256: str) -> Path:
        return self.storage / "org" / "repo" / sha256

    def __enter__(self) -> "GiftlessServer":
        script = self.storage.parent / "giftless_server.py"
        script.write_text(GIFTLESS)
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.port), str(self.storage)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)


class StallingLfsServer:
    """Answers LFS batch requests with an upload action to itself, then reads the first
    bytes of each upload, sets `stalled` and never answers: a push is stuck half-way."""

    def __init__(self):
        self.stalled = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                objects = [
                    {
                        "oid": item["oid"],
                        "size": item["size"],
                        "actions": {"upload": {"href": f"{server.url}/upload/{item['oid']}"}},
                    }
                    for item in request["objects"]
                ]
                body = json.dumps({"transfer": "basic", "objects": objects}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.git-lfs+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                self.rfile.read(4096)
                server.stalled.set()
                server.release.wait(60)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/org/repo"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "StallingLfsServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class S3Server:
    """moto's S3 in server mode on 127.0.0.1; `env` are the variables a client needs."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port)
        self.env = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, **_credentials(self.env))

    def __enter__(self) -> "S3Server":
        self.server.start()
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()


def _credentials(env: dict) -> dict:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }
