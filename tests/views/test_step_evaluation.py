"""Step 7 team view: the leaderboard, the experiments table (sorted, filtered,
paginated in SQL with a bounded number of queries) and parallel coordinates."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects.models import Experiment, ExperimentComment, TestLook
from projects.services.datasets import dataset_upload
from tests.helpers import write_csv
from tests.views.evaluation_support import trained_copy

pytestmark = pytest.mark.django_db


def _url(project, query: str = "") -> str:
    return f"/projects/{project.slug}/steps/evaluation/{query}"


@pytest.fixture
def dataset(project, owner, tmp_path):
    """A stored version (not profiled: the bulk rows below only point at it)."""
    dataset, _job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "data.csv", rows=30),
        filename="data.csv",
    )
    return dataset


def _bulk(project, dataset, n: int, *, algorithm="random_forest", start=0, **kw):
    """``n`` trained-looking rows: scores 0.500, 0.501, ... and varying params."""
    rows = []
    for i in range(start, start + n):
        score = 0.5 + i / 1000
        rows.append(
            Experiment(
                project=project,
                dataset=dataset,
                algorithm=algorithm,
                name=f"{algorithm} {i}",
                params={"n_estimators": 10 + i, "max_depth": i % 5 + 1},
                status=kw.get("status", "succeeded"),
                primary_score=score,
                metrics={
                    "cv": {"f1_macro": {"mean": score - 0.01, "std": 0.02}},
                    "validation": {"f1_macro": score},
                },
                fit_seconds=0.1 * (i + 1),
                predict_ms_per_row=0.01 * (i + 1),
            )
        )
    return Experiment.objects.bulk_create(rows)


def _row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-experiment="(\d+)"', html)]


def _values(data) -> list:
    """A trace array as plotly serialises it (typed arrays as base64)."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), data["dtype"]).tolist()
    return list(data)


def _figures(html: str) -> list[dict]:
    blocks = re.findall(
        r'<template class="figure-json" id="fig-\d+">(.*?)</template>', html, re.S
    )
    return [json.loads(b) for b in blocks]


# ------------------------------------------------------------------ access


def test_it_shows_the_team_view_of_trained_experiments(
    client_for, owner, prepared_dataset, profile_jobs
):
    experiment = trained_copy(
        profile_jobs, prepared_dataset, "logistic_regression", owner
    )
    project = experiment.project
    ExperimentComment.objects.create(experiment=experiment, author=owner, body="ok")
    ExperimentComment.objects.create(experiment=experiment, author=owner, body="yes")
    Experiment.objects.filter(pk=experiment.pk).update(test_evaluated_at=timezone.now())

    response = client_for(owner).get(_url(project))

    assert response.status_code == 200
    html = response.text
    assert "Step 7: Evaluation" in html
    assert sorted(_row_ids(html)) == sorted([experiment.pk, experiment.baseline_id])
    row = re.search(rf'<tr data-experiment="{experiment.pk}".*?</tr>', html, re.S)[0]
    assert f'href="/projects/{project.slug}/experiments/{experiment.pk}/"' in row
    assert "tested" in row
    comments = f'href="/projects/{project.slug}/experiments/{experiment.pk}/#comments"'
    assert f"{comments}>2 comments</a>" in row
    passes = experiment.primary_score >= project.success_threshold
    assert ("b-pass" if passes else "b-fail") in row
    assert 'name="ids"' in row
    assert "Compare selected" in html
    titles = [f["layout"]["title"]["text"] for f in _figures(html)]
    assert titles[0].startswith("Leaderboard on f1_macro")
    leaderboard = _figures(html)[0]
    assert any(
        "(baseline)" in label for label in _values(leaderboard["data"][0]["y"])
    ), "the baseline is on the leaderboard"
    assert leaderboard["layout"]["shapes"][0]["x0"] == project.success_threshold


def test_it_counts_the_looks_at_each_versions_test_split_on_the_leaderboard(
    client_for, owner, project, dataset, tmp_path
):
    used = _bulk(project, dataset, 3)
    newer, _job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "newer.csv", rows=30),
        filename="newer.csv",
    )
    _bulk(project, newer, 2, start=3)
    TestLook.objects.create(dataset=dataset, experiment=used[0], by=owner)
    TestLook.objects.create(
        dataset=dataset, experiment=used[2], by=owner, confirmed=True
    )

    html = unescape(client_for(owner).get(_url(project)).text)

    board = re.search(
        r'<section class="card" id="leaderboard">.*?</section>', html, re.S
    )[0]
    lines = re.findall(
        r'<p class="test-looks" data-test-looks="(\d+)">(.*?)</p>', board, re.S
    )
    assert [version for version, _text in lines] == ["2", "1"]
    assert "The test split of version 2 has not been used yet." in lines[0][1]
    assert "has been used <strong>2 times</strong>" in lines[1][1]
    links = re.findall(r'href="([^"]+)"', lines[1][1])
    assert links == [
        f"/projects/{project.slug}/experiments/{used[0].pk}/#test",
        f"/projects/{project.slug}/experiments/{used[2].pk}/#test",
    ]
    assert "olivia" in lines[1][1]


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_shows_the_table_to_every_member(client_for, project, member, dataset, role):
    _bulk(project, dataset, 3)
    response = client_for(member(role)).get(_url(project))
    assert response.status_code == 200
    assert len(_row_ids(response.text)) == 3


def test_it_returns_404_to_an_outsider(client_for, outsider, project, dataset):
    _bulk(project, dataset, 1)
    assert client_for(outsider).get(_url(project)).status_code == 404


def test_it_redirects_anonymous_to_login(client, project):
    assert client.get(_url(project)).status_code == 302


def test_it_says_what_it_waits_for_without_experiments(client_for, owner, project):
    html = client_for(owner).get(_url(project)).text
    assert "This step is waiting for" in html
    assert "<table" not in html


def test_it_lists_untrained_experiments_without_a_leaderboard(
    client_for, owner, project, dataset
):
    _bulk(project, dataset, 2, status="queued")
    html = client_for(owner).get(_url(project)).text
    assert "No experiment has finished training yet" in html
    assert len(_row_ids(html)) == 2
    assert 'id="leaderboard"' not in html


def test_it_refuses_input(client_for, owner, project):
    assert client_for(owner).post(_url(project), {"x": "1"}).status_code == 405


def test_it_escapes_experiment_names(client_for, owner, project, dataset):
    [experiment] = _bulk(project, dataset, 1)
    Experiment.objects.filter(pk=experiment.pk).update(name="<script>alert(1)</script>")

    html = client_for(owner).get(_url(project)).text

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------- sort and filter


def test_it_sorts_best_first_by_default_and_reverses(
    client_for, owner, project, dataset
):
    rows = _bulk(project, dataset, 4)
    client = client_for(owner)

    assert _row_ids(client.get(_url(project)).text) == [r.pk for r in rows[::-1]]
    html = client.get(_url(project, "?ordering=-score")).text
    assert _row_ids(html) == [r.pk for r in rows]


def test_it_sorts_by_each_column_header(client_for, owner, project, dataset):
    rows = _bulk(project, dataset, 3)
    client = client_for(owner)
    html = client.get(_url(project)).text
    assert 'href="?ordering=fit_seconds#experiments"' in html

    html = client.get(_url(project, "?ordering=fit_seconds")).text

    assert _row_ids(html) == [r.pk for r in rows]
    # The active column's link reverses it and keeps the filters.
    assert 'href="?ordering=-fit_seconds#experiments"' in html
    html = client.get(_url(project, "?status=succeeded&ordering=latency")).text
    assert 'href="?status=succeeded&amp;ordering=-latency#experiments"' in html


def test_it_filters_by_algorithm_status_and_score(client_for, owner, project, dataset):
    forests = _bulk(project, dataset, 3)
    trees = _bulk(project, dataset, 2, algorithm="decision_tree", start=10)
    client = client_for(owner)

    html = client.get(_url(project, "?algorithm=decision_tree")).text
    assert sorted(_row_ids(html)) == sorted(t.pk for t in trees)
    assert "2 matching the filters" in html

    html = client.get(_url(project, "?min_score=0.501&max_score=0.502")).text
    assert sorted(_row_ids(html)) == sorted(f.pk for f in forests[1:])

    html = client.get(_url(project, "?status=failed")).text
    assert _row_ids(html) == []
    assert "No experiment matches these filters." in html


def test_it_filters_by_dataset_version(client_for, owner, project, dataset, tmp_path):
    first = _bulk(project, dataset, 2)
    second, _ = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "more.csv", rows=30),
        filename="more.csv",
    )
    later = _bulk(project, second, 1, start=5)
    client = client_for(owner)

    html = client.get(_url(project)).text
    assert f'<option value="{second.pk}">v2</option>' in html
    html = client.get(_url(project, f"?version={dataset.pk}")).text
    assert sorted(_row_ids(html)) == sorted(e.pk for e in first)
    html = client.get(_url(project, f"?version={second.pk}")).text
    assert _row_ids(html) == [later[0].pk]


def test_it_refuses_a_bad_filter_inline(client_for, owner, project, dataset):
    _bulk(project, dataset, 2)
    client = client_for(owner)

    response = client.get(_url(project, "?min_score=high"))
    assert response.status_code == 400
    assert '<p class="error" role="alert">Enter a number.</p>' in response.text
    assert len(_row_ids(response.text)) == 2  # the other filters still apply

    response = client.get(_url(project, "?min_score=0.9&max_score=0.1"))
    assert response.status_code == 400
    assert "Give a maximum at least the minimum." in response.text


# ---------------------------------------------------------------- at scale


def test_it_paginates_on_the_server(client_for, owner, project, dataset):
    rows = _bulk(project, dataset, 60)
    client = client_for(owner)

    html = client.get(_url(project)).text
    assert len(_row_ids(html)) == 50
    assert "Page 1 of 2" in html
    assert 'href="?page=2#experiments"' in html
    html = client.get(_url(project, "?page=2")).text
    assert _row_ids(html) == [r.pk for r in rows[9::-1]]
    assert "60 in this project" in html


def test_it_runs_as_many_queries_for_60_experiments_as_for_5(
    client_for, owner, project, dataset, django_assert_max_num_queries
):
    client = client_for(owner)
    few = _bulk(project, dataset, 5)
    for e in few:
        ExperimentComment.objects.create(experiment=e, author=owner, body="x")
    with CaptureQueriesContext(connection) as small:
        assert client.get(_url(project)).status_code == 200

    many = _bulk(project, dataset, 55, start=5)
    _bulk(project, dataset, 3, algorithm="decision_tree", start=100, status="running")
    for e in many:
        ExperimentComment.objects.create(experiment=e, author=owner, body="x")
    with django_assert_max_num_queries(len(small) + 1):
        # +1: with running experiments the page asks for their progress once.
        response = client.get(_url(project))
    assert len(_row_ids(response.text)) == 50


def test_it_draws_parallel_coordinates_of_the_most_common_algorithm(
    client_for, owner, project, dataset
):
    _bulk(project, dataset, 6)
    _bulk(project, dataset, 2, algorithm="decision_tree", start=20)
    client = client_for(owner)

    html = unescape(client.get(_url(project)).text)
    assert "Parameters against f1_macro: Random forest" in html
    parcoords = [f for f in _figures(html) if f["data"][0]["type"] == "parcoords"]
    dims = [d["label"] for d in parcoords[0]["data"][0]["dimensions"]]
    assert dims == ["max_depth", "n_estimators", "f1_macro"]
    assert len(_values(parcoords[0]["data"][0]["dimensions"][0]["values"])) == 6

    html = unescape(client.get(_url(project, "?algorithm=decision_tree")).text)
    assert "Parameters against f1_macro: Decision tree" in html


def test_it_caps_the_parallel_coordinates_at_the_500_best(
    client_for, owner, project, dataset
):
    _bulk(project, dataset, 510)

    html = client_for(owner).get(_url(project)).text

    parcoords = [f for f in _figures(html) if f["data"][0]["type"] == "parcoords"]
    scores = _values(parcoords[0]["data"][0]["dimensions"][-1]["values"])
    assert len(scores) == 500
    assert min(scores) == pytest.approx(0.51)
