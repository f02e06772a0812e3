"""Steps 5 and 6 in a real browser: pick two candidates, change a parameter,
train them with a real worker and watch them finish with their scores."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from projects.models import Experiment, Job
from projects.services.datasets import dataset_upload
from projects.services.features import (
    dataset_suggested_features,
    project_feature_spec_set,
)
from projects.services.preparation import dataset_prepare
from projects.services.projects import project_update

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}
SHOTS = Path("/tmp/shots")
# A cold worker imports pandas and scikit-learn, then trains three experiments
# with 5-fold cross-validation and analyses two of them.
TRAINING_TIMEOUT_MS = 120_000


@pytest.fixture
def prepared(project, owner, run_jobs, write_mixed_csv):
    """Version 2: the 2,000 mixed rows cleaned by the suggested recipe and split,
    with the suggested features saved as the project default (step 4 done)."""
    dataset, _ = dataset_upload(
        project=project, user=owner, path=write_mixed_csv(), filename="customers.csv"
    )
    run_jobs()
    project_update(project=project, user=owner, target_column="churned")
    run_jobs()
    dataset.refresh_from_db()
    dataset_prepare(dataset=dataset, user=owner, recipe=None, split=SPLIT)
    run_jobs()
    prepared = project.datasets.get(version=2)
    assert prepared.status == "ready"
    project_feature_spec_set(
        project=project,
        dataset=prepared,
        spec=dataset_suggested_features(dataset=prepared),
        user=owner,
    )
    project.refresh_from_db()
    return project


def _candidate(page, key: str):
    return page.locator(f"#candidates [data-candidate={key}]")


def _screenshot(ui, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / name), full_page=True)


def test_it_trains_two_chosen_candidates_and_shows_their_scores(
    ui, worker, prepared, owner, password
):
    page = ui.page
    ui.login(owner.username, password)
    ui.goto(f"/projects/{prepared.slug}/steps/models/")
    expect(page.get_by_role("heading", name="Step 5: Model selection")).to_be_visible()
    expect(page.get_by_label("Prepared version")).to_have_value("2")
    expect(page.locator("#contract")).to_contain_text("f1_macro")
    expect(page.locator(".baseline-box")).to_contain_text("always trained")

    # The suggested short list (1,200 training rows) is ticked, with reasons.
    pick = {
        key: _candidate(page, key).locator("input[data-pick]")
        for key in (
            "logistic_regression",
            "random_forest",
            "gradient_boosting",
            "decision_tree",
        )
    }
    expect(pick["logistic_regression"]).to_be_checked()
    expect(pick["random_forest"]).to_be_checked()
    expect(pick["gradient_boosting"]).to_be_checked()
    expect(pick["decision_tree"]).not_to_be_checked()
    expect(_candidate(page, "gradient_boosting")).to_contain_text("Only 1,200 rows")
    button = page.locator("[data-train-button]")
    expect(button).to_have_text("Train 3 candidates")

    # Keep logistic regression, swap the ensembles for a shallower decision tree.
    pick["random_forest"].uncheck()
    pick["gradient_boosting"].uncheck()
    tree = _candidate(page, "decision_tree")
    expect(tree.locator("[data-settings-for]")).to_be_hidden()
    pick["decision_tree"].check()
    expect(tree.locator("[data-settings-for]")).to_be_visible()
    expect(
        _candidate(page, "random_forest").locator("[data-settings-for]")
    ).to_be_hidden()
    depth = tree.get_by_label("max depth")
    expect(depth).to_have_value("8")
    depth.fill("4")
    expect(button).to_have_text("Train 2 candidates")
    _screenshot(ui, "step5.png")
    ui.shot("step 5 two candidates")

    button.click()
    expect(page.get_by_role("heading", name="Step 6: Training")).to_be_visible()
    expect(page.locator(".msg-success")).to_contain_text(
        "Training 2 candidates plus the baseline on version 2"
    )
    rows = page.locator("#training-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#training-rows")).to_have_attribute("hx-trigger", "every 2s")
    expect(rows.first.locator("progress")).to_be_attached()
    ui.shot("step 6 queued")

    worker()
    succeeded = page.locator("#training-rows tbody tr.exp-succeeded")
    expect(succeeded).to_have_count(3, timeout=TRAINING_TIMEOUT_MS)
    # Nothing is active any more: the table stopped polling.
    expect(page.locator("#training-rows")).not_to_have_attribute(
        "hx-trigger", re.compile(".*")
    )
    expect(page.locator("#training-rows progress")).to_have_count(0)
    tree_row = rows.filter(has_text="Decision tree")
    expect(tree_row.locator("td.score").first).to_contain_text("±")
    expect(tree_row.locator("td.score").nth(1)).to_have_text(re.compile(r"0\.\d+"))
    expect(
        rows.filter(has_text="Logistic regression").locator("td.score").nth(1)
    ).to_have_text(re.compile(r"0\.\d+"))
    expect(rows.filter(has_text="baseline")).to_have_count(1)
    link = tree_row.get_by_role("link", name=re.compile("Decision tree"))
    experiment = Experiment.objects.get(algorithm="decision_tree")
    expect(link).to_have_attribute(
        "href", f"/projects/{prepared.slug}/experiments/{experiment.pk}/"
    )
    expect(page.locator(".stepper li").nth(5)).to_have_class(re.compile(r"\bst-done\b"))
    _screenshot(ui, "step6.png")
    ui.shot("step 6 trained")

    assert experiment.params["max_depth"] == 4
    assert experiment.status == "succeeded"
    assert experiment.baseline.is_baseline
    assert Experiment.objects.filter(project=prepared).count() == 3
    # Let the dashboard analyses finish too, so the worker stops idle.
    deadline = time.monotonic() + 60
    while Job.objects.filter(status__in=Job.ACTIVE).exists():
        assert time.monotonic() < deadline, "the analysis jobs did not finish"
        time.sleep(0.5)
