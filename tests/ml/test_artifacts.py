"""Tests for projects.ml.artifacts: signed model files, one test per failure mode."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import pickle
import random
import shutil
import struct
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from projects.ml import artifacts
from projects.ml.artifacts import (
    ArtifactError,
    ArtifactInfo,
    dump_model,
    load_model,
    load_model_from_bytes,
    read_header,
    read_header_from_bytes,
    save_model,
)

KEY = b"model-signing-key-for-tests"
OTHER_KEY = b"another-installation's-key"
METADATA = {
    "algorithm": "logistic_regression",
    "task_type": "classification",
    "input_schema": [
        {"name": "age", "dtype": "float64"},
        {"name": "city", "dtype": "string"},
    ],
}

# The file layout, written out independently of the module so the tests also pin
# it down: magic, header length, payload length, header, payload, HMAC-SHA256.
PREFIX = struct.Struct(">8sIQ")
SIGNATURE = 32


def frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "city": rng.choice(["Lyon", "Oslo", "Rome"], n),
        }
    )


def fitted_pipeline(seed: int = 0) -> Pipeline:
    X = frame(seed=seed)
    y = (X["age"] > 40).astype(int) ^ (X["city"] == "Oslo").astype(int)
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("model", LogisticRegression(C=0.5 + seed, random_state=seed)),
        ]
    )
    return pipeline.fit(X, y)


def split(data: bytes) -> tuple[dict, bytes]:
    _, header_length, payload_length = PREFIX.unpack_from(data)
    header_end = PREFIX.size + header_length
    header = json.loads(data[PREFIX.size : header_end])
    return header, data[header_end : header_end + payload_length]


def assemble(header: dict, payload: bytes, *, key: bytes = KEY) -> bytes:
    """Build a validly signed file around any header and payload."""
    header_bytes = json.dumps(header).encode()
    body = (
        PREFIX.pack(b"LCMODEL1", len(header_bytes), len(payload))
        + header_bytes
        + payload
    )
    return body + hmac.new(key, body, hashlib.sha256).digest()


def resign(data: bytes, *, key: bytes = KEY, **changes: object) -> bytes:
    header, payload = split(data)
    header.update(changes)
    return assemble(header, payload, key=key)


def flip(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x01
    return bytes(changed)


class CreatesFile:
    """Unpickling this touches a file: proof of whether a pickle was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def evil_payload(marker: Path) -> bytes:
    return pickle.dumps(CreatesFile(marker))


@pytest.fixture
def model_file(tmp_path: Path) -> tuple[Path, ArtifactInfo]:
    path = tmp_path / "model.lcm"
    return path, save_model(fitted_pipeline(), path, key=KEY, metadata=METADATA)


def assert_refused(data: bytes, reason: str, **kwargs: object) -> ArtifactError:
    with pytest.raises(ArtifactError) as caught:
        load_model_from_bytes(data, key=kwargs.pop("key", KEY), **kwargs)
    assert caught.value.reason == reason, str(caught.value)
    assert "not loaded" in str(caught.value)
    return caught.value


def test_it_round_trips_a_fitted_pipeline_with_identical_predictions(model_file):
    path, info = model_file
    original = fitted_pipeline()
    new = frame(n=25, seed=7)

    loaded, header = load_model(path, key=KEY, expected_sha256=info.sha256)

    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict(new), original.predict(new))
    np.testing.assert_array_equal(
        loaded.predict_proba(new), original.predict_proba(new)
    )
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.size_bytes == path.stat().st_size
    assert path.read_bytes().startswith(b"LCMODEL1")
    assert header["format_version"] == 1
    assert header["metadata"] == METADATA
    assert header["libraries"]["sklearn"] == sklearn.__version__
    assert set(header["libraries"]) == {
        "python",
        "sklearn",
        "numpy",
        "pandas",
        "joblib",
        "scipy",
    }
    assert header["version_differences"] == {}
    assert {k: v for k, v in header.items() if k != "version_differences"} == (
        info.header
    )
    assert read_header(path, key=KEY) == info.header


def test_it_round_trips_through_bytes_and_file_objects_for_django_storage():
    data = dump_model(fitted_pipeline(), key=KEY, metadata=METADATA)
    sha = hashlib.sha256(data).hexdigest()

    loaded, header = load_model_from_bytes(
        io.BytesIO(data), key=KEY, expected_sha256=sha.upper()
    )

    new = frame(n=10, seed=3)
    np.testing.assert_array_equal(loaded.predict(new), fitted_pipeline().predict(new))
    assert read_header_from_bytes(io.BytesIO(data), key=KEY)["metadata"] == METADATA
    assert header["payload_length"] == split(data)[0]["payload_length"]


def test_it_reads_the_header_without_unpickling(model_file, monkeypatch):
    path, info = model_file

    def no_unpickling(*args, **kwargs):
        raise AssertionError("read_header must not unpickle")

    monkeypatch.setattr(artifacts.joblib, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)

    assert read_header(path, key=KEY) == info.header


def test_it_refuses_a_payload_with_one_byte_flipped(model_file):
    path, _ = model_file
    data = path.read_bytes()
    _, payload = split(data)
    payload_start = len(data) - SIGNATURE - len(payload)

    error = assert_refused(flip(data, payload_start + len(payload) // 2), "tampered")

    assert "changed" in str(error)
    assert "another key" in str(error)


def test_it_refuses_a_header_with_one_byte_flipped(model_file):
    path, _ = model_file
    data = path.read_bytes()
    # Inside the metadata, so the header is still valid JSON and only the
    # signature can tell.
    offset = data.index(b"logistic_regression")

    assert_refused(flip(data, offset), "tampered")
    with pytest.raises(ArtifactError) as caught:
        read_header_from_bytes(flip(data, offset), key=KEY)
    assert caught.value.reason == "tampered"


def test_it_refuses_a_file_signed_with_another_key(model_file):
    path, _ = model_file

    error = assert_refused(path.read_bytes(), "tampered", key=OTHER_KEY)

    assert "signed with another key" in str(error)


def test_it_checks_the_signature_before_unpickling_anything(tmp_path):
    marker = tmp_path / "executed"
    forged = assemble(
        {"format_version": 1, "libraries": {"sklearn": sklearn.__version__}},
        evil_payload(marker),
        key=OTHER_KEY,
    )

    assert_refused(forged, "tampered")

    assert not marker.exists()


@pytest.mark.parametrize(
    "keep",
    [0, 3, 12, PREFIX.size + 10, "half", "no_signature", "one_byte_short"],
)
def test_it_refuses_a_truncated_file(model_file, keep):
    path, _ = model_file
    data = path.read_bytes()
    size = {
        "half": len(data) // 2,
        "no_signature": len(data) - SIGNATURE,
        "one_byte_short": len(data) - 1,
    }.get(keep, keep)

    assert_refused(data[:size], "not_a_model")
    with pytest.raises(ArtifactError) as caught:
        load_model(_write(path, data[:size]), key=KEY)
    assert caught.value.reason == "not_a_model"


def test_it_refuses_a_file_with_bytes_appended(model_file):
    path, _ = model_file

    assert_refused(path.read_bytes() + b"\x00", "not_a_model")


@pytest.mark.parametrize("prefix", [b"", b"LCMODEL1"], ids=["random", "magic"])
def test_it_refuses_random_bytes(prefix):
    data = prefix + random.Random(0).randbytes(4096)

    assert_refused(data, "not_a_model")


@pytest.mark.parametrize("kind", ["pickle", "joblib", "joblib_compressed"])
def test_it_refuses_a_plain_pickle_or_joblib_file_without_running_it(tmp_path, kind):
    proof = tmp_path / "proof"
    pickle.loads(evil_payload(proof))  # noqa: S301 - proves the payload is live
    assert proof.exists(), "the payload must really run code when unpickled"
    marker = tmp_path / "executed"
    path = tmp_path / "model.lcm"
    if kind == "pickle":
        path.write_bytes(evil_payload(marker))
    else:
        compress = 3 if kind == "joblib_compressed" else 0
        joblib.dump(CreatesFile(marker), path, compress=compress)

    with pytest.raises(ArtifactError) as caught:
        load_model(path, key=KEY)

    assert caught.value.reason == "not_a_model"
    assert not marker.exists()


def test_it_refuses_another_valid_model_in_place_of_the_recorded_one(tmp_path):
    recorded = save_model(
        fitted_pipeline(seed=0), tmp_path / "a.lcm", key=KEY, metadata=METADATA
    )
    save_model(fitted_pipeline(seed=1), tmp_path / "b.lcm", key=KEY, metadata=METADATA)
    shutil.copyfile(tmp_path / "b.lcm", tmp_path / "a.lcm")

    with pytest.raises(ArtifactError) as caught:
        load_model(tmp_path / "a.lcm", key=KEY, expected_sha256=recorded.sha256)

    assert caught.value.reason == "wrong_model"
    assert "not loaded" in str(caught.value)


def _other_minor(version: str, step: int) -> str:
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"{major}.{minor + step}.0" if minor + step >= 0 else f"{major - 1}.99.0"


@pytest.mark.parametrize("step", [-1, 1])
def test_it_refuses_a_model_saved_with_another_scikit_learn_minor_version(
    model_file, step
):
    path, _ = model_file
    data = path.read_bytes()
    header, _ = split(data)
    claimed = _other_minor(sklearn.__version__, step)
    libraries = {**header["libraries"], "sklearn": claimed}

    error = assert_refused(resign(data, libraries=libraries), "library_version")

    assert claimed in str(error)
    assert sklearn.__version__ in str(error)
    assert "Retrain the model with this installation" in str(error)


def test_it_refuses_a_model_whose_scikit_learn_version_is_not_recorded(model_file):
    path, _ = model_file
    data = path.read_bytes()
    header, _ = split(data)
    libraries = {k: v for k, v in header["libraries"].items() if k != "sklearn"}

    assert_refused(resign(data, libraries=libraries), "library_version")


def test_it_checks_the_scikit_learn_version_before_unpickling(tmp_path):
    marker = tmp_path / "executed"
    signed = assemble(
        {
            "format_version": 1,
            "libraries": {"sklearn": _other_minor(sklearn.__version__, 1)},
            "payload_length": len(evil_payload(marker)),
            "payload_sha256": hashlib.sha256(evil_payload(marker)).hexdigest(),
        },
        evil_payload(marker),
    )

    assert_refused(signed, "library_version")

    assert not marker.exists()


def test_it_loads_and_reports_other_library_differences(model_file):
    path, _ = model_file
    data = path.read_bytes()
    header, _ = split(data)
    major_minor = ".".join(sklearn.__version__.split(".")[:2])
    libraries = {
        **header["libraries"],
        "sklearn": f"{major_minor}.99",
        "numpy": "1.26.4",
    }

    model, loaded = load_model_from_bytes(resign(data, libraries=libraries), key=KEY)

    assert isinstance(model, Pipeline)
    assert loaded["version_differences"] == {
        "sklearn": {"saved": f"{major_minor}.99", "installed": sklearn.__version__},
        "numpy": {"saved": "1.26.4", "installed": np.__version__},
    }


@pytest.mark.parametrize("version", [99, 0, "1", None])
def test_it_refuses_an_unsupported_format_version(model_file, version):
    path, _ = model_file

    error = assert_refused(
        resign(path.read_bytes(), format_version=version), "unsupported_format"
    )

    assert "format version" in str(error)


def test_it_refuses_a_newer_container_generation(model_file):
    path, _ = model_file
    data = b"LCMODEL2" + path.read_bytes()[8:]

    assert_refused(data, "unsupported_format")


@pytest.mark.parametrize(
    "unpicklable", [lambda x: x, threading.Lock()], ids=["lambda", "lock"]
)
def test_it_leaves_no_temp_file_and_the_old_file_untouched_when_pickling_fails(
    model_file, unpicklable
):
    path, info = model_file
    before = path.read_bytes()

    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        save_model(unpicklable, path, key=KEY, metadata=METADATA)

    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.lcm"]
    load_model(path, key=KEY, expected_sha256=info.sha256)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_it_leaves_no_temp_file_and_the_old_file_untouched_when_writing_fails(
    model_file, monkeypatch, failing
):
    path, _ = model_file
    before = path.read_bytes()

    def disk_error(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts.os, failing, disk_error)
    with pytest.raises(OSError):
        save_model(fitted_pipeline(seed=1), path, key=KEY, metadata=METADATA)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.lcm"]


def test_it_refuses_metadata_that_is_not_json_before_writing(tmp_path):
    path = tmp_path / "model.lcm"

    with pytest.raises(TypeError, match="metadata"):
        save_model(fitted_pipeline(), path, key=KEY, metadata={"when": object()})

    assert os.listdir(tmp_path) == []


def test_it_refuses_an_empty_key(model_file):
    path, _ = model_file

    with pytest.raises(ValueError, match="key is empty"):
        save_model(fitted_pipeline(), path, key=b"", metadata=METADATA)
    with pytest.raises(ValueError, match="key is empty"):
        load_model(path, key=b"")
    with pytest.raises(ValueError, match="key is empty"):
        read_header(path, key=b"")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
