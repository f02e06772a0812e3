from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import BeforeValidator, ConfigDict, model_validator

from projects.api.responses import ErrorOut
from projects.ml.catalog import CATALOG
from projects.ml.metrics import BY_TASK
from projects.models import METRIC_RANGES

TaskTypeLiteral = Literal["classification", "regression", "clustering"]
# Every metric and algorithm of any task (which fit a task: METRIC_FITS_TASK, and
# GET /api/projects/{id}/catalog for algorithms).
MetricLiteral = Literal[tuple(m for metrics in BY_TASK.values() for m in metrics)]
AlgorithmLiteral = Literal[tuple(dict.fromkeys(k for t in CATALOG.values() for k in t))]


def _when(field: str, value: str, then: dict) -> dict:
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {"properties": then},
    }


def _bounds(low: float | None, high: float | None) -> dict:
    return {
        **({"minimum": low} if low is not None else {}),
        **({"maximum": high} if high is not None else {}),
    }


# In the document: the primary metric must fit the task type, and the success
# threshold lie in the metric's range (Project.clean checks both).
METRIC_FITS_TASK = {
    "allOf": [
        *(
            _when("task_type", task, {"primary_metric": {"enum": list(metrics)}})
            for task, metrics in BY_TASK.items()
        ),
        *(
            _when("primary_metric", metric, {"success_threshold": _bounds(*bounds)})
            for metric, bounds in METRIC_RANGES.items()
            if bounds != (None, None)
        ),
    ]
}


def _whole(value):
    # JSON Schema's "integer" includes 5.0; strict pydantic would refuse it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def Int(ge: int, le: int):
    """An integer of a JSON body in [ge, le] (bodies are strict: no "5", no
    true). The bounds go before the validator, or the document loses them."""
    return Annotated[int, Field(ge=ge, le=le), BeforeValidator(_whole)]


# The id of a stored object: a database key.
Id = Int(1, 2**63 - 1)


NUL_MESSAGE = "text must not contain the NUL character (\\u0000)"


def nul_path(value, path: str = "") -> str | None:
    """The path of the first text (key or value) holding a NUL character, which
    PostgreSQL cannot store; None when there is none."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            # A NUL in a key is shown escaped: answers never carry one.
            shown = str(key).replace("\x00", "\\u0000")
            here = f"{path}.{shown}" if path else shown
            if "\x00" in str(key):
                return here
            found = nul_path(item, here)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


class BodyIn(Schema):
    """A JSON request body: values are taken as the document types them (no
    ``true`` for a number, no ``"5"`` for an integer), and no text holds a NUL
    character (the document says so with a pattern on every string)."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data):
        # ninja hands the body over wrapped (a DjangoGetter around the dict).
        # Keys the model does not declare are ignored, and so never stored.
        data = getattr(data, "_obj", data)
        if isinstance(data, dict):
            found = nul_path({k: v for k, v in data.items() if k in cls.model_fields})
        else:
            found = nul_path(data)
        if found:
            raise ValueError(f"{found}: {NUL_MESSAGE}")
        return data


class JobOut(Schema):
    id: UUID
    kind: str
    status: str
    progress: int
    message: str
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobRef(Schema):
    id: UUID
    status: str


class ProjectIn(BodyIn):
    model_config = ConfigDict(strict=True, json_schema_extra=METRIC_FITS_TASK)

    name: str = Field(..., min_length=1, max_length=120)
    task_type: TaskTypeLiteral
    primary_metric: MetricLiteral
    success_threshold: float | None = None
    description: str = ""
    business_goal: str = ""
    latency_budget_ms: Int(1, 600_000) | None = None


class ProjectPatch(BodyIn):
    # Optional, and null only where null means "none" (no threshold, no
    # budget): a project always has a name, a task, a metric, texts and columns.
    name: str = Field(None, min_length=1, max_length=120)
    task_type: TaskTypeLiteral = None
    primary_metric: MetricLiteral = None
    success_threshold: float | None = None
    description: str = None
    business_goal: str = None
    latency_budget_ms: Int(1, 600_000) | None = None
    target_column: str = Field(None, max_length=255)
    sensitive_columns: list[str] = None


class ProjectOut(Schema):
    id: int
    slug: str
    name: str
    description: str
    task_type: str
    business_goal: str
    primary_metric: str
    higher_is_better: bool
    success_threshold: float | None
    latency_budget_ms: int | None
    target_column: str
    sensitive_columns: list[str]
    created_at: datetime
    updated_at: datetime


class DatasetCreated(Schema):
    id: int
    version: int
    job: JobRef


class DatasetSummary(Schema):
    id: int
    project_id: int
    version: int
    parent_id: int | None
    original_name: str
    source_format: str
    sha256: str
    n_rows: int
    n_columns: int
    size_bytes: int
    upload_bytes: int
    status: str
    created_by: str | None
    created_at: datetime


class TestLookOut(Schema):
    """One look at a version's test split: which experiment, when, by whom."""

    experiment_id: int
    at: datetime
    by: str | None


class TestSplitUsedOut(ErrorOut):
    """409 of a second look at a version's test split without ``confirm``."""

    test_looks: list[TestLookOut]


class DatasetOut(DatasetSummary):
    columns: list[dict]
    warnings: list[dict]
    profile: dict | None
    analysis: dict | None
    job: JobRef | None
    recipe: dict | None
    report: list[dict] | None
    split: dict | None
    error: str
    test_looks: list[TestLookOut]


class PreviewIn(BodyIn):
    recipe: dict


class PrepareIn(BodyIn):
    recipe: dict | None = None
    split: dict


class DatasetRef(Schema):
    id: int
    version: int


class PrepareOut(Schema):
    dataset: DatasetRef
    job: JobRef
