"""Uploads spooled to a temporary file before the store sees them."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

CHUNK_SIZE = 1 << 20
# A form field (not a file) is read into memory. A dataset's profile is one: about 3 KiB a column.
MAX_FORM_FIELD = 64 << 20


@asynccontextmanager
async def spooled(chunks: AsyncIterator[bytes], filename: str = "body") -> AsyncIterator[Path]:
    """The chunks written to a temporary file, removed on exit. No upload is held whole in
    memory, and one broken off half way never reaches the store."""
    folder = Path(await run_in_threadpool(tempfile.mkdtemp, prefix="modelcycle-upload-"))
    path = folder / filename
    try:
        with open(path, "wb") as out:
            async for chunk in chunks:
                await run_in_threadpool(out.write, chunk)
        yield path
    finally:
        path.unlink(missing_ok=True)
        folder.rmdir()


async def file_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    """A multipart form's file field, chunk by chunk."""
    while chunk := await upload.read(CHUNK_SIZE):
        yield chunk
