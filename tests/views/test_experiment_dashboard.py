"""Step 7 dashboard of one experiment: the verdict, metrics, lineage, charts, the
threshold explorer, the once-only test evaluation and comments (real jobs)."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from projects.models import AuditEvent, Experiment, ExperimentComment, Job
from projects.services.experiments import experiment_create
from tests.factories import MembershipFactory, ProjectFactory
from tests.views.evaluation_support import train_for_real, trained_copy

pytestmark = pytest.mark.django_db


@pytest.fixture
def train(owner, profile_jobs):
    """train(dataset, algorithm, **kw): real jobs, every time."""
    return lambda dataset, algorithm, **kw: train_for_real(
        profile_jobs, dataset, algorithm, owner, **kw
    )


@pytest.fixture
def trained(prepared_dataset, owner, profile_jobs):
    """A trained logistic regression with its baseline (see evaluation_support)."""
    return trained_copy(profile_jobs, prepared_dataset, "logistic_regression", owner)


def _url(experiment, tail: str = "") -> str:
    return f"/projects/{experiment.project.slug}/experiments/{experiment.pk}/{tail}"


def _figures(html: str) -> list[dict]:
    """Every inert chart JSON block of the page."""
    blocks = re.findall(
        r'<template class="figure-json" id="fig-\d+">(.*?)</template>', html, re.S
    )
    return [json.loads(b) for b in blocks]


def _titles(html: str) -> list[str]:
    return [f["layout"].get("title", {}).get("text", "") for f in _figures(html)]


# ------------------------------------------------------------------ access


def test_it_shows_the_dashboard_of_a_trained_classifier(client_for, owner, trained):
    response = client_for(owner).get(_url(trained))

    assert response.status_code == 200
    html = response.text
    assert "Step 7: Evaluation" in html
    assert "Logistic regression" in html
    score = trained.primary_score
    assert "FAIL" in html if score < 0.8 else "PASS" in html
    assert "success threshold (step 1)" in html
    # Baseline, linked.
    assert f'href="/projects/{trained.project.slug}/experiments/{trained.baseline_id}/"'
    assert "baseline" in html
    titles = _titles(html)
    assert any(t.startswith("Confusion matrix: rows") for t in titles)
    assert any(t.startswith("Confusion matrix: share") for t in titles)
    assert any(t.startswith("ROC curve") for t in titles)
    assert any(t.startswith("Precision-recall") for t in titles)
    assert any(t.startswith("Calibration") for t in titles)
    assert any(t.startswith("Decision threshold") for t in titles)
    assert any(t.startswith("Feature importance") for t in titles)
    assert any(t.startswith("Learning curve") for t in titles)
    assert any(t.startswith("Fairness by group") for t in titles)
    assert 'src="/static/js/evaluation.js"' in html


def test_it_shows_metrics_timings_and_lineage(client_for, owner, trained):
    html = unescape(client_for(owner).get(_url(trained)).text)

    validation = trained.metrics["validation"]["f1_macro"]
    assert f"{validation:,.4g}" in html
    cv = trained.metrics["cv"]["f1_macro"]
    assert f"{cv['mean']:,.4g}" in html
    assert "Fit time" in html and "One-row prediction" in html
    assert "Model size" in html
    slug = trained.project.slug
    assert f'href="/projects/{slug}/steps/data/?version=1"' in html
    assert f'href="/projects/{slug}/steps/prepare/?prepared=2#result"' in html
    assert f'href="/projects/{slug}/steps/features/"' in html
    assert "split 120 / 40 / 40" in html
    # The test column is empty until the final evaluation.
    assert 'title="Not evaluated on test yet"' in html


def test_it_compares_the_single_row_latency_with_the_budget(client_for, owner, trained):
    project = trained.project
    project.latency_budget_ms = 10_000
    project.save()
    assert "within the 10000 ms budget" in client_for(owner).get(_url(trained)).text

    Experiment.objects.filter(pk=trained.pk).update(predict_ms_single=20_000.0)
    assert "over the 10000 ms budget" in client_for(owner).get(_url(trained)).text


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_shows_the_dashboard_to_every_member(client_for, member, trained, role):
    response = client_for(member(role)).get(_url(trained))

    assert response.status_code == 200
    can_run = role == "scientist"
    assert ("Save threshold" in response.text) is can_run
    assert ("Evaluate on test now" in response.text) is can_run
    assert "Add a comment" in response.text


def test_it_returns_404_to_an_outsider(client_for, outsider, trained):
    assert client_for(outsider).get(_url(trained)).status_code == 404


def test_it_redirects_anonymous_to_login(client, trained):
    response = client.get(_url(trained))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_returns_404_for_an_experiment_of_another_project(
    client_for, owner, trained
):
    other = ProjectFactory()
    MembershipFactory(project=other, user=owner, role="owner")

    response = client_for(owner).get(
        f"/projects/{other.slug}/experiments/{trained.pk}/"
    )

    assert response.status_code == 404


# ----------------------------------------------------------- states


def test_it_shows_the_job_instead_of_charts_while_training(
    client_for, owner, prepared_dataset
):
    experiment = experiment_create(
        project=prepared_dataset.project,
        dataset=prepared_dataset,
        algorithm="decision_tree",
        user=owner,
    )

    html = client_for(owner).get(_url(experiment)).text

    assert 'class="job job-queued"' in html
    assert "hx-trigger=" in html
    assert "Cancel" in html
    assert "Confusion matrix" not in html


def test_it_shows_the_reason_and_the_log_of_a_failed_experiment(
    client_for, owner, trained
):
    Experiment.objects.filter(pk=trained.pk).update(
        status="failed",
        error="Logistic regression failed to train: solver did not converge",
        log="Fold 1 of 3\nFold 2 of 3",
    )

    html = client_for(owner).get(_url(trained)).text

    assert "Training failed" in html
    assert "solver did not converge" in html
    assert "Fold 2 of 3" in html
    assert "Confusion matrix" not in html


def test_it_polls_for_the_analysis_until_it_arrives(client_for, owner, trained):
    evaluation = dict(trained.evaluation)
    analysis = evaluation.pop("analysis")
    Experiment.objects.filter(pk=trained.pk).update(evaluation=evaluation)
    client = client_for(owner)

    html = client.get(_url(trained)).text
    assert "Analysis running" in html
    assert f'hx-get="{_url(trained, "analysis/")}"' in html
    fragment = client.get(_url(trained, "analysis/"), HTTP_HX_REQUEST="true").text
    assert "Analysis running" in fragment and "hx-trigger" in fragment

    Experiment.objects.filter(pk=trained.pk).update(
        evaluation={**evaluation, "analysis": analysis}
    )
    fragment = client.get(_url(trained, "analysis/"), HTTP_HX_REQUEST="true").text
    assert "hx-trigger" not in fragment  # polling stops
    assert "Feature importance" in fragment
    assert analysis["learning_curve"]["verdict"]["text"] in unescape(fragment)


def test_it_says_when_the_analysis_job_failed(client_for, owner, trained):
    evaluation = dict(trained.evaluation)
    evaluation.pop("analysis")
    Experiment.objects.filter(pk=trained.pk).update(evaluation=evaluation)
    Job.objects.create(
        kind="analyze_experiment",
        project=trained.project,
        subject_type="experiment",
        subject_id=trained.pk,
        status="failed",
        error="Out of memory",
    )

    fragment = client_for(owner).get(_url(trained, "analysis/")).text

    assert "hx-trigger" not in fragment
    assert "Out of memory" in fragment
    assert "Retry" in fragment


def test_it_highlights_flagged_fairness_groups(client_for, owner, trained):
    evaluation = dict(trained.evaluation)
    report = evaluation["analysis"]["fairness"]["sex"]
    groups = report["groups"]
    groups[0]["selection_rate"], groups[1]["selection_rate"] = 0.9, 0.2
    report.update(
        demographic_parity_difference=0.7,
        flagged=True,
        reasons=["Selection rate differs by 0.70 between the groups."],
    )
    Experiment.objects.filter(pk=trained.pk).update(evaluation=evaluation)

    html = client_for(owner).get(_url(trained)).text

    assert "beyond the bound 0.10" in html
    assert "Selection rate differs by 0.70" in html
    flagged = re.findall(r'<tr class="flagged"><th scope="row">([^<]+)', html)
    assert [name.strip() for name in flagged] == [groups[1]["group"]]


def test_it_shows_the_analysis_is_skipped_for_a_baseline(client_for, owner, trained):
    html = client_for(owner).get(_url(trained.baseline)).text

    assert "this is the baseline" in html
    assert "not computed for it" in html


def test_it_shows_regression_charts(client_for, owner, prepared_dataset, train):
    project = prepared_dataset.project
    project.task_type = "regression"
    project.primary_metric = "rmse"
    project.success_threshold = None
    project.target_column = "age"
    project.save()
    experiment = train(prepared_dataset, "ridge")

    html = client_for(owner).get(_url(experiment)).text

    titles = _titles(html)
    assert any(t.startswith("Predicted vs actual") for t in titles)
    assert any(t.startswith("Residuals") for t in titles)
    assert any(t.startswith("Residual distribution") for t in titles)
    assert any(t.startswith("Error by city") for t in titles)
    assert "NO VERDICT" in html
    assert "no success threshold" in html


# --------------------------------------------------------------- threshold


def test_it_saves_the_threshold(client_for, member, trained):
    scientist = member("scientist")
    response = client_for(scientist).post(
        _url(trained, "threshold/"), {"threshold": "0.35"}
    )

    assert response.status_code == 302
    assert response["Location"] == _url(trained) + "#threshold"
    trained.refresh_from_db()
    assert trained.threshold == pytest.approx(0.35)
    assert AuditEvent.objects.filter(verb="experiment.threshold_set").exists()
    html = client_for(scientist).get(_url(trained)).text
    assert "Saved the decision threshold 0.35" in html
    assert 'value="0.35" data-threshold-input' in html


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "", "nan"])
def test_it_refuses_a_threshold_out_of_range_inline(client_for, owner, trained, value):
    response = client_for(owner).post(_url(trained, "threshold/"), {"threshold": value})

    assert response.status_code == 400
    assert re.search(
        r'<p class="error" role="alert">Give a number between 0 and 1.</p>',
        response.text,
    )
    trained.refresh_from_db()
    assert trained.threshold is None


def test_it_refuses_the_threshold_to_a_viewer(client_for, member, trained):
    response = client_for(member("viewer")).post(
        _url(trained, "threshold/"), {"threshold": "0.4"}
    )
    assert response.status_code == 403
    trained.refresh_from_db()
    assert trained.threshold is None


def test_it_refuses_the_threshold_to_an_outsider(client_for, outsider, trained):
    response = client_for(outsider).post(
        _url(trained, "threshold/"), {"threshold": "0.4"}
    )
    assert response.status_code == 404


# ----------------------------------------------------------- test evaluation


def test_it_runs_the_final_evaluation_on_test_once(
    client_for, owner, prepared_dataset, train, profile_jobs
):
    trained = train(prepared_dataset, "logistic_regression")
    client = client_for(owner)
    html = client.get(_url(trained)).text
    assert "This can be done only once for this experiment." in html

    with profile_jobs():
        response = client.post(_url(trained, "evaluate-test/"), {"confirm": "once"})

    assert response.status_code == 302
    trained.refresh_from_db()
    assert trained.test_evaluated_at is not None
    assert "test" in trained.metrics
    html = unescape(client.get(_url(trained)).text)
    assert "Evaluated on the test split on" in html
    assert "by olivia" in html
    assert "Final evaluation on test…" not in html
    test_value = trained.metrics["test"]["f1_macro"]
    assert f"<strong>{test_value:,.4g}</strong>" in html
    assert Job.objects.get(kind="evaluate_test").status == "succeeded"

    again = client.post(_url(trained, "evaluate-test/"), {"confirm": "once"})
    assert again.status_code == 400
    assert "already evaluated on the test split" in again.text
    assert Job.objects.filter(kind="evaluate_test").count() == 1


def test_it_asks_to_confirm_a_second_look_at_the_versions_test_split(
    client_for, owner, prepared_dataset, train, profile_jobs
):
    first = train(prepared_dataset, "logistic_regression")
    second = first.baseline
    client = client_for(owner)
    page = unescape(client.get(_url(second)).text)
    assert "The test split of version 2 has not been used yet." in page
    assert 'value="once"' in page
    with profile_jobs():
        assert (
            client.post(_url(first, "evaluate-test/"), {"confirm": "once"}).status_code
            == 302
        )

    # The form the second dashboard showed before the first look: "once".
    stale = client.post(_url(second, "evaluate-test/"), {"confirm": "once"})
    unticked = client.post(_url(second, "evaluate-test/"))

    for response in (stale, unticked):
        assert response.status_code == 400
        html = unescape(response.text)
        assert (
            "The test split of version 2 was already used 1 time, by experiment "
            f"#{first.pk}" in html
        )
        assert "Tick the box to look anyway." in html
        assert 'value="again"' in html and 'value="once"' not in html
    assert not Job.objects.filter(subject_id=second.pk, kind="evaluate_test").exists()
    second.refresh_from_db()
    assert second.test_evaluated_at is None

    with profile_jobs():
        confirmed = client.post(_url(second, "evaluate-test/"), {"confirm": "again"})

    assert confirmed.status_code == 302
    event = AuditEvent.objects.get(
        verb="experiment.test_evaluated", object_id=str(second.pk)
    )
    assert event.data["confirmed"] is True
    assert event.data["earlier_experiments"] == [first.pk]
    for experiment in (first, second):
        html = unescape(client.get(_url(experiment)).text)
        used = re.search(r'<p class="test-looks".*?</p>', html, re.S)[0]
        assert "has been used <strong>2 times</strong>" in used
        assert f'href="{_url(first)}#test"' in used
        assert f'href="{_url(second)}#test"' in used
        assert f"#{experiment.pk}</a> (this one)" in used
        assert "Final evaluation on test…" not in html
    assert Job.objects.get(subject_id=second.pk, kind="evaluate_test").status == (
        "succeeded"
    )


def test_it_asks_to_confirm_the_test_evaluation(client_for, owner, trained):
    response = client_for(owner).post(_url(trained, "evaluate-test/"))

    assert response.status_code == 400
    assert "Tick the box to confirm" in response.text
    trained.refresh_from_db()
    assert trained.test_evaluated_at is None


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("approver", 403)])
def test_it_refuses_the_test_evaluation_without_the_role(
    client_for, member, trained, role, status
):
    response = client_for(member(role)).post(
        _url(trained, "evaluate-test/"), {"confirm": "once"}
    )
    assert response.status_code == status
    trained.refresh_from_db()
    assert trained.test_evaluated_at is None


def test_it_refuses_the_test_evaluation_to_an_outsider(client_for, outsider, trained):
    response = client_for(outsider).post(
        _url(trained, "evaluate-test/"), {"confirm": "once"}
    )
    assert response.status_code == 404


def test_it_says_the_queue_is_down_for_the_test_evaluation(
    client_for, owner, trained, queue_down
):
    response = client_for(owner).post(
        _url(trained, "evaluate-test/"), {"confirm": "once"}
    )

    assert response.status_code == 503
    trained.refresh_from_db()
    assert trained.test_evaluated_at is None


# ------------------------------------------------------------------ comments


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_any_member_may_comment(client_for, member, trained, role):
    user = member(role)
    response = client_for(user).post(_url(trained, "comments/"), {"body": "Looks fine"})

    assert response.status_code == 302
    comment = ExperimentComment.objects.get()
    assert comment.author == user
    assert response["Location"] == _url(trained) + f"#comment-{comment.pk}"
    html = client_for(user).get(_url(trained)).text
    assert "Looks fine" in html


def test_it_refuses_an_empty_comment_inline(client_for, owner, trained):
    response = client_for(owner).post(_url(trained, "comments/"), {"body": "   "})

    assert response.status_code == 400
    assert (
        'id="comment-error" role="alert">Write something to comment.' in response.text
    )
    assert not ExperimentComment.objects.exists()


def test_it_refuses_a_comment_from_an_outsider(client_for, outsider, trained):
    response = client_for(outsider).post(_url(trained, "comments/"), {"body": "hi"})
    assert response.status_code == 404
    assert not ExperimentComment.objects.exists()


def test_it_escapes_names_and_comments(client_for, owner, trained):
    Experiment.objects.filter(pk=trained.pk).update(name="<script>alert(1)</script>")
    client = client_for(owner)
    client.post(_url(trained, "comments/"), {"body": "<script>alert(2)</script>"})

    html = client.get(_url(trained)).text

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
