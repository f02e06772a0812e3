from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from ninja import Field, Schema

TaskTypeLiteral = Literal["classification", "regression", "clustering"]


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


class ProjectIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    task_type: TaskTypeLiteral
    primary_metric: str = Field(..., min_length=1, max_length=40)
    success_threshold: float | None = None
    description: str = ""
    business_goal: str = ""
    latency_budget_ms: int | None = Field(None, ge=1, le=600_000)


class ProjectPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    task_type: TaskTypeLiteral | None = None
    primary_metric: str | None = Field(None, min_length=1, max_length=40)
    success_threshold: float | None = None
    description: str | None = None
    business_goal: str | None = None
    latency_budget_ms: int | None = Field(None, ge=1, le=600_000)
    target_column: str | None = Field(None, max_length=255)
    sensitive_columns: list[str] | None = None


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


class PreviewIn(Schema):
    recipe: dict


class PrepareIn(Schema):
    recipe: dict | None = None
    split: dict


class DatasetRef(Schema):
    id: int
    version: int


class PrepareOut(Schema):
    dataset: DatasetRef
    job: JobRef
