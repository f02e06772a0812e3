"""Stored files: written whole, durably, and never inside a database transaction.

Every file the app stores goes through ``file_store``: the bytes go to a
temporary name next to the final one, are fsynced, then renamed (and the
directory fsynced), so a crash leaves the old state or the complete new file,
never a partial one. It refuses to run inside a transaction: a row is committed
only after its file is complete, so a row never points at a missing or partial
file. A job notes each name on its row before writing it (``job_file_record``);
the files of a job that fails or is lost are removed unless a row points at them
(``file_delete_unreferenced``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection

from projects.ml.io import fsync_directory
from projects.models import Dataset, Experiment, Job, ModelVersion

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Every field that points at a stored file.
_REFERENCES = ((Dataset, "file"), (Experiment, "artifact"), (ModelVersion, "artifact"))


def in_transaction() -> bool:
    """Whether an atomic block is open (a test case's own wrapping ones aside)."""
    return any(
        not getattr(block, "_from_testcase", False)
        for block in connection.atomic_blocks
    )


def file_store(
    key: str, write: Callable[[str], T], *, job: Job | None = None
) -> tuple[str, T]:
    """Store the file ``write(path)`` produces under storage name ``key``.

    ``write`` fills a local temporary path and may return a value (a checksum);
    returns the storage name and that value. Keys are generated (a uuid), never
    a name a client sent.
    """
    if in_transaction():
        raise RuntimeError(f"{key}: files are stored outside database transactions")
    if job is not None:
        from projects.services.jobs import job_file_record

        job_file_record(job, key)
    try:
        final = default_storage.path(key)
    except NotImplementedError:  # a remote storage: one upload of a whole file
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = os.path.join(tmp_dir, "part")
            result = write(tmp)
            with open(tmp, "rb") as fh:
                return default_storage.save(key, File(fh)), result
    directory = os.path.dirname(final)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".part")
    os.close(fd)
    try:
        result = write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_directory(directory)
    return key, result


def file_store_bytes(key: str, data: bytes, *, job: Job | None = None) -> str:
    def write(path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(data)

    return file_store(key, write, job=job)[0]


def file_delete_unreferenced(name: str) -> bool:
    """Delete a stored file unless a committed row points at it."""
    if any(
        model.objects.filter(**{field: name}).exists() for model, field in _REFERENCES
    ):
        return False
    with contextlib.suppress(FileNotFoundError):
        default_storage.delete(name)
    logger.info("removed the file of an ended job name=%s", name)
    return True


def files_sweep_partial(*, older_than_seconds: float) -> list[str]:
    """Delete the temporary ``.part`` files a killed writer left behind (local
    storage only); a file still being written is younger than the limit."""
    try:
        root = Path(default_storage.path(""))
    except NotImplementedError:
        return []
    cutoff = time.time() - older_than_seconds
    removed = []
    for part in root.rglob(".*.part") if root.exists() else []:
        with contextlib.suppress(FileNotFoundError):
            if part.stat().st_mtime < cutoff:
                part.unlink()
                removed.append(str(part.relative_to(root)))
    if removed:
        logger.info("removed partial files %s", removed)
    return removed
