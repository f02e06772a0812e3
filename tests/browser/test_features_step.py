"""Step 4 in a real browser: change treatments, preview, save the default, reload."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from projects.models import Project
from projects.services.datasets import dataset_upload
from projects.services.preparation import dataset_prepare
from projects.services.projects import project_update

pytestmark = pytest.mark.browser

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}


def _features_path(project) -> str:
    return f"/projects/{project.slug}/steps/features/"


@pytest.fixture
def prepared(project, owner, run_jobs, write_mixed_csv):
    """Version 2: the 2,000 mixed rows cleaned by the suggested recipe and split."""
    dataset, _ = dataset_upload(
        project=project, user=owner, path=write_mixed_csv(), filename="customers.csv"
    )
    run_jobs()
    project_update(project=project, user=owner, target_column="churned")
    run_jobs()
    dataset.refresh_from_db()
    dataset_prepare(dataset=dataset, user=owner, recipe=None, split=SPLIT)
    run_jobs()
    assert project.datasets.get(version=2).status == "ready"
    return project


def _row(page, column: str):
    return page.locator(f"#features-editor tr[data-column='{column}']")


def _treatment(page, column: str):
    return _row(page, column).get_by_label(f"Treatment of {column}")


def _scale(page, column: str):
    return _row(page, column).get_by_role("combobox", name="Scale")


def _sent_spec(page) -> dict:
    return json.loads(page.locator("input[name=spec]").input_value())


def test_it_walks_a_user_through_feature_engineering(ui, prepared, owner, password):
    page = ui.page
    ui.login(owner.username, password)
    ui.goto(_features_path(prepared))
    expect(
        page.get_by_role("heading", name="Step 4: Feature engineering")
    ).to_be_visible()
    expect(page.get_by_label("Version")).to_have_value("2")
    steps = page.locator(".stepper li")
    expect(steps.nth(3)).to_have_class(re.compile(r"\bst-current\b"))
    expect(steps.nth(4)).to_contain_text("waits for step 4, Feature engineering")

    # The suggestion, one row per column of the prepared version (customer_id was
    # dropped in step 3); the target is not an input.
    expect(_row(page, "customer_id")).to_have_count(0)
    expect(_row(page, "churned")).to_contain_text("target (not an input)")
    expect(_row(page, "income")).to_contain_text("log for the skew")
    age = _row(page, "age")
    expect(age.get_by_label("Treatment of age")).to_have_value("numeric")
    assert "churned" not in _sent_spec(page)["columns"]
    ui.shot("suggested features")

    # Drop a column, change a scaler, add an interaction: the JSON follows.
    region = _row(page, "region")
    region.get_by_role("combobox", name="Encoding").select_option("ordinal")
    _treatment(page, "region").select_option("text")
    expect(region.get_by_role("spinbutton", name="Words kept")).to_have_value("200")
    _treatment(page, "region").select_option("categorical")
    expect(region.get_by_role("combobox", name="Encoding")).to_have_value("ordinal")
    _treatment(page, "region").select_option("drop")
    expect(
        _row(page, "region").locator("[data-kind-options=categorical]")
    ).to_be_hidden()
    age.get_by_role("combobox", name="Scale").select_option("minmax")
    page.get_by_role("button", name="+ Add interaction").click()
    pair = page.locator("#features-editor [data-pair]")
    pair.get_by_label("First column of the interaction").select_option("age")
    pair.get_by_label("Second column of the interaction").select_option("income")
    expect(age.locator("[data-changed]")).to_be_visible()
    expect(age.locator("[data-changed]")).to_contain_text("changed Options differ")
    expect(_row(page, "plan").locator("[data-changed]")).to_be_hidden()
    sent = _sent_spec(page)
    assert sent["columns"]["region"] == {"kind": "drop"}
    assert sent["columns"]["age"]["scaler"] == "minmax"
    assert sent["interactions"] == [["age", "income"]]

    # A wrong option: the error sits on that column's row.
    age.get_by_role("spinbutton", name="Bins").fill("1")
    expect(age.get_by_role("combobox", name="Scale")).to_be_disabled()
    page.get_by_role("button", name="Preview the model inputs").click()
    age = _row(page, "age")
    expect(age).to_have_class(re.compile(r"\bhas-error\b"))
    expect(age.locator("[data-field=bins] .error")).to_contain_text(
        "greater than or equal to 2"
    )
    expect(page.locator("#features-preview")).to_have_count(0)
    expect(_treatment(page, "region")).to_have_value("drop")
    ui.shot("inline feature error")
    age.get_by_role("spinbutton", name="Bins").fill("")
    expect(age.get_by_role("combobox", name="Scale")).to_be_enabled()
    age.get_by_role("combobox", name="Scale").select_option("minmax")

    # Preview: the model inputs, grouped by the column they come from.
    page.get_by_role("button", name="Preview the model inputs").click()
    preview = page.locator("#features-preview")
    expect(preview).to_contain_text(re.compile(r"Fitted on [\d,]+ training rows"))
    names = preview.locator(".fx-names")
    expect(names).to_contain_text("age*income")
    expect(names).to_contain_text("signup_date_dayofweek")
    expect(names.locator("dt", has_text="plan")).to_contain_text("3")
    expect(names).not_to_contain_text("region_")
    expect(preview.locator("table.fx-sample tbody tr")).to_have_count(5)
    ui.wait_for_charts("#features-preview")
    n_out = int(preview.locator("[data-n-features]").inner_text().replace(",", ""))
    expect(preview.locator("table.fx-sample thead th")).to_have_count(n_out)
    expect(_scale(page, "age")).to_have_value("minmax")
    preview.scroll_into_view_if_needed()
    ui.shot("features preview")

    # Save, then reload: the page starts from the saved default.
    page.get_by_role("button", name="Save as project default").click()
    expect(page.locator(".msg-success")).to_contain_text("Saved as the project default")
    expect(page.locator("[data-save-state]")).to_contain_text("saved")
    expect(steps.nth(3)).to_have_class(re.compile(r"\bst-done\b"))
    saved = Project.objects.get(pk=prepared.pk).feature_spec
    assert saved["columns"]["region"]["kind"] == "drop"
    assert saved["columns"]["age"]["scaler"] == "minmax"
    assert saved["interactions"] == [["age", "income"]]
    page.reload()
    expect(page.locator("#saved")).to_contain_text("Project default saved by olivia")
    expect(_treatment(page, "region")).to_have_value("drop")
    expect(_scale(page, "age")).to_have_value("minmax")
    expect(page.locator("#features-editor [data-pair]")).to_have_count(1)
    # An edit says it is not saved yet.
    _row(page, "plan").get_by_role("combobox", name="Encoding").select_option("ordinal")
    expect(page.locator("[data-save-state]")).to_contain_text("unsaved changes")
    _row(page, "plan").get_by_role("combobox", name="Encoding").select_option("onehot")
    expect(page.locator("[data-save-state]")).not_to_contain_text("unsaved")
    ui.shot("saved default")


def test_a_viewer_reads_the_saved_spec_without_controls(
    ui, prepared, owner, member, password
):
    from projects.services.features import (
        dataset_suggested_features,
        project_feature_spec_set,
    )

    version = prepared.datasets.get(version=2)
    spec = dataset_suggested_features(dataset=version)
    spec["columns"]["region"] = {"kind": "drop"}
    project_feature_spec_set(project=prepared, dataset=version, spec=spec, user=owner)
    viewer = member("viewer")
    page = ui.page
    ui.login(viewer.username, password)
    ui.goto(_features_path(prepared))
    expect(page.get_by_role("heading", name="Saved feature spec")).to_be_visible()
    expect(page.locator("tr[data-column=region]")).to_contain_text(
        "Drop (not an input)"
    )
    expect(page.locator("select[data-spec-kind]")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Preview|Save"))).to_have_count(0)
    ui.shot("viewer features page")
