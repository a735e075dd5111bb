"""Large artifacts stored by content, outside git (docs/format.md#large-artifacts).

A run's tree holds a small pointer (`pointer`) where a large artifact's bytes would
be; the bytes are kept once, by sha256, in object stores: the repository's own folder
(`.git/gitml/objects/`), any folder or mount (`file://`), Git LFS on the remote, or
S3-compatible storage (`stores` opens them from their names). Every store streams: no
object is ever held in memory whole.
"""

from __future__ import annotations
