"""Step 7 comparison: metrics side by side, the parameters that differ, overlays."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from projects.models import Experiment
from tests.factories import MembershipFactory, ProjectFactory
from tests.views.evaluation_support import trained_copy

pytestmark = pytest.mark.django_db


def _url(project, ids, extra: str = "") -> str:
    query = "&".join(f"ids={i}" for i in ids)
    return f"/projects/{project.slug}/experiments/compare/?{query}{extra}"


@pytest.fixture
def pair(prepared_dataset, owner, profile_jobs):
    """A logistic regression and a random forest, trained (see evaluation_support)."""
    first = trained_copy(profile_jobs, prepared_dataset, "logistic_regression", owner)
    second = trained_copy(
        profile_jobs,
        prepared_dataset,
        "random_forest",
        owner,
        params={"n_estimators": 20},
    )
    return first, second


def _figures(html: str) -> list[dict]:
    blocks = re.findall(
        r'<template class="figure-json" id="fig-\d+">(.*?)</template>', html, re.S
    )
    return [json.loads(b) for b in blocks]


def _param_names(html: str) -> list[str]:
    return re.findall(r'<tr data-param="([^"]+)"', html)


def test_it_compares_metrics_side_by_side(client_for, owner, pair):
    first, second = pair
    project = first.project

    response = client_for(owner).get(_url(project, [first.pk, second.pk]))

    assert response.status_code == 200
    html = unescape(response.text)
    assert "Comparing 2 experiments" in html
    assert "Logistic regression" in html and "Random forest" in html
    for experiment in pair:
        value = experiment.metrics["validation"]["f1_macro"]
        assert f"<strong>{value:,.4g}</strong>" in html
    metrics = re.findall(r'<tr[^>]* data-metric="([^"]+)"', html)
    assert metrics[0] == "f1_macro"  # the primary metric first
    assert set(metrics) >= {"accuracy", "roc_auc"}


def test_it_shows_only_the_parameters_that_differ_by_default(client_for, owner, pair):
    first, second = pair
    project = first.project
    client = client_for(owner)

    html = client.get(_url(project, [first.pk, second.pk])).text
    differing = _param_names(html)
    every = sorted(set(first.params) | set(second.params))
    assert differing
    assert set(differing) < set(every)
    assert "class_weight" not in differing  # both use the same
    assert "Show all parameters" in html

    html = client.get(_url(project, [first.pk, second.pk], "&params=all")).text
    assert _param_names(html) == every
    assert "Show only what differs" in html


def test_it_overlays_the_roc_curves(client_for, owner, pair):
    first, second = pair

    html = client_for(owner).get(_url(first.project, [first.pk, second.pk])).text

    roc = next(
        f for f in _figures(html) if f["layout"]["title"]["text"].startswith("ROC")
    )
    names = [t["name"] for t in roc["data"]]
    assert names[0] == "random guessing"
    assert any(n.startswith(f"#{first.pk} ") for n in names)
    assert any(n.startswith(f"#{second.pk} ") for n in names)


def test_it_overlays_regression_residuals(
    client_for, owner, prepared_dataset, profile_jobs
):
    project = prepared_dataset.project
    project.task_type = "regression"
    project.primary_metric = "rmse"
    project.success_threshold = None
    project.target_column = "age"
    project.save()
    ridge = trained_copy(profile_jobs, prepared_dataset, "ridge", owner)
    lasso = trained_copy(profile_jobs, prepared_dataset, "lasso", owner)

    html = client_for(owner).get(_url(project, [ridge.pk, lasso.pk])).text

    # Half-width charts break their title after the colon.
    titles = {
        f["layout"]["title"]["text"].replace(":<br>", ": "): f for f in _figures(html)
    }
    hist = titles["Residual distributions: narrower and centred on 0 is better"]
    assert [t["name"] for t in hist["data"]] == [
        f"#{ridge.pk} {ridge.name or 'ridge'}",
        f"#{lasso.pk} {lasso.name or 'lasso'}",
    ]
    scatter = titles["Predicted vs actual: closer to the dashed line is better"]
    assert len(scatter["data"]) == 3  # the diagonal and one trace each


def test_it_ignores_an_experiment_of_another_project(client_for, owner, pair):
    first, second = pair
    other = ProjectFactory()
    MembershipFactory(project=other, user=owner, role="owner")
    foreign = Experiment.objects.create(
        project=other,
        dataset=first.dataset,
        algorithm="decision_tree",
        name="secret-model",
        status="succeeded",
    )

    html = (
        client_for(owner)
        .get(_url(first.project, [first.pk, foreign.pk, second.pk]))
        .text
    )

    assert "secret-model" not in html
    assert "Comparing 2 experiments" in html
    assert "1 of the ids asked for is not an experiment of this project" in html


def test_it_asks_for_two_experiments(client_for, owner, pair):
    first, _ = pair
    client = client_for(owner)

    for ids in ([first.pk], [first.pk, first.pk], [], ["abc", first.pk]):
        response = client.get(_url(first.project, ids))
        assert response.status_code == 200
        assert "Pick at least two trained experiments" in response.text


def test_it_compares_at_most_eight(client_for, owner, pair):
    first, _ = pair
    clones = Experiment.objects.bulk_create(
        [
            Experiment(
                project=first.project,
                dataset=first.dataset,
                algorithm="decision_tree",
                name=f"tree {i}",
                status="succeeded",
                params={"max_depth": i + 1},
            )
            for i in range(9)
        ]
    )

    html = client_for(owner).get(_url(first.project, [c.pk for c in clones])).text

    assert "Comparing 8 experiments" in html
    assert "At most 8 experiments are compared at once" in html
    assert "tree 8" not in html


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_shows_the_comparison_to_every_member(client_for, member, pair, role):
    first, second = pair
    response = client_for(member(role)).get(_url(first.project, [first.pk, second.pk]))
    assert response.status_code == 200
    assert "Comparing 2 experiments" in response.text


def test_it_returns_404_to_an_outsider(client_for, outsider, pair):
    first, second = pair
    response = client_for(outsider).get(_url(first.project, [first.pk, second.pk]))
    assert response.status_code == 404


def test_it_redirects_anonymous_to_login(client, pair):
    first, second = pair
    response = client.get(_url(first.project, [first.pk, second.pk]))
    assert response.status_code == 302


def test_it_escapes_experiment_names(client_for, owner, pair):
    first, second = pair
    Experiment.objects.filter(pk=first.pk).update(name="<script>alert(1)</script>")

    html = client_for(owner).get(_url(first.project, [first.pk, second.pk])).text

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
