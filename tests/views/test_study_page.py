"""The study page: its settings, the live part polled while the study is active
(204 when nothing changed, no trigger once it ended), the trials table, charts,
cancel, the best experiment, bounded queries for a big study, and roles."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from html import unescape

import numpy as np
import pytest
from django.utils import timezone

from projects.models import Experiment, Job, Study, Trial
from projects.selectors import project_steps
from projects.services.tuning import study_create
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db

PAGE = "/projects/{slug}/studies/{id}/"
LIVE = "/projects/{slug}/studies/{id}/live/"
TREE_SPACE = {
    "max_depth": {"type": "int", "low": 1, "high": 8, "log": False, "steps": 4},
    "min_samples_leaf": {"type": "int", "low": 1, "high": 30, "log": True, "steps": 4},
}


def _page(study, live: bool = False, query: str = "") -> str:
    return (LIVE if live else PAGE).format(slug=study.project.slug, id=study.pk) + query


def _poll_tag(html: str) -> str:
    return re.search(r'<div id="study-live"[^>]*>', html).group(0)


def _trial_row(html: str, number: int) -> str:
    match = re.search(
        rf'<tr class="trial-row[^"]*" data-trial="{number}">.*?</tr>', html, flags=re.S
    )
    assert match, f"no row for trial {number}"
    return unescape(match.group(0))


def _figures(html: str) -> list[dict]:
    """The figures of the live part: inert JSON in <template> elements (htmx keeps
    those when it swaps the part in; it drops <script> elements)."""
    return [
        json.loads(m)
        for m in re.findall(
            r'<template class="figure-json" id="fig-\d+">(.*?)</template>', html, re.S
        )
    ]


def _length(values) -> int:
    """Points in a trace: plotly ships numpy arrays as base64 (``bdata``)."""
    if isinstance(values, dict):
        return (
            len(base64.b64decode(values["bdata"])) // np.dtype(values["dtype"]).itemsize
        )
    return len(values)


@pytest.fixture
def study(prepared_dataset, owner):
    """A Bayesian search of the decision tree, running, with four trials done:
    complete (the best), complete, stopped early, failed; one is running."""
    started = timezone.now() - timedelta(seconds=40)
    study = Study.objects.create(
        project=prepared_dataset.project,
        dataset=prepared_dataset,
        algorithm="decision_tree",
        strategy="bayesian",
        search_space=TREE_SPACE,
        metric="f1_macro",
        higher_is_better=True,
        max_trials=10,
        time_budget_s=600,
        cv_folds=3,
        parallelism=2,
        optuna_name="page",
        status="running",
        started_at=started,
        trials_started=5,
        n_trials=4,
        best_score=0.74,
        best_params={"max_depth": 4, "min_samples_leaf": 3},
        best_trial_number=1,
        created_by=owner,
    )
    rows = [
        (0, "complete", 0.61, [0.6, 0.61, 0.61], 1.2, ""),
        (1, "complete", 0.74, [0.7, 0.73, 0.74], 1.5, ""),
        (2, "pruned", 0.41, [0.41], 0.4, ""),
        (3, "failed", None, [], 0.1, "max_depth: <b>bad</b> combination"),
        (4, "running", None, [], None, ""),
    ]
    Trial.objects.bulk_create(
        Trial(
            study=study,
            number=n,
            params={"max_depth": 2 + n, "min_samples_leaf": 3},
            status=status,
            score=score,
            intermediate=intermediate,
            seconds=seconds,
            error=error,
            finished_at=None
            if status == "running"
            else started + timedelta(seconds=5 * (n + 1)),
        )
        for n, status, score, intermediate, seconds, error in rows
    )
    Job.objects.create(
        kind="trial",
        queue="training",
        project=study.project,
        subject_type="study",
        subject_id=study.pk,
        status="running",
        progress=40,
        message="Trial 4: fold 1 of 3",
    )
    return study


def _finish(study, experiment_status="succeeded"):
    experiment = Experiment.objects.create(
        project=study.project,
        dataset=study.dataset,
        algorithm="decision_tree",
        name="Decision tree, best of study",
        status=experiment_status,
        primary_score=0.77,
    )
    Job.objects.filter(subject_id=study.pk, kind="trial").update(status="succeeded")
    Trial.objects.filter(study=study, status="running").update(
        status="complete", score=0.5, seconds=1.0, finished_at=timezone.now()
    )
    Study.objects.filter(pk=study.pk).update(
        status="succeeded",
        best_experiment=experiment,
        finished_at=timezone.now(),
        n_trials=5,
    )
    return experiment


# ---------------------------------------------------------------- the page


def test_it_shows_the_studys_settings(client_for, owner, study):
    response = client_for(owner).get(_page(study))

    assert response.status_code == 200
    html = unescape(response.text)
    assert "Step 8: Hyperparameter tuning" in html
    assert f"Study #{study.pk}: Bayesian (Optuna TPE) search of Decision tree" in html
    assert "Version 2, 3-fold cross-validation on its training rows" in html
    assert "<strong>f1_macro</strong>, higher is better" in html
    assert "10 trials or 10 min, whichever ends first" in html
    assert "up to 2 trials at once" in html
    assert "<code>min_samples_leaf</code> 1 to 30 (log scale)" in html


def test_it_polls_while_the_study_runs_and_shows_its_progress(client_for, owner, study):
    html = client_for(owner).get(_page(study)).text

    poll = _poll_tag(html)
    assert 'hx-trigger="every 2s"' in poll
    assert (
        f'hx-get="/projects/{study.project.slug}/studies/{study.pk}/live/?page=1&amp;seen='
        in poll
    )
    text = unescape(html)
    assert '<span class="badge b-running">Running</span>' in text
    assert '4 <span class="muted">/ 10</span>' in text
    assert "trials done of the budget" in text
    assert '40 s <span class="muted">/ 10 min</span>' in text or "41 s" in text
    assert '<progress max="100" value="40"' in text  # 4 of 10 trials
    assert "Trial 4: fold 1 of 3." in text
    assert "2 · 1 · 1" in text  # complete · stopped early · failed
    assert "<code>max_depth=4</code>" in text  # best parameters


def test_it_shows_each_trial_with_its_status_and_highlights_the_best(
    client_for, owner, study
):
    html = client_for(owner).get(_page(study)).text

    best = _trial_row(html, 1)
    assert "is-best" in best.split(">")[0]
    assert "<strong>0.74</strong>" in best and "best</span>" in best
    assert "<code>max_depth=3</code>" in best and "1.5 s" in best
    pruned = _trial_row(html, 2)
    assert "Stopped early" in pruned
    assert "after 1 of 3 folds: clearly worse than the others so far" in pruned
    failed = _trial_row(html, 3)
    assert '<span class="badge b-failed">Failed</span>' in failed
    assert "max_depth: &lt;b&gt;bad&lt;/b&gt; combination" in html  # R19: escaped
    assert "<b>bad</b>" not in html
    assert '<span class="badge b-running">Running</span>' in _trial_row(html, 4)
    # Newest first.
    numbers = re.findall(r'data-trial="(\d+)"', html)
    assert numbers == ["4", "3", "2", "1", "0"]


def test_it_says_a_trial_was_stopped_by_the_time_budget(client_for, owner, study):
    Trial.objects.filter(study=study, number=2).update(
        error="the time budget would run out before it ended"
    )

    html = client_for(owner).get(_page(study)).text

    pruned = _trial_row(html, 2)
    assert "Stopped early" in pruned
    assert "after 1 of 3 folds: the time budget would run out before it ended" in pruned
    assert "clearly worse" not in pruned


def test_it_draws_the_best_so_far_by_trial_and_by_time_and_a_slice(
    client_for, owner, study
):
    html = client_for(owner).get(_page(study)).text

    titles = [f["layout"]["title"]["text"] for f in _figures(html)]
    assert titles == [
        "Best f1_macro so far, by trial number (higher is better)",
        "Best f1_macro so far, by time (higher is better)",
        "Score against the two most important parameters",
    ]
    assert "Parameter importance appears once 5 trials have finished" in html


def test_it_answers_no_content_when_nothing_changed(client_for, owner, study):
    client = client_for(owner)
    html = client.get(_page(study)).text
    seen = re.search(r"seen=(\w+)", _poll_tag(html)).group(1)

    same = client.get(_page(study, live=True, query=f"?page=1&seen={seen}"))
    Trial.objects.filter(study=study, number=4).update(
        status="complete", score=0.7, seconds=2.0, finished_at=timezone.now()
    )
    Study.objects.filter(pk=study.pk).update(n_trials=5)
    changed = client.get(_page(study, live=True, query=f"?page=1&seen={seen}"))

    assert same.status_code == 204
    assert changed.status_code == 200
    assert changed.text.startswith('<div id="study-live"')
    assert '5 <span class="muted">/ 10</span>' in changed.text
    assert 'hx-trigger="every 2s"' in _poll_tag(changed.text)


def test_it_stops_polling_and_links_the_best_experiment_once_trained(
    client_for, owner, study
):
    experiment = _finish(study)
    client = client_for(owner)

    live = client.get(_page(study, live=True, query="?page=1&seen=old"))
    html = client.get(_page(study)).text

    for text in (live.text, html):
        assert "hx-trigger" not in _poll_tag(text)
        assert '<span class="badge b-succeeded">Succeeded</span>' in text
        link = f'href="/projects/{study.project.slug}/experiments/{experiment.pk}/"'
        assert f"{link}>experiment #{experiment.pk}</a>" in text
        assert "Open its dashboard" in text
        assert "<strong>0.77</strong> on the validation rows" in text
        assert "Cancel the study" not in text


def _select(study, kept: str, gain: float, se: float, confirm=None) -> None:
    Trial.objects.filter(study=study, number=0).update(is_defaults=True)
    extra = {} if confirm is None else {"confirm": confirm}
    Study.objects.filter(pk=study.pk).update(
        selection=extra
        | {
            "kept": kept,
            "trial": 0 if kept == "defaults" else 1,
            "params": {"max_depth": 2, "min_samples_leaf": 3},
            "score": 0.61,
            "best_trial": 1,
            "defaults_trial": 0,
            "gain": gain,
            "se": se,
            "folds": 3,
        }
    )


def test_it_says_when_the_defaults_are_kept_and_marks_them_trained(
    client_for, owner, study
):
    _finish(study)
    _select(study, "defaults", gain=0.0133, se=0.0404)

    html = client_for(owner).get(_page(study)).text

    notice = html.split('id="study-selection"')[1].split("</p>")[0]
    assert "The defaults are kept." in notice
    assert "best trial (1) beat the algorithm's defaults (trial 0) by 0.0133" in notice
    assert "standard error of that difference (0.0404)" in notice
    assert "The defaults are trained as" in html
    defaults = _trial_row(html, 0)
    assert "defaults</span>" in defaults and "trained</span>" in defaults
    assert "trained</span>" not in _trial_row(html, 1)
    assert "best</span>" in _trial_row(html, 1)


def test_it_says_when_the_bests_lead_does_not_hold_on_new_folds(
    client_for, owner, study
):
    _finish(study)
    confirm = {"gain": -0.004, "se": 0.011, "folds": 3, "seconds": 0.4}
    _select(study, "defaults", gain=0.05, se=0.02, confirm=confirm)

    html = client_for(owner).get(_page(study)).text

    notice = html.split('id="study-selection"')[1].split("</p>")[0]
    assert "The defaults are kept." in notice
    assert "beats the algorithm's defaults (trial 0) by 0.05" in notice
    assert "more than the standard error of that difference (0.02)" in notice
    assert "on 3 new folds that no trial used, it leads by -0.004" in notice
    assert "no more than its standard error there (0.011)" in notice
    assert "trained</span>" in _trial_row(html, 0)


def test_it_shows_how_far_the_check_on_new_folds_is(client_for, owner, study):
    Job.objects.filter(subject_id=study.pk, kind="trial").update(status="succeeded")
    Trial.objects.filter(study=study, status="running").update(status="complete")
    Study.objects.filter(pk=study.pk).update(
        status="finishing",
        checking={"scores": [0.7, 0.6, None, 0.5, None, None], "claimed": 4},
    )
    Job.objects.create(
        kind="study_check",
        queue="training",
        project=study.project,
        subject_type="study",
        subject_id=study.pk,
        status="running",
        message="Checking the best on new fold 3 of 3",
    )
    client = client_for(owner)

    live = client.get(_page(study, live=True, query="?page=1")).text
    response = client.get(_page(study, live=True, query="?page=1&seen=x"))

    assert "Checking and training the best" in live
    assert "on new folds that no trial used: 3 of 6 scored" in unescape(live)
    assert "Checking the best on new fold 3 of 3." in live
    assert '<progress max="6" value="3"' in live
    assert 'hx-trigger="every 2s"' in _poll_tag(live)
    assert response.status_code == 200  # a stale signature gets the part


def test_it_says_how_far_the_trained_best_beats_the_defaults(client_for, owner, study):
    _finish(study)
    confirm = {"gain": 0.11, "se": 0.03, "folds": 3, "seconds": 0.4}
    _select(study, "best", gain=0.13, se=0.02, confirm=confirm)

    html = client_for(owner).get(_page(study)).text

    assert "beats the algorithm's defaults (trial 0) by 0.13" in html
    assert "leads again on 3 new folds that no trial used: by 0.11" in html
    assert "The defaults are kept." not in html
    assert "The best parameters are trained as" in html
    assert "trained</span>" not in html
    assert "defaults</span>" in _trial_row(html, 0)


def test_it_says_nothing_of_a_selection_while_the_study_runs(client_for, owner, study):
    html = client_for(owner).get(_page(study)).text

    assert 'id="study-selection"' not in html


def test_it_keeps_polling_while_the_best_experiment_trains(client_for, owner, study):
    _finish(study, experiment_status="running")

    html = client_for(owner).get(_page(study)).text

    assert 'hx-trigger="every 2s"' in _poll_tag(html)
    assert "training now; its dashboard fills in when it ends" in html
    assert "Cancel the study" not in html


def test_it_shows_why_a_study_failed(client_for, owner, study):
    Study.objects.filter(pk=study.pk).update(
        status="failed", error="No trial finished. The first failure: <oops>"
    )
    Job.objects.filter(subject_id=study.pk).update(status="failed")

    html = client_for(owner).get(_page(study)).text

    assert "No trial finished. The first failure: &lt;oops&gt;" in html
    assert "hx-trigger" not in _poll_tag(html)


def test_it_pages_a_big_study_with_bounded_queries(
    client_for, owner, study, django_assert_max_num_queries
):
    client = client_for(owner)
    client.get(_page(study))  # warm: session, user
    with django_assert_max_num_queries(20) as small:
        client.get(_page(study))
    Trial.objects.bulk_create(
        Trial(
            study=study,
            number=n,
            params={"max_depth": 1 + n % 8, "min_samples_leaf": 1 + n % 30},
            status="complete",
            score=0.5 + (n % 17) / 100,
            seconds=0.5,
            finished_at=study.started_at + timedelta(seconds=n),
        )
        for n in range(5, 205)
    )
    # A single-parameter space keeps Optuna's importance out of this test.
    Study.objects.filter(pk=study.pk).update(
        n_trials=204,
        max_trials=300,
        search_space={"max_depth": TREE_SPACE["max_depth"]},
    )

    with django_assert_max_num_queries(len(small.captured_queries)) as big:
        html = client.get(_page(study)).text
    with django_assert_max_num_queries(len(small.captured_queries)):
        second = client.get(_page(study, live=True, query="?page=2")).text

    assert len(big.captured_queries) == len(small.captured_queries)
    assert len(re.findall(r'data-trial="\d+"', html)) == 50
    assert re.findall(r'data-trial="(\d+)"', html)[0] == "204"
    assert "Page 1 of 5" in html and "trials 1–50 of 205, newest first" in html
    assert re.findall(r'data-trial="(\d+)"', second)[0] == "154"
    assert "?page=2&amp;seen=" in second
    # The charts still draw every finished trial (one point each).
    by_trial = _figures(html)[0]
    assert _length(by_trial["data"][0]["x"]) == 202


# ------------------------------------------------------------------ cancel


def test_it_cancels_a_running_study(client_for, owner, study):
    response = client_for(owner).post(_page(study), {"action": "cancel"})

    assert response.status_code == 302 and response["Location"] == _page(study)
    study.refresh_from_db()
    assert study.status == "cancelled"
    # The running trial is asked to stop at its next fold.
    assert Job.objects.get(subject_id=study.pk, kind="trial").cancel_requested
    html = client_for(owner).get(_page(study)).text
    assert "cancelled: finished trials and the best result are kept" in html
    assert "the finished trials and the best result are kept" in html
    assert "hx-trigger" not in _poll_tag(html)


def test_it_says_a_finished_study_has_nothing_to_cancel(client_for, owner, study):
    _finish(study)

    response = client_for(owner).post(_page(study), {"action": "cancel"}, follow=True)

    assert "The study is succeeded: nothing to cancel." in response.text
    study.refresh_from_db()
    assert study.status == "succeeded"


def test_it_shows_the_cancel_button_to_scientists_only(client_for, member, study):
    scientist = client_for(member("scientist")).get(_page(study)).text
    assert "Cancel the study" in scientist
    viewer = member("viewer")
    html = client_for(viewer).get(_page(study)).text
    assert "Cancel the study" not in html
    assert _trial_row(html, 1)


def test_it_refuses_a_cancel_from_a_viewer(client_for, member, study):
    response = client_for(member("viewer")).post(_page(study), {"action": "cancel"})

    assert response.status_code == 403
    study.refresh_from_db()
    assert study.status == "running"


def test_it_lets_a_scientist_cancel(client_for, member, study):
    client_for(member("scientist")).post(_page(study), {"action": "cancel"})

    study.refresh_from_db()
    assert study.status == "cancelled"


def test_it_hides_the_study_from_outsiders_and_other_projects(
    client_for, outsider, owner, study
):
    client = client_for(outsider)
    assert client.get(_page(study)).status_code == 404
    assert client.get(_page(study, live=True)).status_code == 404
    assert client.post(_page(study), {"action": "cancel"}).status_code == 404
    study.refresh_from_db()
    assert study.status == "running"
    other = ProjectFactory(created_by=owner)
    MembershipFactory(project=other, user=owner, role="owner")
    wrong = f"/projects/{other.slug}/studies/{study.pk}/"
    assert client_for(owner).get(wrong).status_code == 404


# ------------------------------------------------------- a real study, end to end


@pytest.mark.django_db(transaction=True)
def test_it_shows_importance_and_the_best_experiment_of_a_real_study(
    client_for, owner, prepared_dataset, run_jobs
):
    study = study_create(
        project=prepared_dataset.project,
        dataset=prepared_dataset,
        algorithm="decision_tree",
        strategy="random",
        max_trials=8,
        search_space=TREE_SPACE,
        cv_folds=3,
        parallelism=2,
        user=owner,
    )
    run_jobs()
    study.refresh_from_db()
    assert study.status == "succeeded", study.error

    html = client_for(owner).get(_page(study)).text

    titles = [f["layout"]["title"]["text"] for f in _figures(html)]
    assert (
        "Which parameters mattered: share of the score's variation each explains"
        in (titles)
    )
    assert "Score against the two most important parameters" in titles
    assert len(re.findall(r'data-trial="\d+"', html)) == 8
    experiment = study.best_experiment
    assert experiment.status == "succeeded"
    assert f"experiment #{experiment.pk}</a>" in html
    assert "hx-trigger" not in _poll_tag(html)
    steps = {s.slug: s for s in project_steps(study.project, prepared_dataset)}
    assert steps["tuning"].state == "done"
