"""Saving and loading fitted models as signed, self-describing files.

Loading a joblib/pickle payload runs code, so a model file is only unpickled after
its HMAC-SHA256 signature, made with a key only the app knows, has been checked.
Every other check (format version, the file the database recorded, the
scikit-learn version) also happens before anything is unpickled; a file that fails
one is never loaded and the :class:`ArtifactError` says why.

Layout of a model file (all integers big-endian)::

    magic          8 bytes   b"LCMODEL1"
    header length  4 bytes   unsigned
    payload length 8 bytes   unsigned
    header         UTF-8 JSON (format version, library versions, caller metadata,
                   payload sha256 and length)
    payload        joblib bytes of the fitted object
    signature      32 bytes  HMAC-SHA256 under the key of everything above

The lengths sit in front of the header so that a truncated or cut file is told
apart from a tampered one without parsing anything unsigned.

Pure Python + joblib: this module never imports Django. Callers that use Django's
storage API work with :func:`dump_model` / :func:`load_model_from_bytes`; the
path functions are thin wrappers around them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import io
import json
import os
import platform
import re
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import IO, Any

import joblib

from projects.ml.io import fsync_directory

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "ArtifactError",
    "ArtifactInfo",
    "dump_model",
    "load_model",
    "load_model_from_bytes",
    "read_header",
    "read_header_from_bytes",
    "save_model",
]

MAGIC = b"LCMODEL1"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({1})

# Files from another container generation share this prefix; they are reported as
# an unsupported format rather than as "not a model".
_MAGIC_FAMILY = b"LCMODEL"
_PREFIX = struct.Struct(">8sIQ")
_SIGNATURE_BYTES = hashlib.sha256().digest_size
# A header is a few kilobytes of JSON; anything claiming far more is not ours.
_MAX_HEADER_BYTES = 1 << 20
_COMPRESS = 3

# Distribution names whose versions are recorded, under the header's names.
_LIBRARIES = {
    "sklearn": "scikit-learn",
    "numpy": "numpy",
    "pandas": "pandas",
    "joblib": "joblib",
    "scipy": "scipy",
}
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)")

Source = bytes | bytearray | memoryview | IO[bytes]


class ArtifactError(Exception):
    """A model file that must not be loaded.

    ``str(err)`` is a plain message for the user; ``reason`` is a stable
    identifier for programs and tests. Reasons: ``not_a_model`` (bad magic,
    truncated or corrupt), ``tampered`` (signature mismatch), ``wrong_model``
    (not the file the database recorded), ``unsupported_format`` (a format
    version this installation cannot read), ``library_version`` (saved with
    another scikit-learn major.minor, or cannot be rebuilt by this installation).

    Parameters
    ----------
    message : str
        What happened and what to do, for the user.
    reason : str
        Machine-readable reason.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"ArtifactError({self.message!r}, reason={self.reason!r})"


@dataclass(frozen=True)
class ArtifactInfo:
    """What :func:`save_model` wrote.

    ``sha256`` is the hex digest of the whole file (what the database records and
    later passes back as ``expected_sha256``); ``header`` is the signed header.
    """

    sha256: str
    size_bytes: int
    header: dict


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def dump_model(obj: object, *, key: bytes, metadata: Mapping[str, Any]) -> bytes:
    """Serialise and sign a fitted object into the bytes of a model file.

    Parameters
    ----------
    obj : object
        The fitted estimator or pipeline.
    key : bytes
        Signing key (from settings, not ``SECRET_KEY``); must not be empty.
    metadata : mapping
        JSON-serialisable facts stored in the header under ``"metadata"``, e.g.
        input columns and dtypes, algorithm, task type.

    Returns
    -------
    bytes
        The complete file content.

    Raises
    ------
    ValueError
        If ``key`` is empty.
    TypeError
        If ``metadata`` is not JSON-serialisable.
    pickle.PicklingError, TypeError, AttributeError
        If ``obj`` cannot be pickled (a lambda, a lock, an open file).
    """
    return _dump(obj, key=key, metadata=metadata)[0]


def _dump(
    obj: object, *, key: bytes, metadata: Mapping[str, Any]
) -> tuple[bytes, dict]:
    _check_key(key)
    # Metadata first: it is cheap to check and the payload may take long.
    metadata_json = json.loads(_to_json(dict(metadata)))
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=_COMPRESS)
    payload = buffer.getvalue()
    header = {
        "format_version": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "libraries": _library_versions(),
        "metadata": metadata_json,
        "serializer": f"joblib compress={_COMPRESS}",
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_length": len(payload),
    }
    header_bytes = _to_json(header).encode("utf-8")
    prefix = _PREFIX.pack(MAGIC, len(header_bytes), len(payload))
    signature = _sign(key, prefix, header_bytes, payload)
    return b"".join((prefix, header_bytes, payload, signature)), header


def save_model(
    obj: object,
    path: str | os.PathLike,
    *,
    key: bytes,
    metadata: Mapping[str, Any],
) -> ArtifactInfo:
    """Write a fitted object as a signed model file, atomically.

    The bytes go to a temporary file in the destination directory, are fsynced,
    then renamed over ``path``: readers see the old file or the new one, never a
    partial one, and a failure leaves neither a temporary file nor a changed
    ``path`` behind.

    Parameters
    ----------
    obj : object
        The fitted estimator or pipeline.
    path : str or os.PathLike
        Destination file; its directory must exist.
    key : bytes
        Signing key; must not be empty.
    metadata : mapping
        JSON-serialisable facts for the header, see :func:`dump_model`.

    Returns
    -------
    ArtifactInfo
        sha256 and size of the written file, and its header.
    """
    data, header = _dump(obj, key=key, metadata=metadata)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    fsync_directory(directory)
    return ArtifactInfo(
        sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), header=header
    )


def read_header_from_bytes(data: Source, *, key: bytes) -> dict:
    """Verify a model file's signature and return its header, without unpickling.

    Parameters
    ----------
    data : bytes-like or binary file object
        The file content, or an open file (e.g. from Django storage) to read.
    key : bytes
        The key the file was signed with.

    Returns
    -------
    dict
        The signed header: ``format_version``, ``created_at``, ``libraries``,
        ``metadata``, ``payload_sha256``, ``payload_length``.

    Raises
    ------
    ArtifactError
        With reason ``not_a_model``, ``tampered`` or ``unsupported_format``.
    """
    _, header, _ = _verify(_as_bytes(data), key=key)
    return header


def read_header(path: str | os.PathLike, *, key: bytes) -> dict:
    """Verify a model file's signature and return its header, without unpickling.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    key : bytes
        The key the file was signed with.

    Returns
    -------
    dict
        The signed header, see :func:`read_header_from_bytes`.

    Raises
    ------
    ArtifactError
        With reason ``not_a_model``, ``tampered`` or ``unsupported_format``.
    """
    return read_header_from_bytes(_read_file(path), key=key)


def load_model_from_bytes(
    data: Source, *, key: bytes, expected_sha256: str | None = None
) -> tuple[object, dict]:
    """Check a model file completely, then unpickle it.

    In order: magic and structure, signature (constant-time), format version,
    whole-file sha256 (when given), scikit-learn major.minor. Only a file that
    passes all of them is unpickled.

    Parameters
    ----------
    data : bytes-like or binary file object
        The file content, or an open file (e.g. from Django storage) to read.
    key : bytes
        The key the file was signed with.
    expected_sha256 : str, optional
        Hex sha256 of the file as recorded when it was saved; a different file
        (even a validly signed one) is refused.

    Returns
    -------
    obj : object
        The fitted estimator or pipeline.
    header : dict
        The signed header plus ``"version_differences"``: for each recorded
        library whose installed version differs (tolerated, reported),
        ``{"saved": ..., "installed": ...}``.

    Raises
    ------
    ArtifactError
        With any of the reasons; nothing was loaded.
    """
    data = _as_bytes(data)
    payload, header, digest = _verify(data, key=key)
    if expected_sha256 is not None and digest != expected_sha256.strip().lower():
        raise ArtifactError(
            "This model file is not the one recorded for this model version: "
            "another (validly signed) model file is in its place. It was not "
            "loaded. Restore the right file or retrain the model.",
            reason="wrong_model",
        )
    differences = _check_libraries(header)
    try:
        obj = joblib.load(io.BytesIO(payload))
    except Exception as exc:
        # Authentic, but it needs code this installation does not have (a class
        # that moved or was removed): only retraining helps.
        raise ArtifactError(
            "This model file is genuine but this installation cannot rebuild the "
            f"model from it ({type(exc).__name__}: {_short(str(exc))}). Retrain "
            "the model with this installation.",
            reason="library_version",
        ) from None
    return obj, {**header, "version_differences": differences}


def load_model(
    path: str | os.PathLike, *, key: bytes, expected_sha256: str | None = None
) -> tuple[object, dict]:
    """Check a model file completely, then unpickle it.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.
    key : bytes
        The key the file was signed with.
    expected_sha256 : str, optional
        Hex sha256 of the file as recorded when it was saved.

    Returns
    -------
    obj : object
        The fitted estimator or pipeline.
    header : dict
        See :func:`load_model_from_bytes`.

    Raises
    ------
    ArtifactError
        With any of the reasons; nothing was loaded.
    """
    return load_model_from_bytes(
        _read_file(path), key=key, expected_sha256=expected_sha256
    )


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

_NOT_A_MODEL = (
    "This is not a model file saved by Lifecycle{detail}. It was not loaded. "
    "Retrain the model or restore the file from a backup."
)


def _verify(data: bytes, *, key: bytes) -> tuple[memoryview, dict, str]:
    """Check structure, signature and format; return (payload, header, sha256)."""
    _check_key(key)
    if len(data) < _PREFIX.size + _SIGNATURE_BYTES:
        if data[: len(_MAGIC_FAMILY)] == _MAGIC_FAMILY[: len(data)] and data:
            raise ArtifactError(
                _NOT_A_MODEL.format(detail=" (the file is cut short)"),
                reason="not_a_model",
            )
        raise ArtifactError(_NOT_A_MODEL.format(detail=""), reason="not_a_model")
    magic, header_length, payload_length = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        if magic.startswith(_MAGIC_FAMILY):
            raise ArtifactError(
                "This model file was saved in a format this installation cannot "
                "read (probably by a newer version of Lifecycle). It was not "
                "loaded. Upgrade Lifecycle or retrain the model with this "
                "installation.",
                reason="unsupported_format",
            )
        raise ArtifactError(_NOT_A_MODEL.format(detail=""), reason="not_a_model")
    expected = _PREFIX.size + header_length + payload_length + _SIGNATURE_BYTES
    if header_length > _MAX_HEADER_BYTES or len(data) != expected:
        detail = (
            " (the file is cut short)"
            if len(data) < expected
            else " (the file is damaged)"
        )
        raise ArtifactError(_NOT_A_MODEL.format(detail=detail), reason="not_a_model")

    view = memoryview(data)
    header_end = _PREFIX.size + header_length
    payload_end = header_end + payload_length
    header_bytes = view[_PREFIX.size : header_end]
    payload = view[header_end:payload_end]
    signature = view[payload_end:]
    computed = _sign(key, view[: _PREFIX.size], header_bytes, payload)
    if not hmac.compare_digest(computed, bytes(signature)):
        raise ArtifactError(
            "This model file's signature does not match: the file was changed "
            "after it was saved, or it was signed with another key (another "
            "installation, or a changed model signing key). It was not loaded. "
            "Retrain the model with this installation.",
            reason="tampered",
        )

    # Signed by us from here on; a header that still does not parse is damage
    # from a bug, not from outside.
    try:
        header = json.loads(bytes(header_bytes).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        raise ArtifactError(
            _NOT_A_MODEL.format(detail=" (its header is damaged)"),
            reason="not_a_model",
        )
    version = header.get("format_version")
    if not isinstance(version, int) or version not in SUPPORTED_FORMAT_VERSIONS:
        raise ArtifactError(
            f"This model file uses format version {version!r}; this installation "
            f"reads version {', '.join(map(str, sorted(SUPPORTED_FORMAT_VERSIONS)))}"
            ". It was not loaded. Upgrade Lifecycle or retrain the model with this "
            "installation.",
            reason="unsupported_format",
        )
    if (
        header.get("payload_length") != payload_length
        or header.get("payload_sha256") != hashlib.sha256(payload).hexdigest()
    ):
        raise ArtifactError(
            _NOT_A_MODEL.format(detail=" (its content does not match its header)"),
            reason="not_a_model",
        )
    return payload, header, hashlib.sha256(data).hexdigest()


def _check_libraries(header: dict) -> dict[str, dict[str, str | None]]:
    """Refuse another scikit-learn major.minor; return the tolerated differences."""
    saved = header.get("libraries")
    saved = saved if isinstance(saved, dict) else {}
    installed = _library_versions()
    saved_sklearn = saved.get("sklearn")
    here = installed["sklearn"]
    if _major_minor(saved_sklearn) is None or _major_minor(saved_sklearn) != (
        _major_minor(here)
    ):
        raise ArtifactError(
            f"This model was saved with scikit-learn {saved_sklearn or 'unknown'}, "
            f"this installation has {here or 'none'}. Models cannot be moved "
            "between scikit-learn versions that differ in more than the last "
            "number, so it was not loaded. Retrain the model with this "
            "installation.",
            reason="library_version",
        )
    return {
        name: {"saved": saved.get(name), "installed": version}
        for name, version in installed.items()
        if saved.get(name) != version
    }


def _major_minor(version: object) -> tuple[int, int] | None:
    match = _MAJOR_MINOR.match(version) if isinstance(version, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray):
        raise TypeError("The model signing key must be bytes.")
    if not key:
        raise ValueError(
            "The model signing key is empty; set one in the settings before saving "
            "or loading models."
        )


def _sign(key: bytes, *parts: bytes | memoryview) -> bytes:
    mac = hmac.new(bytes(key), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name, distribution in _LIBRARIES.items():
        try:
            versions[name] = importlib_metadata.version(distribution)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _to_json(value: object) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Model metadata must be plain JSON: {exc}") from None


def _as_bytes(data: Source) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    return data.read()


def _read_file(path: str | os.PathLike) -> bytes:
    with open(os.fspath(path), "rb") as handle:
        return handle.read()


def _short(text: str, length: int = 200) -> str:
    text = text.strip().splitlines()[0] if text.strip() else ""
    return text if len(text) <= length else text[: length - 3] + "..."
