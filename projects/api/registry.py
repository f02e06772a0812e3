"""Step 9 over the API: register model versions, read them, edit their cards."""

from __future__ import annotations

from django.core.paginator import Paginator
from ninja import Body, Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from projects.access import get_experiment_for, get_model_version_for, get_project_for
from projects.api.responses import reads, writes
from projects.api.schemas import BodyIn
from projects.models import ModelVersion, Role
from projects.services.registry import (
    CARD_MAX_LENGTH,
    DESCRIPTION_MAX,
    NAME_MAX,
    model_version_card_update,
    model_version_register,
)

router = Router(tags=["model versions"])

MAX_PER_PAGE = 200
# Text a person wrote: something besides spaces, and no NUL.
_SAID = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


class RegisterIn(BodyIn):
    name: str = Field("", max_length=NAME_MAX)
    description: str = Field("", max_length=DESCRIPTION_MAX)


class CardPatch(BodyIn):
    """The card's text sections; any other key is refused (the rest of a model
    version never changes). Sections left out keep their text."""

    model_config = ConfigDict(strict=True, extra="forbid")

    intended_use: str = Field(None, max_length=CARD_MAX_LENGTH, pattern=_SAID)
    data: str = Field(None, max_length=CARD_MAX_LENGTH)
    metrics: str = Field(None, max_length=CARD_MAX_LENGTH)
    fairness: str = Field(None, max_length=CARD_MAX_LENGTH)
    limitations: str = Field(None, max_length=CARD_MAX_LENGTH)
    notes: str = Field(None, max_length=CARD_MAX_LENGTH)


class Page(Schema):
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=MAX_PER_PAGE)


def model_version_summary(version: ModelVersion) -> dict:
    return {
        "id": version.pk,
        "version": version.version,
        "project_id": version.project_id,
        "experiment_id": version.experiment_id,
        "name": version.name,
        "algorithm": (version.lineage or {}).get("algorithm"),
        "passes": (version.contract or {}).get("passes"),
        "created_by": version.created_by.username if version.created_by else None,
        "created_at": version.created_at,
    }


def model_version_detail(version: ModelVersion) -> dict:
    return {
        "id": version.pk,
        "version": version.version,
        "project_id": version.project_id,
        "experiment_id": version.experiment_id,
        "name": version.name,
        "description": version.description,
        "schema": version.schema,
        "metrics": version.metrics,
        "contract": version.contract,
        "lineage": version.lineage,
        "card": version.card,
        "reference": version.reference,
        "artifact_sha256": version.artifact_sha256,
        "created_by": version.created_by.username if version.created_by else None,
        "created_at": version.created_at,
    }


@router.post("/experiments/{int:experiment_id}/register", response=writes({201: dict}))
def register(
    request,
    experiment_id: int,
    # Optional, but never null: no body (or {}) registers without a name.
    payload: Body[RegisterIn] = RegisterIn(),
):
    """Register a succeeded experiment as the project's next model version: the
    signed serving pipeline, input schema, metrics, contract, lineage, reference
    profile and model card. 400 (field ``experiment``) unless it succeeded."""
    experiment = get_experiment_for(request.user, experiment_id, need=Role.SCIENTIST)
    version = model_version_register(
        experiment=experiment,
        user=request.user,
        name=payload.name,
        description=payload.description,
    )
    return Status(201, model_version_detail(version))


@router.get("/projects/{int:project_id}/model-versions", response=reads({200: dict}))
def list_model_versions(request, project_id: int, paging: Query[Page]):
    """The project's model versions, newest first."""
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    qs = ModelVersion.objects.filter(project=project).select_related("created_by")
    qs = qs.only(
        "id",
        "version",
        "project_id",
        "experiment_id",
        "name",
        "lineage",
        "contract",
        "created_by__username",
        "created_at",
    ).order_by("-version")
    page = Paginator(qs, paging.per_page).get_page(paging.page)
    return {
        "count": page.paginator.count,
        "page": page.number,
        "pages": page.paginator.num_pages,
        "results": [model_version_summary(v) for v in page.object_list],
    }


@router.get("/model-versions/{int:version_id}", response=reads({200: dict}))
def get_model_version(request, version_id: int):
    """Schema, metrics, contract, lineage, card (and the reference profile)."""
    return model_version_detail(
        get_model_version_for(request.user, version_id, need=Role.VIEWER)
    )


@router.patch("/model-versions/{int:version_id}/card", response=writes({200: dict}))
def patch_card(request, version_id: int, payload: CardPatch):
    """Edit the card's text sections (scientists and the owner)."""
    version = get_model_version_for(request.user, version_id, need=Role.SCIENTIST)
    fields = payload.model_dump(exclude_unset=True)
    version = model_version_card_update(
        version=version, user=request.user, fields=fields
    )
    return model_version_detail(version)
