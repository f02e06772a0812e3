"""Step 7 in a real browser: the team table, compare, a dashboard, the threshold
explorer and the once-only final evaluation on test (a real worker)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.models import Dataset, Experiment, Job
from projects.services.datasets import dataset_upload
from projects.services.experiments import experiment_create
from projects.services.features import (
    dataset_suggested_features,
    project_feature_spec_set,
)
from projects.services.preparation import dataset_prepare, dataset_suggested_recipe
from projects.services.projects import project_update
from tests.browser.conftest import JOB_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}


def train_two(
    project,
    owner,
    run_jobs,
    csv_path,
    target="churned",
    first_algorithm="logistic_regression",
):
    """Upload, profile, prepare (suggested recipe), then train two candidates
    (by default a logistic regression and a random forest) and the baseline,
    with their analyses."""
    dataset_upload(project=project, user=owner, path=csv_path, filename="data.csv")
    run_jobs()
    project_update(project=project, user=owner, target_column=target)
    run_jobs()
    source = Dataset.objects.get(project=project, version=1)
    dataset_prepare(
        dataset=source,
        user=owner,
        recipe=dataset_suggested_recipe(dataset=source),
        split=SPLIT,
    )
    run_jobs()
    prepared = Dataset.objects.get(project=project, version=2)
    assert prepared.status == "ready", prepared.error
    project_update(project=project, user=owner, sensitive_columns=["region"])
    run_jobs()
    project_feature_spec_set(
        project=project,
        dataset=prepared,
        spec=dataset_suggested_features(dataset=prepared),
        user=owner,
    )
    first = experiment_create(
        project=project,
        dataset=prepared,
        algorithm=first_algorithm,
        user=owner,
        cv_folds=3,
    )
    second = experiment_create(
        project=project,
        dataset=prepared,
        algorithm="random_forest",
        params={"n_estimators": 40, "max_depth": 6},
        user=owner,
        cv_folds=3,
    )
    for _round in range(3):  # training, then the analyses it starts
        run_jobs()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert "analysis" in first.evaluation and "analysis" in second.evaluation
    return first, second


@pytest.fixture
def two_trained(project, owner, run_jobs, write_mixed_csv):
    project.success_threshold = 0.6
    project.latency_budget_ms = 50
    project.save()
    return train_two(project, owner, run_jobs, write_mixed_csv(rows=1000))


def test_it_walks_the_team_through_evaluation(ui, worker, two_trained, owner, password):
    first, second = two_trained
    project = first.project
    page = ui.page
    ui.login(owner.username, password)

    # The team view: leaderboard, the table, parallel coordinates.
    ui.goto(f"/projects/{project.slug}/steps/evaluation/")
    expect(page.get_by_role("heading", name="Step 7: Evaluation")).to_be_visible()
    rows = page.locator(".ev-table tbody tr")
    expect(rows).to_have_count(3)  # two candidates and the baseline
    expect(page.locator(".ev-table")).to_contain_text("Random forest")
    expect(page.locator(".ev-table")).to_contain_text("baseline")
    ui.wait_for_charts("#leaderboard")
    compare = page.get_by_role("button", name="Compare selected")
    expect(compare).to_be_disabled()
    ui.shot("step 7 team view")

    # Select both candidates and compare: only the parameters that differ.
    page.get_by_label(f"Select {first.name}").check()
    page.get_by_label(f"Select {second.name}").check()
    expect(page.locator("[data-compare-hint]")).to_have_text("2 selected.")
    compare.click()
    expect(page.get_by_role("heading", name="Comparing 2 experiments")).to_be_visible()
    shown = page.locator("tr[data-param]")
    names = shown.evaluate_all("rows => rows.map(r => r.dataset.param)")
    assert "n_estimators" in names and "C" in names
    every = set(first.params) | set(second.params)
    same = {n for n in every if first.params.get(n, "—") == second.params.get(n, "—")}
    assert same and not (same & set(names)), "a parameter that is the same is shown"
    expect(page.locator("#params")).to_contain_text("showing only what differs")
    ui.wait_for_charts("#overlays", at_least=2)
    ui.shot("compare")
    page.get_by_role("link", name="Show all parameters").click()
    expect(shown).to_have_count(len(every))
    expect(page.locator("#params")).to_contain_text(f"showing all {len(every)}")

    # One dashboard: the verdict, charts, the threshold explorer.
    page.locator(f"th.cmp-exp a[href$='/experiments/{second.pk}/']").click()
    expect(page.locator(".verdict-badge")).to_have_text(re.compile("PASS|FAIL"))
    ui.wait_for_charts("#charts", at_least=4)
    ui.wait_for_charts("#analysis", at_least=3)
    expect(page.locator("#analysis .verdict-line")).to_be_visible()
    counts = page.locator("[data-view=confusion-counts]")
    share = page.locator("[data-view=confusion-share]")
    expect(share).to_be_hidden()
    page.get_by_role("button", name="Share of each true class").click()
    expect(share).to_be_visible()
    expect(counts).to_be_hidden()
    ui.shot("classification dashboard")

    slider = page.locator("[data-threshold-input]")
    precision = page.locator("[data-stat=precision]")
    recall = page.locator("[data-stat=recall]")
    before = (precision.inner_text(), recall.inner_text())
    slider.fill("0.3")
    expect(page.locator("[data-threshold-value]")).to_have_text("0.30")
    after = (precision.inner_text(), recall.inner_text())
    assert after != before
    expect(page.locator("[data-threshold-chart] .annotation-text").first).to_have_text(
        "chosen 0.30"
    )
    page.get_by_role("button", name="Save threshold").click()
    expect(page.locator(".msg-success")).to_contain_text(
        "Saved the decision threshold 0.30"
    )
    expect(slider).to_have_value(re.compile(r"^0\.30?$"))
    second.refresh_from_db()
    assert second.threshold == pytest.approx(0.3)

    # The final evaluation on test: a confirm step, a real worker, then the
    # test column next to validation and no button any more.
    expect(page.locator(".ex-test-cell").first).to_have_text("—")
    page.locator("summary", has_text="Final evaluation on test").click()
    page.get_by_label("I understand the test split is used once.").check()
    page.get_by_role("button", name="Evaluate on test now").click()
    expect(page.locator(".msg-success")).to_contain_text("Final evaluation on the")
    expect(page.locator("#test .job")).to_be_visible()
    ui.shot("test evaluation queued")
    worker()
    expect(page.locator("#test .job")).to_have_count(0, timeout=JOB_TIMEOUT_MS)
    expect(page.locator("#test")).to_contain_text("Evaluated on the test split on")
    expect(page.locator("#test")).to_contain_text(f"by {owner.username}")
    expect(page.locator(".ex-test-cell").first).not_to_have_text("—")
    expect(page.get_by_role("button", name="Evaluate on test now")).to_have_count(0)
    ui.wait_for_charts("#charts", at_least=4)
    ui.shot("dashboard after the test evaluation")

    second.refresh_from_db()
    assert "test" in second.metrics
    assert Job.objects.get(kind="evaluate_test").status == "succeeded"
    assert Experiment.objects.filter(test_evaluated_at__isnull=False).count() == 1
    looks = page.locator("#test .test-looks")
    expect(looks).to_contain_text("has been used 1 time, by #")
    expect(looks).to_contain_text("(this one)")

    # The other candidate on the same version: its test split is used already,
    # so a look needs the second checkbox; without it, an inline message.
    ui.goto(f"/projects/{project.slug}/experiments/{first.pk}/")
    expect(looks).to_contain_text("The test split of version 2 has been used 1 time")
    expect(looks.get_by_role("link", name=f"#{second.pk}")).to_have_attribute(
        "href", f"/projects/{project.slug}/experiments/{second.pk}/#test"
    )
    page.locator("summary", has_text="Final evaluation on test").click()
    again = page.get_by_label("I know the test split of version 2 was already used")
    expect(again).not_to_be_checked()
    expect(
        page.get_by_label("I understand the test split is used once.")
    ).to_have_count(0)
    page.get_by_role("button", name="Evaluate on test now").click()
    expect(page.locator("#test .error")).to_contain_text(
        f"already used 1 time, by experiment #{second.pk}"
    )
    expect(page.locator("#test .error")).to_contain_text("Tick the box to look anyway.")
    assert not Job.objects.filter(subject_id=first.pk, kind="evaluate_test").exists()
    ui.shot("second look refused without the checkbox")
    page.get_by_label("I know the test split of version 2 was already used").check()
    page.get_by_role("button", name="Evaluate on test now").click()
    expect(page.locator(".msg-success")).to_contain_text("Final evaluation on the")
    expect(page.locator("#test .job")).to_have_count(0, timeout=JOB_TIMEOUT_MS)
    expect(looks).to_contain_text("has been used 2 times")
    ui.shot("dashboard after a confirmed second look")
    first.refresh_from_db()
    assert "test" in first.metrics

    # The team view says it too, next to the leaderboard.
    ui.goto(f"/projects/{project.slug}/steps/evaluation/")
    ui.wait_for_charts("#leaderboard")
    board = page.locator("#leaderboard .test-looks")
    expect(board).to_have_count(1)
    expect(board).to_contain_text("The test split of version 2 has been used 2 times")
    expect(board.get_by_role("link")).to_have_count(2)
    ui.shot("leaderboard with the test split use")


def test_it_draws_the_analysis_charts_when_the_polled_section_arrives(
    ui, worker, two_trained, owner, password
):
    # The dashboard opened while the analysis job is still queued: its section
    # polls, and the charts in the fragment that replaces it must draw (htmx
    # drops <script> elements from swapped content; the figures are templates).
    first, _second = two_trained
    evaluation = {k: v for k, v in first.evaluation.items() if k != "analysis"}
    Experiment.objects.filter(pk=first.pk).update(evaluation=evaluation)
    Job.objects.filter(subject_id=first.pk, kind="analyze_experiment").delete()
    from projects.services.jobs import job_create

    job_create(
        kind="analyze_experiment",
        project=first.project,
        subject_type="experiment",
        subject_id=first.pk,
        user=owner,
        queue="training",
    )
    ui.login(owner.username, password)
    ui.goto(f"/projects/{first.project.slug}/experiments/{first.pk}/")
    expect(ui.page.locator("#analysis")).to_contain_text("running")
    assert ui.page.locator("#analysis .chart").count() == 0

    worker()

    expect(ui.page.locator("#analysis .verdict-line")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    ui.wait_for_charts("#analysis", at_least=3)
    ui.assert_clean()
