"""Step 5 page: the catalog with the suggested short list, parameters from the
schemas, and one transaction for every ticked candidate."""

from __future__ import annotations

import re
from html import unescape

import pytest

from projects.ml.catalog import CATALOG
from projects.models import Experiment, Job
from projects.views.selection import candidates_for

pytestmark = pytest.mark.django_db

URL = "/projects/{slug}/steps/models/"


def _url(project) -> str:
    return URL.format(slug=project.slug)


def _train(client, project, algorithms, version="2", **fields):
    data = {"version": version, "algorithms": algorithms, "cv_folds": "3"}
    data.update(fields)
    return client.post(_url(project), data)


def _candidate(html: str, key: str) -> str:
    """The catalog item of one algorithm, entities decoded."""
    match = re.search(
        rf'<li class="cand[^"]*" data-candidate="{key}">.*?</li>', html, flags=re.S
    )
    assert match, f"no candidate {key!r}"
    return unescape(match.group(0))


def _field(item: str, name: str) -> str:
    match = re.search(
        rf'<div class="cand-param[^"]*" data-field="params\.{name}">.*?</div>',
        item,
        flags=re.S,
    )
    assert match, f"no field {name!r}"
    return match.group(0)


def _ticked(html: str) -> list[str]:
    return re.findall(r'name="algorithms" value="(\w+)" checked', html)


def _nothing_created():
    assert Experiment.objects.count() == 0
    assert not Job.objects.filter(kind="train").exists()


# ----------------------------------------------------------------- the page


def test_it_shows_the_catalog_with_the_suggested_short_list_ticked(
    client_for, owner, prepared_dataset
):
    response = client_for(owner).get(_url(prepared_dataset.project))
    assert response.status_code == 200
    html = response.text
    assert "Step 5: Model selection" in html
    assert '<option value="2" selected>v2 · 200 rows' in html
    # The success contract the candidates are judged on.
    assert "<strong>f1_macro</strong> (higher is better)" in html
    assert "f1_macro ≥ 0.8" in html
    # 120 training rows: linear, a forest and classic boosting, each with why.
    assert _ticked(html) == [
        "logistic_regression",
        "random_forest",
        "gradient_boosting",
    ]
    assert "Only 120 rows: classic boosting" in _candidate(html, "gradient_boosting")
    assert "b-suggested" not in _candidate(html, "decision_tree")
    assert "Train 3 candidates" in html
    # The baseline is always trained, not offered as a choice.
    assert "Baseline (most frequent class)" in html
    assert "always trained" in html
    assert 'value="baseline"' not in html
    for key, entry in CATALOG["classification"].items():
        if not entry.baseline:
            assert entry.label in _candidate(html, key)
    assert 'src="/static/js/models.js"' in html


def test_it_builds_each_parameter_input_from_its_schema(
    client_for, owner, prepared_dataset
):
    html = client_for(owner).get(_url(prepared_dataset.project)).text
    tree = _candidate(html, "decision_tree")
    depth = _field(tree, "max_depth")
    assert 'name="p.decision_tree.max_depth"' in depth
    assert 'value="8" step="1" min="1" max="100"' in depth
    assert 'placeholder="empty = none"' in depth  # nullable
    assert "1 to 100, or empty." in depth
    weight = _field(tree, "class_weight")
    assert '<select name="p.decision_tree.class_weight"' in weight
    assert '<option value="balanced">balanced</option>' in weight
    c = _field(_candidate(html, "logistic_regression"), "C")
    assert 'step="any" min="0.0001" max="10000.0"' in c
    assert 'name="f.logistic_regression"' in _candidate(html, "logistic_regression")
    # Settings of candidates that are not ticked stay hidden until ticked.
    assert 'data-settings-for="decision_tree" hidden' in tree
    assert 'data-settings-for="logistic_regression">' in html


def test_it_notes_the_sample_an_algorithm_is_trained_on_above_its_limit(
    prepared_dataset,
):
    catalog = {
        "suggested": [],
        "algorithms": [
            a.schema(n_rows=50_000) for a in CATALOG["classification"].values()
        ],
    }
    svm = next(c for c in candidates_for(catalog) if c.key == "svm")
    assert "seeded sample of 10,000 of the 50,000 training rows" in svm.note


def test_it_says_it_waits_for_a_prepared_version(client_for, owner, ready_dataset):
    client = client_for(owner)
    response = client.get(_url(ready_dataset.project))
    assert response.status_code == 200
    assert "This step waits for a <strong>prepared version</strong>" in response.text
    assert f'href="/projects/{ready_dataset.project.slug}/steps/prepare/"' in (
        response.text
    )
    assert 'name="algorithms"' not in response.text
    assert _train(client, ready_dataset.project, ["knn"]).status_code == 409


def test_it_warns_when_no_feature_spec_is_saved(client_for, owner, prepared_dataset):
    html = client_for(owner).get(_url(prepared_dataset.project)).text
    assert "No feature spec saved in" in html
    assert "candidates use the features suggested for version 2" in html


# ----------------------------------------------------------------- training


def test_it_trains_every_ticked_candidate_and_the_baseline(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["logistic_regression", "decision_tree"],
        **{
            "p.decision_tree.max_depth": "4",
            "p.decision_tree.class_weight": "balanced",
        },
    )
    assert response.status_code == 302
    assert response.url == f"/projects/{prepared_dataset.project.slug}/steps/training/"
    tree = Experiment.objects.get(algorithm="decision_tree")
    assert tree.params == {
        "max_depth": 4,
        "min_samples_leaf": 1,
        "class_weight": "balanced",
    }
    assert tree.cv_folds == 3
    assert tree.dataset == prepared_dataset
    assert not tree.features_overridden
    assert Experiment.objects.filter(is_baseline=True).count() == 1
    assert Experiment.objects.count() == 3
    jobs = Job.objects.filter(kind="train")
    assert jobs.count() == 3
    assert set(jobs.values_list("queue", flat=True)) == {"training"}
    page = client_for(owner).get(response.url).text
    assert "Training 2 candidates plus the baseline on version 2" in page


def test_it_lets_a_scientist_train(client_for, member, prepared_dataset):
    response = _train(
        client_for(member("scientist")), prepared_dataset.project, ["knn"]
    )
    assert response.status_code == 302
    assert Experiment.objects.filter(algorithm="knn").count() == 1


def test_it_leaves_an_empty_nullable_parameter_empty(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["decision_tree"],
        **{"p.decision_tree.max_depth": ""},
    )
    assert response.status_code == 302
    assert Experiment.objects.get(algorithm="decision_tree").params["max_depth"] is None


def test_it_uses_a_feature_override_for_that_candidate_only(
    client_for, owner, prepared_dataset
):
    spec = '{"columns": {"age": {"kind": "numeric"}, "city": {"kind": "categorical"}}}'
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["logistic_regression", "knn"],
        **{"f.logistic_regression": spec, "f.knn": "  "},
    )
    assert response.status_code == 302
    overridden = Experiment.objects.get(algorithm="logistic_regression")
    assert overridden.features_overridden
    assert set(overridden.feature_spec["columns"]) >= {"age", "city"}
    assert not Experiment.objects.get(algorithm="knn").features_overridden


def test_it_does_not_train_a_second_baseline_for_a_version(
    client_for, owner, prepared_dataset
):
    client = client_for(owner)
    _train(client, prepared_dataset.project, ["knn"])
    html = client.get(_url(prepared_dataset.project)).text
    assert "version 2 already has it" in html
    response = _train(client, prepared_dataset.project, ["decision_tree"])
    assert response.status_code == 302
    assert Experiment.objects.filter(is_baseline=True).count() == 1
    assert Experiment.objects.count() == 3
    page = client.get(response.url).text
    assert "Training 1 candidate on version 2" in page


# ----------------------------------------------------------------- bad input


def test_it_creates_nothing_when_one_candidate_has_a_parameter_out_of_range(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["logistic_regression", "decision_tree"],
        **{"p.decision_tree.max_depth": "500", "p.logistic_regression.C": "0.5"},
    )
    assert response.status_code == 400
    _nothing_created()
    html = response.text
    tree = _candidate(html, "decision_tree")
    assert 'class="cand is-on has-error"' in tree
    depth = _field(tree, "max_depth")
    assert 'class="cand-param has-error"' in depth
    assert "Must be between 1 and 100." in depth
    assert 'value="500"' in depth  # shown back as typed
    # The valid candidate keeps its ticks and values, without an error.
    lr = _candidate(html, "logistic_regression")
    assert "has-error" not in lr
    assert 'value="0.5"' in _field(lr, "C")
    assert _ticked(html) == ["logistic_regression", "decision_tree"]
    assert "Train 2 candidates" in html


def test_it_shows_every_refused_candidate_at_once(client_for, owner, prepared_dataset):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["logistic_regression", "knn"],
        **{"p.logistic_regression.C": "lots", "p.knn.n_neighbors": "2.5"},
    )
    assert response.status_code == 400
    _nothing_created()
    html = response.text
    assert "Give a number." in _field(_candidate(html, "logistic_regression"), "C")
    knn = _field(_candidate(html, "knn"), "n_neighbors")
    assert "Give a whole number." in knn


def test_it_requires_a_value_for_a_parameter_that_may_not_be_empty(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["logistic_regression"],
        **{"p.logistic_regression.C": ""},
    )
    assert response.status_code == 400
    _nothing_created()
    c = _field(_candidate(response.text, "logistic_regression"), "C")
    assert "A value is required." in c


def test_it_refuses_a_choice_the_schema_does_not_offer(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["svm"],
        **{"p.svm.kernel": "sigmoid"},
    )
    assert response.status_code == 400
    _nothing_created()
    kernel = _field(_candidate(response.text, "svm"), "kernel")
    assert "'sigmoid' is not one of: rbf, linear, poly." in unescape(kernel)


def test_it_refuses_an_unknown_algorithm(client_for, owner, prepared_dataset):
    response = _train(client_for(owner), prepared_dataset.project, ["knn", "xgboost"])
    assert response.status_code == 400
    _nothing_created()
    assert "&#x27;xgboost&#x27; is not a classification algorithm" in response.text


def test_it_refuses_an_unprepared_version(client_for, owner, prepared_dataset):
    response = _train(client_for(owner), prepared_dataset.project, ["knn"], version="1")
    assert response.status_code == 400
    _nothing_created()
    html = response.text
    assert "Version 1 is not prepared yet" in html
    assert '<option value="2" selected>' in html
    assert _ticked(html) == ["knn"]


def test_it_refuses_a_version_that_does_not_exist(client_for, owner, prepared_dataset):
    response = _train(client_for(owner), prepared_dataset.project, ["knn"], version="9")
    assert response.status_code == 400
    _nothing_created()
    assert "There is no version 9 in this project." in response.text


def test_it_refuses_a_feature_override_that_is_not_json(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["logistic_regression", "knn"],
        **{"f.knn": "{columns: age}"},
    )
    assert response.status_code == 400
    _nothing_created()
    knn = _candidate(response.text, "knn")
    assert "The feature spec could not be read (not valid JSON)." in knn
    assert '<details class="cand-features" open>' in knn


def test_it_refuses_a_feature_override_naming_a_missing_column(
    client_for, owner, prepared_dataset
):
    response = _train(
        client_for(owner),
        prepared_dataset.project,
        ["knn"],
        **{"f.knn": '{"columns": {"height": {"kind": "numeric"}}}'},
    )
    assert response.status_code == 400
    _nothing_created()
    assert "height" in _candidate(response.text, "knn").split("cand-features")[1]


def test_it_asks_for_at_least_one_candidate(client_for, owner, prepared_dataset):
    response = _train(client_for(owner), prepared_dataset.project, [])
    assert response.status_code == 400
    _nothing_created()
    assert "Tick at least one candidate to train." in response.text


def test_it_does_not_take_the_baseline_as_a_candidate(
    client_for, owner, prepared_dataset
):
    response = _train(client_for(owner), prepared_dataset.project, ["baseline"])
    assert response.status_code == 400
    _nothing_created()
    assert "Tick at least one candidate to train." in response.text


@pytest.mark.parametrize("folds", ["1", "21", "many"])
def test_it_refuses_bad_cross_validation_folds(
    client_for, owner, prepared_dataset, folds
):
    response = _train(
        client_for(owner), prepared_dataset.project, ["knn"], cv_folds=folds
    )
    assert response.status_code == 400
    _nothing_created()
    assert "0 (no cross-validation) or 2-20" in response.text


def test_it_says_when_the_queue_is_down(
    client_for, owner, prepared_dataset, queue_down
):
    response = _train(
        client_for(owner), prepared_dataset.project, ["knn", "decision_tree"]
    )
    assert response.status_code == 503
    _nothing_created()
    assert "form-errors" in response.text
    assert "The job queue is unavailable right now, so nothing was started." in (
        response.text
    )


# ----------------------------------------------------------------- access


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_members_without_the_role_the_catalog_read_only(
    client_for, member, prepared_dataset, role
):
    client = client_for(member(role))
    response = client.get(_url(prepared_dataset.project))
    assert response.status_code == 200
    html = response.text
    assert "Logistic regression" in html
    assert "Scientists and the owner of this project choose the candidates" in html
    assert "max depth = 8" in _candidate(html, "decision_tree")
    assert 'name="algorithms"' not in html
    assert "data-train-button" not in html
    assert 'id="models-form"' not in html
    assert _train(client, prepared_dataset.project, ["knn"]).status_code == 403
    _nothing_created()


def test_it_returns_404_to_an_outsider(client_for, outsider, prepared_dataset):
    client = client_for(outsider)
    assert client.get(_url(prepared_dataset.project)).status_code == 404
    assert _train(client, prepared_dataset.project, ["knn"]).status_code == 404
    _nothing_created()
