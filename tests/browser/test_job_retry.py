"""Retry in the browser: offered on a failed job's latest attempt only."""

from __future__ import annotations

import pytest
from django.db import transaction
from playwright.sync_api import expect

from projects.services.datasets import dataset_upload
from projects.services.jobs import job_create, job_fail
from tests.helpers import write_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_offers_retry_only_on_the_latest_failed_attempt(
    ui, owner, password, project, tmp_path, run_jobs
):
    dataset, _ingest = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "c.csv"),
        filename="c.csv",
    )
    run_jobs()
    # A failed ingest leaves nothing to retry (upload again); the version's
    # analysis job is retried in place.
    with transaction.atomic():
        job = job_create(
            kind="analyze",
            project=project,
            subject_type="dataset",
            subject_id=dataset.pk,
            user=owner,
        )
    job_fail(job_id=job.pk, reason="Worker lost: no heartbeat for 40 s; retry it.")
    page = ui.page
    ui.login(owner.username, password)
    ui.goto(f"/projects/{project.slug}/steps/data/")
    box = page.locator("#profile .job")
    expect(box).to_contain_text("Worker lost")
    retry = box.get_by_role("button", name="Retry")
    expect(retry).to_be_visible()
    ui.shot("failed job offers retry")

    retry.click()
    expect(page.locator(".msg-success")).to_contain_text("Started again.")
    expect(page.locator("#profile .job")).to_contain_text("Waiting for a worker")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)
    ui.shot("retried job waits for a worker")

    # The older attempt's status fragment keeps its reason, without Retry.
    fragment = page.request.get(ui.url(f"/jobs/{job.id}/status/")).text()
    assert "Worker lost" in fragment
    assert "/retry/" not in fragment
