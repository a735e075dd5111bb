"""S3-compatible object storage, through fsspec (s3fs): object `<sha256>` is the key
`<prefix>/<sha256[:2]>/<sha256[2:]>` of the bucket.

An upload is one PUT, or a multipart upload for a large object: S3 shows an object
only once it is complete, so an upload killed half-way leaves nothing a reader could
take (an unfinished multipart upload is the bucket's to expire). The endpoint is
`git config gitml.s3Endpoint`, else botocore's own (`AWS_ENDPOINT_URL`, its config);
credentials are botocore's (environment, `~/.aws`).
"""

from __future__ import annotations

from collections.abc import Iterator

from gitml.errors import LargeObjectError, MissingExtraError
from gitml.store.cas.folder import BLOCK, FolderStore
from gitml.store.cas.progress import start

PART = 16 << 20  # bytes per part of a multipart upload, and per read


class S3Shared:
    def __init__(self, location: str, endpoint: str | None):
        bucket, _, prefix = location.partition("/")
        self.root = f"{bucket}/{prefix}" if prefix else bucket
        self.label = f"s3://{location}"
        self._endpoint = endpoint
        self._fs = None

    def _files(self):
        if self._fs is None:
            try:
                import s3fs
            except ImportError:
                raise MissingExtraError("an s3:// store", "s3fs", "s3") from None
            options = {"endpoint_url": self._endpoint} if self._endpoint else {}
            self._fs = s3fs.S3FileSystem(client_kwargs=options, default_block_size=PART)
        return self._fs

    def key(self, sha256: str) -> str:
        return f"{self.root}/{sha256[:2]}/{sha256[2:]}"

    def upload(self, local: FolderStore, sha256s: list[str]) -> None:
        files = self._files()
        for sha256 in sha256s:
            try:
                if files.exists(self.key(sha256)):
                    continue
                size = local.size(sha256) or 0
                transfer = start(f"uploading to {self.label}", size)
                try:
                    with files.open(self.key(sha256), "wb", block_size=PART) as out:
                        for block in local.blocks(sha256):
                            out.write(block)
                            transfer.advance(len(block))
                finally:
                    transfer.end()
            except (OSError, ValueError) as error:
                raise LargeObjectError(
                    f"cannot upload to {self.label}: {error}; check the bucket, the endpoint "
                    "(git config gitml.s3Endpoint) and the credentials"
                ) from None

    def download(self, sha256: str, size: int, into: FolderStore) -> str | None:
        files = self._files()
        try:
            if not files.exists(self.key(sha256)):
                return f"{self.label} does not hold it"
            transfer = start(f"downloading from {self.label}", size)
            try:
                with files.open(self.key(sha256), "rb", block_size=PART) as source:
                    into.put_blocks(_blocks(source), sha256, transfer, False, size)
            finally:
                transfer.end()
        except OSError as error:
            return f"{self.label} cannot be read ({error})"
        return None


def _blocks(source) -> Iterator[bytes]:
    while block := source.read(BLOCK):
        yield block
