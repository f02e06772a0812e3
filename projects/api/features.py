from __future__ import annotations

from ninja import Router, Schema

from projects.access import get_dataset_for, get_project_for
from projects.api.responses import reads, writes
from projects.api.schemas import BodyIn, Id
from projects.models import Role
from projects.services.features import (
    dataset_features_preview,
    dataset_suggested_features,
    project_feature_spec_set,
)

router = Router(tags=["features"])


class FeaturesPreviewIn(BodyIn):
    spec: dict


class FeatureSpecIn(BodyIn):
    dataset_id: Id
    spec: dict


class FeatureSpecOut(Schema):
    spec: dict | None


@router.get(
    "/datasets/{int:dataset_id}/suggested-features", response=reads({200: dict})
)
def suggested_features(request, dataset_id: int):
    """The feature spec proposed from this version's profile."""
    dataset = get_dataset_for(request.user, dataset_id, need=Role.VIEWER)
    return dataset_suggested_features(dataset=dataset)


@router.post(
    "/datasets/{int:dataset_id}/features/preview", response=writes({200: dict})
)
def features_preview(request, dataset_id: int, payload: FeaturesPreviewIn):
    """Fit the spec on the training rows: output feature names, shape and a sample."""
    dataset = get_dataset_for(request.user, dataset_id, need=Role.SCIENTIST)
    return dataset_features_preview(dataset=dataset, spec=payload.spec)


@router.get(
    "/projects/{int:project_id}/feature-spec", response=reads({200: FeatureSpecOut})
)
def get_feature_spec(request, project_id: int):
    """The project's default feature spec (null until one is saved)."""
    project = get_project_for(request.user, project_id, need=Role.VIEWER)
    return {"spec": project.feature_spec}


@router.put(
    "/projects/{int:project_id}/feature-spec", response=writes({200: FeatureSpecOut})
)
def put_feature_spec(request, project_id: int, payload: FeatureSpecIn):
    """Check a spec against a version of the project's data and make it the
    default for new experiments."""
    project = get_project_for(request.user, project_id, need=Role.SCIENTIST)
    dataset = get_dataset_for(request.user, payload.dataset_id, need=Role.SCIENTIST)
    spec = project_feature_spec_set(
        project=project, dataset=dataset, spec=payload.spec, user=request.user
    )
    return {"spec": spec}
