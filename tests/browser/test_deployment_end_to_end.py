"""Step 9 from end to end in a real browser, as the issue tells it: a scientist
registers a trained experiment from its dashboard and asks for a deployment; an
approver reads the evidence pack and approves; the scientist makes a key, and the
page's own curl example, run in a shell, gets a prediction from the live model."""

from __future__ import annotations

import json
import subprocess

import pytest
from playwright.sync_api import expect

from projects.models import Deployment
from tests.factories import MembershipFactory, UserFactory
from tests.registry_support import messy_prepared, trained_on
from tests.views.conftest import _fast_passwords, profile_jobs  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_goes_from_a_trained_experiment_to_a_prediction(
    ui,
    project,
    owner,
    password,
    profile_jobs,  # noqa: F811
    tmp_path,
):
    sam, ada = UserFactory(username="sam"), UserFactory(username="ada")
    MembershipFactory(project=project, user=sam, role="scientist")
    MembershipFactory(project=project, user=ada, role="approver")
    experiment = trained_on(
        profile_jobs, messy_prepared(project, owner, profile_jobs, tmp_path), owner
    )

    # The scientist registers the experiment and asks for it on staging.
    ui.login("sam", password)
    ui.goto(f"/projects/{project.slug}/experiments/{experiment.pk}/")
    ui.page.get_by_role("button", name="Register as model version").click()
    expect(
        ui.page.get_by_role("heading", name="Model version 1", exact=True)
    ).to_be_visible()
    ui.goto(f"/projects/{project.slug}/steps/deployment/")
    form = ui.page.locator("form.request-form").first
    form.get_by_label("Comment").fill("First model for the retention calls.")
    form.get_by_role("button", name="Request deployment of v1").click()
    expect(ui.page.locator("#status")).to_have_text("Pending approval")
    ui.shot("request as the scientist")
    ui.page.get_by_role("button", name="Log out").click()

    # The approver finds it in the queue, reads the evidence and approves.
    ui.login("ada", password)
    expect(ui.page.locator("#nav-approvals .nav-count")).to_have_text("1")
    ui.page.locator("#nav-approvals").click()
    ui.page.get_by_role("link", name="Review").click()
    for part in ("#ev-contract", "#ev-metrics", "#ev-card"):
        expect(ui.page.locator(part)).to_be_visible()
    ui.shot("evidence pack as the approver")
    acknowledge = ui.page.locator("#id_acknowledge")
    if acknowledge.count():  # staging warns when a check fails
        acknowledge.check()
    ui.page.get_by_label("Comment").fill("Evidence read; fine for staging.")
    ui.page.get_by_role("button", name="Approve and put live").click()
    expect(ui.page.locator("#status")).to_have_text("Live")
    live = Deployment.objects.get(status="live")
    assert (live.requested_by, live.decided_by) == (sam, ada)
    ui.page.get_by_role("button", name="Log out").click()

    # The scientist makes a key; the page's curl example answers with a prediction.
    ui.login("sam", password)
    ui.goto(f"/projects/{project.slug}/deployments/{live.pk}/")
    ui.page.locator("#key-name").fill("billing service")
    ui.page.get_by_role("button", name="Create key").click()
    expect(ui.page.locator("#new-key")).to_be_visible()
    ui.shot("live deployment with its new key")
    curl = ui.page.locator("#curl-example").inner_text()
    assert ui.page.locator("#new-key").inner_text() in curl
    done = subprocess.run(
        ["bash", "-c", curl + " --silent --show-error --fail-with-body"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    answer = json.loads(done.stdout)
    assert answer["model_version"] == 1
    assert answer["predictions"][0] in ("yes", "no")
    assert set(answer["probabilities"][0]) == {"yes", "no"}
