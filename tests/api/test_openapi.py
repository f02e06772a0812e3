from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/health": {"get"},
    "/api/projects": {"get", "post"},
    "/api/projects/{project_id}": {"get", "patch"},
    "/api/projects/{project_id}/datasets": {"get", "post"},
    "/api/datasets/{dataset_id}": {"get"},
    "/api/datasets/{dataset_id}/suggested-recipe": {"get"},
    "/api/datasets/{dataset_id}/preview": {"post"},
    "/api/datasets/{dataset_id}/prepare": {"post"},
    "/api/datasets/{dataset_id}/suggested-features": {"get"},
    "/api/datasets/{dataset_id}/features/preview": {"post"},
    "/api/projects/{project_id}/feature-spec": {"get", "put"},
    "/api/jobs/{job_id}": {"get"},
    "/api/jobs/{job_id}/cancel": {"post"},
    "/api/jobs/{job_id}/retry": {"post"},
    "/api/projects/{project_id}/catalog": {"get"},
    "/api/projects/{project_id}/experiments": {"get", "post"},
    "/api/experiments/{experiment_id}": {"get"},
    "/api/experiments/{experiment_id}/evaluation": {"get"},
    "/api/experiments/{experiment_id}/cancel": {"post"},
    "/api/experiments/{experiment_id}/evaluate-test": {"post"},
    "/api/experiments/{experiment_id}/threshold": {"post"},
    "/api/experiments/{experiment_id}/comments": {"get", "post"},
    "/api/projects/{project_id}/search-space": {"get"},
    "/api/projects/{project_id}/studies": {"get", "post"},
    "/api/studies/{study_id}": {"get"},
    "/api/studies/{study_id}/cancel": {"post"},
    "/api/experiments/{experiment_id}/register": {"post"},
    "/api/projects/{project_id}/model-versions": {"get"},
    "/api/model-versions/{version_id}": {"get"},
    "/api/model-versions/{version_id}/card": {"patch"},
    "/api/projects/{project_id}/deployments": {"get", "post"},
    "/api/deployments/{deployment_id}": {"get"},
    "/api/deployments/{deployment_id}/approve": {"post"},
    "/api/deployments/{deployment_id}/reject": {"post"},
    "/api/deployments/{deployment_id}/rollback": {"post"},
    "/api/projects/{project_id}/members": {"get", "post"},
    "/api/projects/{project_id}/members/{user_id}": {"delete"},
    "/api/projects/{project_id}/audit": {"get"},
    "/api/deployments/{deployment_id}/keys": {"get", "post"},
    "/api/deployments/{deployment_id}/keys/{key_id}": {"delete"},
}


def test_it_lists_every_path_and_method(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Lifecycle API"
    assert {path: set(ops) for path, ops in schema["paths"].items()} == PATHS


def test_it_declares_both_ways_to_authenticate(client):
    schemes = client.get("/api/openapi.json").json()["components"]["securitySchemes"]
    kinds = {(s["type"], s.get("scheme") or s.get("in")) for s in schemes.values()}
    assert ("http", "bearer") in kinds
    assert ("apiKey", "cookie") in kinds


def test_it_takes_the_upload_as_a_multipart_file(client):
    schema = client.get("/api/openapi.json").json()
    post = schema["paths"]["/api/projects/{project_id}/datasets"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert "202" in post["responses"]


def test_it_renders_the_docs(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert '<div id="swagger-ui">' in response.text
    assert "/static/ninja/swagger-ui-bundle.js" in response.text
