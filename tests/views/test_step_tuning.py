"""Step 8 page: the form that starts a tuning study (search space rows from the
proposed space, errors on the field they name, nothing written on error) and the
project's studies."""

from __future__ import annotations

import re
from html import unescape

import pytest

from projects.models import Experiment, Job, Study
from projects.selectors import project_steps

pytestmark = pytest.mark.django_db

URL = "/projects/{slug}/steps/tuning/"


def _url(project, query: str = "") -> str:
    return URL.format(slug=project.slug) + query


def _row(html: str, name: str) -> str:
    match = re.search(
        rf'<tr class="space-row[^"]*" data-param="{name}">.*?</tr>', html, flags=re.S
    )
    assert match, f"no row for {name!r}"
    return unescape(match.group(0))


def _errors(fragment: str) -> list[str]:
    return [
        unescape(e)
        for e in re.findall(r'<p class="error" role="alert">(.*?)</p>', fragment)
    ]


def _nothing_created():
    assert Study.objects.count() == 0
    assert not Job.objects.filter(kind="trial").exists()


def _tree_form(**changes) -> dict:
    """The decision tree's proposed space as the page posts it."""
    data = {
        "algorithm": "decision_tree",
        "version": "2",
        "strategy": "bayesian",
        "max_trials": "6",
        "minutes": "",
        "cv_folds": "3",
        "space.max_depth.include": "1",
        "space.max_depth.type": "int",
        "space.max_depth.low": "2",
        "space.max_depth.high": "20",
        "space.max_depth.steps": "4",
        "space.min_samples_leaf.include": "1",
        "space.min_samples_leaf.type": "int",
        "space.min_samples_leaf.low": "1",
        "space.min_samples_leaf.high": "50",
        "space.min_samples_leaf.log": "1",
        "space.min_samples_leaf.steps": "4",
        "space.class_weight.choices": ["none", "balanced"],
    }
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.fixture
def trained(prepared_dataset, owner):
    """A decision tree that finished training (the row is enough for step 8)."""
    return Experiment.objects.create(
        project=prepared_dataset.project,
        dataset=prepared_dataset,
        algorithm="decision_tree",
        name="Decision tree on v2",
        status="succeeded",
        primary_score=0.71,
        created_by=owner,
    )


@pytest.fixture
def project_(trained):
    return trained.project


# ----------------------------------------------------------------- waiting


def test_it_says_it_waits_for_a_trained_experiment(client_for, owner, prepared_dataset):
    project = prepared_dataset.project

    response = client_for(owner).get(_url(project))

    assert response.status_code == 200
    assert "Step 8: Hyperparameter tuning" in response.text
    assert "This step waits for a <strong>trained experiment</strong>" in response.text
    assert f'href="/projects/{project.slug}/steps/training/"' in response.text
    assert 'id="tuning-form"' not in response.text
    steps = {s.slug: s for s in project_steps(project, prepared_dataset)}
    assert steps["tuning"].state == "waiting"
    assert steps["tuning"].waits_for == "a trained experiment (step 6)"


def test_it_refuses_to_start_a_study_before_anything_is_trained(
    client_for, owner, prepared_dataset
):
    response = client_for(owner).post(_url(prepared_dataset.project), _tree_form())

    assert response.status_code == 409
    _nothing_created()


# ------------------------------------------------------------------ the form


def test_it_proposes_the_search_space_of_the_latest_trained_algorithm(
    client_for, owner, project_
):
    response = client_for(owner).get(_url(project_))

    assert response.status_code == 200
    html = response.text
    assert 'id="tuning-form"' in html
    assert '<option value="decision_tree" selected>Decision tree</option>' in html
    assert '<option value="2" selected>v2 · 200 rows · 120 training rows</option>' in (
        html
    )
    # Every strategy, with what it does in one line; Bayesian is the default.
    assert 'name="strategy" value="bayesian" checked' in html
    for label in ("Grid", "Random", "Bayesian (Optuna TPE)", "Successive halving"):
        assert f"<strong>{label}</strong>" in html
    assert "only the best third earns more folds" in html
    depth = _row(html, "max_depth")
    assert 'name="space.max_depth.include" value="1" id="sp-max_depth" checked' in depth
    assert 'name="space.max_depth.low" value="2"' in depth
    assert 'name="space.max_depth.high" value="20"' in depth
    assert 'name="space.max_depth.steps" value="4"' in depth
    leaf = _row(html, "min_samples_leaf")
    assert 'name="space.min_samples_leaf.log" value="1" checked' in leaf
    assert 'name="space.min_samples_leaf.high" value="50"' in leaf
    # Not proposed: unticked, prefilled with the catalog's choices.
    weight = _row(html, "class_weight")
    assert "checked data-include" not in weight
    assert 'value="balanced" checked' in weight
    assert 'name="max_trials" id="input-max-trials" value="30"' in html
    assert 'name="cv_folds" id="input-cv-folds" value="5"' in html
    assert "up to 4 at once" in html


def test_it_loads_another_algorithms_space_and_shows_conditions_as_text(
    client_for, owner, project_
):
    html = client_for(owner).get(_url(project_, "?algorithm=svm&version=2")).text

    assert '<option value="svm" selected>Support vector machine</option>' in html
    degree = _row(html, "degree")
    assert "Conditional: only searched when kernel is poly." in degree
    assert 'name="space.C.log" value="1" checked' in _row(html, "C")
    kernel = _row(html, "kernel")
    for value in ("rbf", "linear", "poly"):
        assert f'value="{value}" checked' in kernel
    # The select reloads only the space through htmx.
    assert 'hx-select="#tuning-space"' in html


def test_it_prefills_the_algorithm_and_version_of_an_experiment(
    client_for, owner, project_, prepared_dataset
):
    knn = Experiment.objects.create(
        project=project_,
        dataset=prepared_dataset,
        algorithm="knn",
        name="<b>Neighbours</b>",
        status="succeeded",
    )

    html = client_for(owner).get(_url(project_, f"?experiment={knn.pk}")).text

    assert '<option value="knn" selected>' in html
    assert f'name="experiment" id="input-experiment" value="{knn.pk}">' in html
    assert "&lt;b&gt;Neighbours&lt;/b&gt;" in html  # R19: escaped
    assert "<b>Neighbours</b>" not in html
    assert 'name="space.n_neighbors.include"' in html


def test_it_links_an_experiment_dashboard_to_tuning_it(client_for, owner, trained):
    project = trained.project
    html = client_for(owner).get(f"/projects/{project.slug}/experiments/{trained.pk}/")

    assert (
        f'href="/projects/{project.slug}/steps/tuning/?experiment={trained.pk}">'
        "Tune this model</a>"
    ) in html.text


# ---------------------------------------------------------------- starting


def test_it_starts_a_study_from_the_edited_form(client_for, owner, project_, trained):
    form = _tree_form(
        space__max_depth__high="6",
        max_trials="8",
        minutes="2.5",
        experiment=str(trained.pk),
        **{"space.class_weight.include": "1"},
    )

    response = client_for(owner).post(_url(project_), form)

    study = Study.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project_.slug}/studies/{study.pk}/"
    assert study.algorithm == "decision_tree" and study.strategy == "bayesian"
    assert study.dataset.version == 2
    assert study.max_trials == 8 and study.time_budget_s == 150
    assert study.cv_folds == 3
    assert study.source_experiment == trained
    assert study.search_space["max_depth"] == {
        "type": "int", "low": 2, "high": 6, "log": False, "steps": 4
    }  # fmt: skip
    assert study.search_space["min_samples_leaf"]["log"] is True
    assert study.search_space["class_weight"] == {
        "type": "choice", "choices": ["none", "balanced"]
    }  # fmt: skip
    assert study.metric == "f1_macro" and study.higher_is_better
    # Trial chains on the training queue: one per trial allowed at once.
    jobs = Job.objects.filter(kind="trial", subject_id=study.pk)
    assert jobs.count() == 4 and {j.queue for j in jobs} == {"training"}
    follow = client_for(owner).get(response["Location"])
    assert f"Study #{study.pk} started" in follow.text


def test_it_searches_a_number_over_a_list_of_values(client_for, owner, project_):
    form = _tree_form(
        space__max_depth__type="choice",
        space__max_depth__values="3, 5, 9",
        space__min_samples_leaf__include=None,
        strategy="grid",
    )

    client_for(owner).post(_url(project_), form)

    study = Study.objects.get()
    assert study.search_space == {"max_depth": {"type": "choice", "choices": [3, 5, 9]}}
    assert study.max_trials == 3  # the grid's size


def test_it_stops_on_time_alone(client_for, owner, project_):
    client_for(owner).post(_url(project_), _tree_form(max_trials="", minutes="1"))

    study = Study.objects.get()
    assert study.max_trials is None and study.time_budget_s == 60


BAD = {
    # field -> (posted changes, where the error shows, words of the message)
    "low-not-a-number": (
        {"space__max_depth__low": "deep"},
        "max_depth",
        "Give a number.",
    ),
    "high-below-low": (
        {"space__max_depth__low": "9", "space__max_depth__high": "3"},
        "max_depth",
        "Must be at least low (9).",
    ),
    "outside-the-catalog": (
        {"space__min_samples_leaf__low": "0"},
        "min_samples_leaf",
        "min_samples_leaf must stay between 1 and 1000.",
    ),
    "grid-steps": (
        {"space__max_depth__steps": "1"},
        "max_depth",
        "Give a whole number of grid points, 2-50.",
    ),
    "no-choice-ticked": (
        {"space.class_weight.include": "1", "space.class_weight.choices": []},
        "class_weight",
        "Give a non-empty list of values.",
    ),
    "empty-list-of-values": (
        {"space__max_depth__type": "choice", "space__max_depth__values": ""},
        "max_depth",
        "Give a non-empty list of values.",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_it_shows_a_bad_range_at_its_parameter_and_creates_nothing(
    client_for, owner, project_, case
):
    changes, where, message = BAD[case]

    response = client_for(owner).post(_url(project_), _tree_form(**changes))

    assert response.status_code == 400
    row = _row(response.text, where)
    assert "has-error" in row.split(">")[0]
    assert message in _errors(row)
    _nothing_created()
    # What the user typed stays in place.
    for key, value in changes.items():
        if isinstance(value, str) and value and ".include" not in key:
            assert f'value="{value}"' in _row(response.text, key.split("__")[1])


FIELD_ERRORS = {
    "no-budget": (
        {"max_trials": "", "minutes": ""},
        "input-max-trials",
        "Give a budget",
    ),
    "too-many-trials": ({"max_trials": "5000"}, "input-max-trials", "Give 1 to 1,000"),
    "trials-not-whole": ({"max_trials": "2.5"}, "input-max-trials", "whole number"),
    "too-short": ({"minutes": "0.05"}, "input-minutes", "Give 10 seconds to 24 hours"),
    "minutes-text": ({"minutes": "soon"}, "input-minutes", "Give a number of minutes"),
    "folds": ({"cv_folds": "1"}, "input-cv-folds", "Give 2 to 20 folds."),
    "strategy": ({"strategy": "annealing"}, "tuning-strategy", "Choose one of"),
}


@pytest.mark.parametrize("case", list(FIELD_ERRORS))
def test_it_shows_a_bad_setting_at_its_field_and_creates_nothing(
    client_for, owner, project_, case
):
    changes, near, words = FIELD_ERRORS[case]

    response = client_for(owner).post(_url(project_), _tree_form(**changes))

    assert response.status_code == 400
    html = response.text
    if near.startswith("input-"):
        field = re.search(
            rf'<div class="field has-error">\s*<label for="{near}">.*?</div>',
            html,
            flags=re.S,
        )
        assert field, f"no error at {near}"
        assert any(words in e for e in _errors(field.group(0))), _errors(html)
    else:
        section = html.split(f'id="{near}"')[1].split("</section>")[0]
        assert any(words in e for e in _errors(section)), _errors(html)
    _nothing_created()


def test_it_refuses_an_empty_search_space_above_the_rows(client_for, owner, project_):
    form = _tree_form(
        space__max_depth__include=None, space__min_samples_leaf__include=None
    )

    response = client_for(owner).post(_url(project_), form)

    assert response.status_code == 400
    assert re.search(
        r'<p class="error" role="alert" id="space-error">The search space is empty',
        response.text,
    )
    _nothing_created()


def test_it_names_a_version_that_is_not_prepared(client_for, owner, project_):
    response = client_for(owner).post(_url(project_), _tree_form(version="1"))

    assert response.status_code == 400
    assert "Version 1 is not a prepared version" in response.text
    _nothing_created()


def test_it_says_so_inline_when_the_queue_is_down(
    client_for, owner, project_, queue_down
):
    response = client_for(owner).post(_url(project_), _tree_form())

    assert response.status_code == 503
    assert 'id="tuning-errors"' in response.text
    assert "queue" in response.text.split('id="tuning-errors"')[1].split("</div>")[0]
    _nothing_created()


# ------------------------------------------------------------- the studies


def test_it_lists_the_projects_studies(client_for, owner, project_, prepared_dataset):
    done = Study.objects.create(
        project=project_,
        dataset=prepared_dataset,
        algorithm="decision_tree",
        strategy="random",
        metric="f1_macro",
        optuna_name="a",
        status="succeeded",
        max_trials=20,
        n_trials=20,
        best_score=0.8123,
    )
    timed = Study.objects.create(
        project=project_,
        dataset=prepared_dataset,
        algorithm="knn",
        strategy="halving",
        metric="f1_macro",
        optuna_name="b",
        time_budget_s=300,
        n_trials=3,
    )

    html = client_for(owner).get(_url(project_)).text

    section = unescape(html.split('id="studies"')[1])
    assert 'Studies <span class="muted">(2)</span>' in section
    first, second = re.findall(r'<tr class="study-row[^"]*" data-study="(\d+)"', html)
    assert [int(first), int(second)] == [timed.pk, done.pk]  # newest first
    row = section.split(f'data-study="{done.pk}"')[1].split("</tr>")[0]
    assert '<span class="badge b-succeeded">Succeeded</span>' in row
    assert "<td>Random</td>" in row and "<td>Decision tree</td>" in row
    assert "20 / 20" in row and "<strong>0.8123</strong>" in row
    assert f'href="/projects/{project_.slug}/studies/{done.pk}/"' in row
    row = section.split(f'data-study="{timed.pk}"')[1].split("</tr>")[0]
    assert "3 / ∞" in row and "or 300 s" in row and "—" in row
    steps = {s.slug: s for s in project_steps(project_, prepared_dataset)}
    assert steps["tuning"].state == "done"


def test_it_marks_the_step_current_once_an_experiment_is_trained(
    project_, prepared_dataset
):
    steps = {s.slug: s for s in project_steps(project_, prepared_dataset)}

    assert steps["tuning"].state == "current" and steps["tuning"].built


# ------------------------------------------------------------------- roles


def test_it_shows_viewers_the_studies_but_no_form(client_for, member, project_):
    html = client_for(member("viewer")).get(_url(project_)).text

    assert "Scientists and the owner of this project start studies" in html
    assert 'id="tuning-form"' not in html
    assert 'id="studies"' in html


def test_it_refuses_a_study_from_a_viewer(client_for, member, project_):
    response = client_for(member("viewer")).post(_url(project_), _tree_form())

    assert response.status_code == 403
    _nothing_created()


def test_it_lets_a_scientist_start_a_study(client_for, member, project_):
    response = client_for(member("scientist")).post(_url(project_), _tree_form())

    assert response.status_code == 302
    assert Study.objects.get().created_by.username == "scientist-user"


def test_it_hides_the_page_from_outsiders(client_for, outsider, project_):
    client = client_for(outsider)

    assert client.get(_url(project_)).status_code == 404
    assert client.post(_url(project_), _tree_form()).status_code == 404
    _nothing_created()
