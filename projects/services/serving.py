"""The one predict path: a live deployment's version, loaded once per process.

Per request: one small indexed query finds what is live on the endpoint (the
partial unique index on live deployments); the version's pipeline and schema
come from this process's cache, keyed by version id. A promotion or a rollback
changes the live row, so the next request of every process picks the new version
up: no restart, no signal. A version is verified (sha256 recorded at
registration, HMAC signature) before its pipeline is unpickled; a refused one is
audited once per process, and the previously live version keeps answering.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from threadpoolctl import ThreadpoolController

from projects.ml.artifacts import ArtifactError, load_model_from_bytes
from projects.ml.serving import RowError, ServingPipeline, body_rows, check_rows
from projects.models import Deployment, Endpoint, ModelVersion
from projects.services.audit import audit_record

logger = logging.getLogger(__name__)

# Loaded versions kept per process (a few: the live ones of each endpoint and the
# ones just replaced, for a rollback).
CACHE_SIZE = 16
# A refused version is tried again after this long (a restored file is picked up).
RETRY_REFUSED_SECONDS = 30.0


class ModelRefused(Exception):
    """A version's artefact failed verification; nothing was unpickled."""

    def __init__(self, version_id: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.version_id = version_id
        self.message = message
        self.reason = reason


class NothingLive(Exception):
    """No deployment is live on the endpoint."""


class TooManyRows(Exception):
    def __init__(self, rows: int, limit: int) -> None:
        super().__init__(
            f"{rows:,} rows in one request; at most {limit:,} (PREDICT_MAX_ROWS). "
            "Send them in several requests."
        )
        self.message = str(self)


class ServingUnavailable(Exception):
    """Neither the live version nor a previous one can be loaded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Loaded:
    version_id: int
    version: int
    pipeline: ServingPipeline
    schema: dict


# One thread per prediction for OpenMP and BLAS: a server process answers many
# requests at once, and a one-row predict split across threads mostly waits for
# them (HistGradientBoosting on a busy 2-core machine: p50 1 ms -> 0.7 ms, p99
# 120 ms -> 5 ms). The controller is made once: building one costs milliseconds.
_threads: ThreadpoolController | None = None


def single_threaded():
    """A context in which the numeric libraries use one thread."""
    global _threads
    if _threads is None:
        _threads = ThreadpoolController()
    return _threads.limit(limits=1)


_lock = threading.Lock()
_cache: OrderedDict[int, Loaded] = OrderedDict()
# version id -> (monotonic time of the refusal, ModelRefused)
_refused: dict[int, tuple[float, ModelRefused]] = {}
# Refusals already audited by this process.
_audited: set[int] = set()
# endpoint id -> the version id this process last answered with.
_served: dict[int, int] = {}


def serving_cache_clear() -> None:
    """Forget every loaded and refused version (tests; a reload)."""
    with _lock:
        _cache.clear()
        _refused.clear()
        _audited.clear()
        _served.clear()


def _loaded(version_id: int) -> Loaded | None:
    with _lock:
        found = _cache.get(version_id)
        if found is not None:
            _cache.move_to_end(version_id)
        return found


def serving_load(version: ModelVersion | int) -> ServingPipeline:
    """The verified serving pipeline of a version (cached per process).

    Raises
    ------
    ModelRefused
        The file is missing, not a model, tampered with, not the one recorded
        (sha256), or needs another scikit-learn. Audited once per process
        (``model_version.load_refused``).
    """
    return _load(version).pipeline


def _load(version: ModelVersion | int) -> Loaded:
    """The version's verified pipeline with its number and schema (cached)."""
    version_id = version if isinstance(version, int) else version.pk
    found = _loaded(version_id)
    if found is not None:
        return found
    refused = _refused.get(version_id)
    if refused and time.monotonic() - refused[0] < RETRY_REFUSED_SECONDS:
        raise refused[1]
    if isinstance(version, int):
        version = ModelVersion.objects.select_related("project").get(pk=version_id)
    try:
        if not version.artifact:
            raise ArtifactError("The version has no model file.", reason="not_a_model")
        try:
            with version.artifact.open("rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ArtifactError(
                f"The model file cannot be read ({type(exc).__name__}).",
                reason="not_a_model",
            ) from None
        pipeline, _header = load_model_from_bytes(
            data,
            key=settings.MODEL_SIGNING_KEY.encode(),
            expected_sha256=version.artifact_sha256 or None,
        )
        if not isinstance(pipeline, ServingPipeline):
            raise ArtifactError(
                "The model file holds no serving pipeline.", reason="wrong_model"
            )
    except ArtifactError as exc:
        refusal = ModelRefused(version_id, exc.message, exc.reason)
        with _lock:
            _refused[version_id] = (time.monotonic(), refusal)
            first = version_id not in _audited
            _audited.add(version_id)
        logger.error(
            "model version %s (v%s) refused at load: %s",
            version_id,
            version.version,
            exc.message,
        )
        if first:
            audit_record(
                actor=None,
                verb="model_version.load_refused",
                obj=version,
                project=version.project,
                data={
                    "version": version.version,
                    "reason": exc.reason,
                    "message": exc.message,
                },
            )
        raise refusal from None
    loaded = Loaded(
        version_id=version_id,
        version=version.version,
        pipeline=pipeline,
        schema=version.schema or {},
    )
    with _lock:
        _refused.pop(version_id, None)
        _cache[version_id] = loaded
        _cache.move_to_end(version_id)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def _live_values(endpoint: Endpoint) -> dict | None:
    """What is live on the endpoint: one indexed query, a few small values (the
    request path's cheap form of services.deployments.live_deployment)."""
    return (
        Deployment.objects.filter(
            endpoint_id=endpoint.pk, status=Deployment.Status.LIVE
        )
        .values(
            "id",
            "model_version_id",
            "unseen_categories",
            "previous__model_version_id",
        )
        .first()
    )


def _load_serving(endpoint: Endpoint, live: dict) -> Loaded:
    """The live version, or, when it is refused, the one that served before."""
    try:
        loaded = _load(live["model_version_id"])
    except ModelRefused as refusal:
        fallbacks = [live["previous__model_version_id"], _served.get(endpoint.pk)]
        for version_id in dict.fromkeys(v for v in fallbacks if v):
            if version_id == live["model_version_id"]:
                continue
            try:
                return _load(version_id)
            except ModelRefused:
                continue
        raise ServingUnavailable(
            "The live model version cannot be loaded and no earlier version can "
            f"take its place: {refusal.message}"
        ) from None
    _served[endpoint.pk] = loaded.version_id
    return loaded


def deployment_predict(*, endpoint: Endpoint, body, request_id: str) -> dict:
    """Predict the body's rows with what is live on the endpoint.

    Raises
    ------
    NothingLive
        No deployment is live on the endpoint (404).
    TooManyRows
        Past ``PREDICT_MAX_ROWS`` (413).
    RowError
        A body of neither shape, or rows the schema refuses (400).
    ServingUnavailable
        The live version and every fallback were refused at load (503).
    """
    rows = body_rows(body)
    limit = settings.PREDICT_MAX_ROWS
    if rows > limit:
        raise TooManyRows(rows, limit)
    live = _live_values(endpoint)
    if live is None:
        raise NothingLive(f"Nothing is live on {endpoint.slug}.")
    loaded = _load_serving(endpoint, live)
    frame, warnings = check_rows(body, loaded.schema, unseen=live["unseen_categories"])
    pipeline = loaded.pipeline
    predictions, probabilities = [], np.empty((0, 0))
    if rows:
        with single_threaded():
            predictions, probabilities = pipeline.predict_with_proba(frame)
    out = {
        "predictions": _json_list(predictions),
        "model_version": loaded.version,
        "request_id": request_id,
        "warnings": warnings,
    }
    if pipeline.has_proba:
        classes = [_json_value(c) for c in pipeline.classes or []]
        keys = [str(c) for c in classes]
        out["probabilities"] = [
            {k: _json_value(p) for k, p in zip(keys, row, strict=False)}
            for row in probabilities.tolist()
        ]
    return out


def _json_value(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_list(values) -> list:
    return [_json_value(v) for v in np.asarray(values, dtype=object).tolist()]


__all__ = [
    "Loaded",
    "ModelRefused",
    "NothingLive",
    "RowError",
    "ServingUnavailable",
    "TooManyRows",
    "deployment_predict",
    "serving_cache_clear",
    "serving_load",
]
