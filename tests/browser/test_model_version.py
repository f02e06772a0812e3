"""Step 9 in a real browser: register an experiment from its dashboard, read the
model version page (card, contract, schema, lineage, chart) and edit the card."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects.models import ModelVersion
from tests.registry_support import messy_prepared, trained_on
from tests.views.conftest import _fast_passwords, profile_jobs  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_it_registers_from_the_dashboard_and_edits_the_card(
    ui,
    owner,
    password,
    project,
    profile_jobs,  # noqa: F811
    tmp_path,
):
    prepared = messy_prepared(project, owner, profile_jobs, tmp_path)
    experiment = trained_on(profile_jobs, prepared, owner)
    ui.login(owner.username, password)
    ui.goto(f"/projects/{project.slug}/experiments/{experiment.pk}/")
    ui.shot("dashboard with the register button")
    ui.page.get_by_role("button", name="Register as model version").click()

    expect(
        ui.page.get_by_role("heading", name="Model version 1", exact=True)
    ).to_be_visible()
    assert ModelVersion.objects.get().experiment_id == experiment.pk
    ui.wait_for_charts("#reference")
    expect(ui.page.locator("#contract tbody tr")).to_have_count(2)
    # The columns the model reads: not the target, not the dropped identifier.
    expect(ui.page.locator("#schema tbody tr")).to_have_count(4)
    ui.shot("model version page")

    ui.page.get_by_text("Edit the card's text…").click()
    ui.page.get_by_label("Intended use").fill("")
    ui.page.get_by_role("button", name="Save the card").click()
    expect(ui.page.get_by_text("This field is required.")).to_be_visible()
    ui.shot("card refused")
    ui.page.get_by_label("Intended use").fill("Rank customers for retention calls.")
    ui.page.get_by_label("Limitations").fill("Not for customers under 18.")
    ui.page.get_by_role("button", name="Save the card").click()
    expect(ui.page.get_by_text("Saved the model card of version 1.")).to_be_visible()
    expect(ui.page.locator('[data-section="limitations"]')).to_contain_text(
        "Not for customers under 18."
    )
    ui.shot("card saved")
