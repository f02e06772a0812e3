"""Step 8 in a real browser: start a small Bayesian study from the step page,
watch the study page update with a real worker until it ends, and follow the link
to the experiment its best parameters trained."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from projects.models import Experiment, Job, Study, Trial
from projects.services.datasets import dataset_upload
from projects.services.experiments import experiment_create
from projects.services.features import (
    dataset_suggested_features,
    project_feature_spec_set,
)
from projects.services.preparation import dataset_prepare
from projects.services.projects import project_update

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}
SHOTS = Path("/tmp/shots")
# A cold worker imports pandas, scikit-learn and Optuna, runs six 3-fold trials,
# then trains the best and analyses it.
STUDY_TIMEOUT_MS = 120_000


@pytest.fixture
def trained(project, owner, run_jobs, write_mixed_csv):
    """Version 2 of 2,000 mixed rows, prepared, with a decision tree trained on it
    (step 6 done), so step 8 is open."""
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
    project_feature_spec_set(
        project=project,
        dataset=prepared,
        spec=dataset_suggested_features(dataset=prepared),
        user=owner,
    )
    experiment = experiment_create(
        project=project,
        dataset=prepared,
        algorithm="decision_tree",
        user=owner,
        cv_folds=3,
    )
    run_jobs()
    experiment.refresh_from_db()
    assert experiment.status == "succeeded", experiment.error
    return experiment


def _screenshot(ui, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / name), full_page=True)


def test_it_runs_a_bayesian_study_and_shows_its_best(
    ui, worker, trained, owner, password
):
    page = ui.page
    project = trained.project
    ui.login(owner.username, password)

    # From the experiment's dashboard to step 8, with the model chosen.
    # The dashboard loads plotly: do not wait for every chart on a busy machine.
    page.goto(
        ui.url(f"/projects/{project.slug}/experiments/{trained.pk}/"),
        wait_until="domcontentloaded",
    )
    page.get_by_role("link", name="Tune this model").click()
    expect(
        page.get_by_role("heading", name="Step 8: Hyperparameter tuning")
    ).to_be_visible()
    expect(page.get_by_label("Algorithm")).to_have_value("decision_tree")
    expect(page.get_by_label("Prepared version")).to_have_value("2")
    expect(page.locator("#tuning-space")).to_contain_text("Tuning Decision tree")
    depth = page.locator("#tuning-space [data-param=max_depth]")
    expect(depth.locator("[data-include]")).to_be_checked()
    expect(page.locator("#tuning-intro")).to_contain_text(
        "The first trial tries the algorithm's defaults"
    )

    # Another algorithm loads its own space; back to the tree.
    page.get_by_label("Algorithm").select_option("svm")
    expect(page.locator("#tuning-space")).to_contain_text("only searched when kernel")
    expect(page.locator("#tuning-space")).not_to_contain_text("Tuning Decision tree")
    page.get_by_label("Algorithm").select_option("decision_tree")
    expect(depth).to_be_visible()
    expect(page.locator("#tuning-space")).to_contain_text("Tuning Decision tree")

    page.get_by_label("Bayesian (Optuna TPE)").check()
    page.get_by_label("Max trials").fill("6")
    page.get_by_label("Cross-validation folds").fill("3")
    depth.get_by_label("max depth high").fill("12")
    ui.page.wait_for_timeout(200)
    _screenshot(ui, "step8.png")
    ui.shot("step 8 form")

    page.get_by_role("button", name="Start the study").click()
    heading = page.get_by_role("heading", name=re.compile(r"Study #\d+"))
    expect(heading).to_be_visible()
    study = Study.objects.get()
    assert study.source_experiment_id == trained.pk
    assert study.search_space["max_depth"]["high"] == 12
    expect(page.locator(".msg-success")).to_contain_text(f"Study #{study.pk} started")
    live = page.locator("#study-live")
    expect(live).to_have_attribute("hx-trigger", "every 2s")
    expect(live).to_contain_text("No trial has started yet")

    worker()
    # Trials appear while it runs, then it ends and stops polling.
    expect(page.locator("#study-trials tbody tr").first).to_be_visible(
        timeout=STUDY_TIMEOUT_MS
    )
    expect(live).to_have_attribute("data-status", "succeeded", timeout=STUDY_TIMEOUT_MS)
    expect(live).not_to_have_attribute(
        "hx-trigger", re.compile(".*"), timeout=STUDY_TIMEOUT_MS
    )
    expect(page.locator("#study-trials tbody tr")).to_have_count(6)
    expect(page.locator("tr.trial-row.is-best")).to_have_count(1)
    # The first trial tried the tree's default leaf size (its unlimited default
    # depth is outside the space, so that one was drawn).
    first = page.locator('tr.trial-row[data-trial="0"]')
    expect(first).to_contain_text("min_samples_leaf=1")
    expect(first.locator(".b-defaults")).to_have_text("defaults")
    study.refresh_from_db()
    # When another trial scored best, the page says whether its lead over the
    # defaults was more than the noise between folds, and so which was trained.
    selection = page.locator("#study-selection")
    if study.best_trial_number == 0:
        expect(selection).to_have_count(0)
    else:
        expect(selection).to_contain_text("the algorithm's defaults (trial 0)")
    best = page.locator(".stat-best .v")
    expect(best).to_have_text(re.compile(r"0\.\d+"))
    assert float(best.inner_text()) == pytest.approx(study.best_score, abs=1e-3)
    link = page.get_by_role("link", name="Open its dashboard")
    expect(link).to_have_attribute(
        "href", f"/projects/{project.slug}/experiments/{study.best_experiment_id}/"
    )
    charts = ui.wait_for_charts("#study-charts", at_least=3)
    assert charts >= 3
    page.wait_for_timeout(300)
    _screenshot(ui, "study.png")
    ui.shot("study finished")

    link.click()
    best_experiment = Experiment.objects.get(pk=study.best_experiment_id)
    heading = page.get_by_role("heading", name=best_experiment.name)
    expect(heading).to_be_visible()
    assert re.search(r"(best of|defaults kept by) study #\d+$", best_experiment.name)
    assert best_experiment.params["max_depth"] == study.chosen_params["max_depth"]
    # Let the dashboard analysis finish too, so the worker stops idle.
    deadline = time.monotonic() + 60
    while Job.objects.filter(status__in=Job.ACTIVE).exists():
        assert time.monotonic() < deadline, "the analysis jobs did not finish"
        time.sleep(0.5)


def test_it_shows_the_check_on_new_folds_until_it_ends(ui, trained, owner, password):
    project = trained.project
    study = Study.objects.create(
        project=project,
        dataset=trained.dataset,
        algorithm="decision_tree",
        strategy="random",
        search_space={
            "max_depth": {"type": "int", "low": 1, "high": 8, "log": False, "steps": 4}
        },
        metric=project.primary_metric,
        higher_is_better=project.higher_is_better,
        max_trials=4,
        cv_folds=3,
        optuna_name="check-page",
        status="finishing",
        started_at=timezone.now() - timedelta(seconds=30),
        trials_started=4,
        n_trials=4,
        best_score=0.81,
        best_params={"max_depth": 4},
        best_trial_number=1,
        # The best's 3 new folds are scored, and none of the defaults' yet.
        checking={"scores": [0.8, 0.79, 0.82, None, None, None], "claimed": 4},
    )
    for number, depth in enumerate((8, 4, 2, 6)):
        Trial.objects.create(
            study=study,
            number=number,
            params={"max_depth": depth},
            status="complete",
            score=0.81 if number == 1 else 0.7,
            intermediate=[0.7, 0.7, 0.7],
            seconds=1.0 + number,
            is_defaults=number == 0,
            finished_at=timezone.now(),
        )
    Job.objects.create(
        kind="study_check",
        queue="training",
        project=project,
        subject_type="study",
        subject_id=study.pk,
        status="running",
        message="Checking the defaults on new fold 1 of 3",
    )
    page = ui.page
    ui.login(owner.username, password)

    page.goto(ui.url(f"/projects/{project.slug}/studies/{study.pk}/"))

    live = page.locator("#study-live")
    expect(live.locator(".badge").first).to_have_text("Checking and training the best")
    expect(live).to_contain_text("on new folds that no trial used: 3 of 6 scored")
    expect(live).to_contain_text("Checking the defaults on new fold 1 of 3.")
    expect(live).to_have_attribute("hx-trigger", "every 2s")
    _screenshot(ui, "study-check.png")
    ui.shot("study checking the best on new folds")

    # The check ends (the defaults' lead holds: they are kept); the page
    # follows on its next poll and stops polling.
    Job.objects.filter(subject_id=study.pk).update(status="succeeded")
    confirm = {"gain": -0.01, "se": 0.02, "folds": 3, "seconds": 2.0}
    Study.objects.filter(pk=study.pk).update(
        status="succeeded",
        checking={},
        finished_at=timezone.now(),
        selection={
            "kept": "defaults",
            "trial": 0,
            "params": {"max_depth": 8},
            "score": 0.7,
            "best_trial": 1,
            "defaults_trial": 0,
            "gain": 0.11,
            "se": 0.01,
            "folds": 3,
            "confirm": confirm,
        },
    )
    expect(live).to_have_attribute("data-status", "succeeded", timeout=10_000)
    expect(live).not_to_contain_text("3 of 6 scored")
    expect(page.locator("#study-selection")).to_contain_text(
        "on 3 new folds that no trial used, it leads by -0.01"
    )
