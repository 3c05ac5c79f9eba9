from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from modelcycle.exceptions import NotFound, StoreUnavailable

CHUNK = 1 << 20


def file_digest(path: str | Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


class BlobStore:
    """Each blob lives at ``<root>/sha256/ab/cd/<digest>`` and appears there only when complete:
    a local file is written under ``<root>/tmp`` and renamed into place; object stores publish
    an object only once its upload has finished. The same content is stored once."""

    def __init__(self, uri: str):
        self.uri = uri
        self.fs, root = fsspec.core.url_to_fs(uri)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.root = root.rstrip("/")

    def path(self, digest: str) -> str:
        return f"{self.root}/sha256/{digest[:2]}/{digest[2:4]}/{digest}"

    def put_file(self, local_path: str | Path) -> tuple[str, int]:
        """Store a local file; returns its (sha256 digest, size)."""
        try:
            if self.local:
                return self._put_local(Path(local_path))
            digest, size = file_digest(local_path)
            target = self.path(digest)
            if not self.fs.exists(target):
                self.fs.put_file(str(local_path), target)
            return digest, size
        except FileNotFoundError:
            raise NotFound(f"No file at {str(local_path)!r} to store as an artifact.") from None
        except OSError as exc:
            raise StoreUnavailable(f"Could not write to the artifact store {self.uri!r}: {exc}") from exc

    def _put_local(self, source: Path) -> tuple[str, int]:
        tmp_dir = Path(self.root) / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        sha, size = hashlib.sha256(), 0
        try:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(CHUNK):
                    sha.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            digest = sha.hexdigest()
            target = Path(self.path(digest))
            if target.exists():
                return digest, size
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            return digest, size
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, digest: str) -> Iterator[bytes]:
        """The blob's chunks. A missing blob raises NotFound here, not once iterated: a server
        must be able to answer 404 before it starts streaming a 200."""
        try:
            f = self.fs.open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(
                f"The blob {digest} is missing from the artifact store {self.uri!r}; "
                "it was removed outside modelcycle."
            ) from None
        return _chunks(f)


def _chunks(f) -> Iterator[bytes]:
    with f:
        while chunk := f.read(CHUNK):
            yield chunk
