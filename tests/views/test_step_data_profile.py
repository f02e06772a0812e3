"""Step 2, the profile of an uploaded version as the user sees it."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Dataset

pytestmark = pytest.mark.django_db


def _url(project):
    return f"/projects/{project.slug}/steps/data/"


@pytest.mark.django_db(transaction=True)
def test_it_shows_the_profile_after_the_job_ran(
    client_for, owner, project, churn_csv, run_jobs
):
    client = client_for(owner)
    client.post(
        _url(project),
        {
            "action": "upload",
            "file": SimpleUploadedFile("c.csv", churn_csv.read_bytes()),
        },
    )
    before = client.get(_url(project))
    assert "Reading, checking and profiling the upload" in before.text
    assert 'hx-trigger="every 1s"' in before.text

    run_jobs()

    assert Dataset.objects.get().status == "ready"
    response = client.get(_url(project))
    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' not in response.text
    for column in ("age", "income", "city", "sex", "churn"):
        assert f'<h3 title="{column}">{column}</h3>' in response.text
    assert re.search(r'<div class="chart" data-figure="fig-\d+"', response.text)


@pytest.mark.parametrize("role", ["viewer", "approver", "scientist"])
def test_it_shows_the_profile_to_every_member(
    client_for, project, member, role, ready_dataset
):
    response = client_for(member(role)).get(_url(project))
    assert response.status_code == 200
    assert "Profile of version 1" in response.text
    assert '<h3 title="income">income</h3>' in response.text


def test_it_shows_the_warnings(client_for, owner, project, ready_dataset):
    warnings = ready_dataset.profile["warnings"]
    assert warnings, "the helper table has missing income values"
    response = client_for(owner).get(_url(project))
    assert f"{len(warnings)} warning" in response.text
    first = warnings[0]
    assert f'<span class="tag">{first["code"]}</span>' in response.text


def test_it_draws_a_chart_per_column(client_for, owner, project, ready_dataset):
    response = client_for(owner).get(_url(project))
    charts = re.findall(r'<div class="chart" data-figure="(fig-\d+)"', response.text)
    assert len(charts) >= 5
    for element_id in charts:
        assert f'<template class="figure-json" id="{element_id}">' in response.text


def test_it_lists_the_version_with_its_hash(client_for, owner, project, ready_dataset):
    response = client_for(owner).get(_url(project))
    assert f'<code title="{ready_dataset.sha256}">' in response.text
    assert "200 × 5" in response.text


def test_it_shows_an_older_version_when_asked(
    client_for, owner, project, ready_dataset, churn_csv, profile_jobs
):
    from projects.services.datasets import dataset_upload

    with profile_jobs():
        dataset_upload(project=project, user=owner, path=churn_csv, filename="v2.csv")
    response = client_for(owner).get(_url(project) + "?version=1")
    assert "Profile of version 1" in response.text
    response = client_for(owner).get(_url(project))
    assert "Profile of version 2" in response.text


def test_it_pages_through_many_columns(
    client_for, owner, project, tmp_path, profile_jobs
):
    import pandas as pd

    from projects.services.datasets import dataset_upload

    path = tmp_path / "wide.csv"
    pd.DataFrame({f"col{i:02d}": range(20) for i in range(15)}).to_csv(
        path, index=False
    )
    with profile_jobs():
        dataset_upload(project=project, user=owner, path=path, filename="wide.csv")
    first = client_for(owner).get(_url(project))
    assert "Columns 1–12 of 15" in first.text
    assert '<h3 title="col14">' not in first.text
    second = client_for(owner).get(_url(project) + "?version=1&page=2")
    assert '<h3 title="col14">col14</h3>' in second.text
