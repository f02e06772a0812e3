"""Step 6 page: the project's experiments listed live, paginated, with cancel and
retry; and the rows fragment the page polls."""

from __future__ import annotations

import re
from html import unescape

import pytest

from projects.models import AuditEvent, Experiment, Job
from projects.services.experiments import experiment_create
from projects.services.jobs import job_fail

pytestmark = pytest.mark.django_db

URL = "/projects/{slug}/steps/training/"
ROWS = "/projects/{slug}/steps/training/rows/"


def _url(project, rows: bool = False) -> str:
    return (ROWS if rows else URL).format(slug=project.slug)


def _row(html: str, experiment: Experiment) -> str:
    match = re.search(
        rf'<tr class="exp-row[^"]*" data-experiment="{experiment.pk}">.*?</tr>',
        html,
        flags=re.S,
    )
    assert match, f"no row for experiment {experiment.pk}"
    return unescape(match.group(0))


def _poll_tag(html: str) -> str:
    return re.search(r'<div id="training-rows"[^>]*>', html).group(0)


def _cancel(client, project, experiment, page=""):
    return client.post(
        _url(project), {"action": "cancel", "experiment": experiment.pk, "page": page}
    )


@pytest.fixture
def queued(prepared_dataset, owner):
    """A decision tree and its baseline, queued (no worker ran)."""
    return experiment_create(
        project=prepared_dataset.project,
        dataset=prepared_dataset,
        algorithm="decision_tree",
        user=owner,
    )


@pytest.fixture
def trained(prepared_dataset, owner, profile_jobs):
    """Logistic regression and its baseline, trained by real jobs (3 folds)."""
    with profile_jobs():
        experiment = experiment_create(
            project=prepared_dataset.project,
            dataset=prepared_dataset,
            algorithm="logistic_regression",
            user=owner,
            cv_folds=3,
        )
    experiment.refresh_from_db()
    assert experiment.status == "succeeded", experiment.error
    return experiment


@pytest.fixture
def failed(queued):
    """The queued decision tree, failed with a reason and a log."""
    job = Job.objects.get(subject_id=queued.pk, kind="train")
    job_fail(job_id=job.id, reason="Decision tree failed to train: the solver broke.")
    Experiment.objects.filter(pk=queued.pk).update(
        log="Fold 1 of 5\nFold 2 of 5: <boom>"
    )
    queued.refresh_from_db()
    return queued


def _many(dataset, n: int) -> None:
    """n experiments with their jobs: a third failed (with logs), the rest split
    between succeeded and running."""
    project = dataset.project
    statuses = ["succeeded", "failed", "running"]
    experiments = Experiment.objects.bulk_create(
        Experiment(
            project=project,
            dataset=dataset,
            name=f"Candidate {i}",
            algorithm="knn",
            status=statuses[i % 3],
            metrics={"cv": {"f1_macro": {"mean": 0.7, "std": 0.01}}},
            primary_score=0.7,
            fit_seconds=0.2,
            log="some log" if i % 3 == 1 else "",
            error="broke" if i % 3 == 1 else "",
        )
        for i in range(n)
    )
    Job.objects.bulk_create(
        Job(
            kind="train",
            queue="training",
            project=project,
            subject_type="experiment",
            subject_id=e.pk,
            status=e.status,
            progress=40,
            message="Fold 2 of 5",
        )
        for e in experiments
    )


# ----------------------------------------------------------------- the page


def test_it_says_it_waits_for_a_candidate(client_for, owner, prepared_dataset):
    response = client_for(owner).get(_url(prepared_dataset.project))
    assert response.status_code == 200
    assert "This step waits for a candidate model." in response.text
    assert f'href="/projects/{prepared_dataset.project.slug}/steps/models/"' in (
        response.text
    )
    assert 'id="training-rows"' not in response.text


def test_it_lists_queued_experiments_with_progress_and_polls(client_for, owner, queued):
    project = queued.project
    html = client_for(owner).get(_url(project)).text
    assert "Step 6: Training" in html
    row = _row(html, queued)
    assert "Decision tree on v2" in row
    assert "<td>Decision tree</td>" in row
    assert "<td>v2</td>" in row
    assert '<span class="badge b-queued">Queued</span>' in row
    assert '<progress max="100" value="0"' in row
    assert "Waiting for a worker" in row
    assert 'aria-label="Cancel Decision tree on v2"' in row
    assert "baseline" in _row(html, queued.baseline)
    poll = _poll_tag(html)
    assert (
        f'hx-get="/projects/{project.slug}/steps/training/rows/?page=1&amp;poll=1"'
        in (poll)
    )
    assert 'hx-trigger="every 2s"' in poll


def test_it_shows_the_job_progress_and_message_of_a_running_experiment(
    client_for, owner, queued
):
    Job.objects.filter(subject_id=queued.pk).update(
        status="running", progress=42, message="Fold 2 of 5"
    )
    row = _row(client_for(owner).get(_url(queued.project)).text, queued)
    assert '<span class="badge b-running">Running</span>' in row
    assert '<progress max="100" value="42"' in row
    assert "Fold 2 of 5" in row


def test_it_shows_scores_and_links_finished_experiments_to_their_dashboard(
    client_for, owner, trained
):
    project = trained.project
    html = client_for(owner).get(_url(project)).text
    row = _row(html, trained)
    cv = trained.metrics["cv"]["f1_macro"]
    assert f"{cv['mean']:.4f} ± {cv['std']:.4f}" in row
    assert f"<strong>{trained.primary_score:.4f}</strong>" in row
    assert f"{trained.fit_seconds:.2f} s" in row
    assert f'href="/projects/{project.slug}/experiments/{trained.pk}/"' in row
    assert "progress" not in row
    assert "Cancel" not in row
    # f1_macro ≥ 0.8 on random labels: below the threshold, and said so.
    assert "below" in row
    # Nothing is active: the table does not poll.
    assert "hx-trigger" not in _poll_tag(html)


def test_it_shows_why_an_experiment_failed_and_keeps_its_log(client_for, owner, failed):
    html = client_for(owner).get(_url(failed.project)).text
    row = _row(html, failed)
    assert '<span class="badge b-failed">Failed</span>' in row
    assert "Decision tree failed to train: the solver broke." in row
    assert "<summary>Log</summary>" in row
    assert "Fold 2 of 5: &lt;boom&gt;" in html  # escaped
    job = Job.objects.get(subject_id=failed.pk, kind="train")
    assert f'action="/jobs/{job.id}/retry/"' in row
    assert f'name="next" value="/projects/{failed.project.slug}/steps/training/"' in row
    assert "Cancel" not in row


def test_it_retries_a_failed_experiment_through_the_job_retry_view(
    client_for, owner, failed
):
    job = Job.objects.get(subject_id=failed.pk, kind="train")
    url = _url(failed.project)
    response = client_for(owner).post(f"/jobs/{job.id}/retry/", {"next": url})
    assert response.status_code == 302
    assert response.url == url
    failed.refresh_from_db()
    assert failed.status == "queued"
    assert Job.objects.filter(subject_id=failed.pk, kind="train").count() == 2


# ----------------------------------------------------------------- cancel


def test_it_cancels_a_queued_experiment(client_for, owner, queued):
    response = _cancel(client_for(owner), queued.project, queued)
    assert response.status_code == 302
    assert response.url == _url(queued.project)
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert AuditEvent.objects.filter(verb="experiment.cancelled").count() == 1
    html = client_for(owner).get(response.url).text
    assert "Cancel requested for Decision tree on v2." in html
    assert '<span class="badge b-cancelled">Cancelled</span>' in _row(html, queued)


def test_it_says_when_there_is_nothing_to_cancel(client_for, owner, trained):
    client = client_for(owner)
    response = _cancel(client, trained.project, trained, page="1")
    assert response.status_code == 302
    assert "nothing to cancel" in client.get(response.url).text
    trained.refresh_from_db()
    assert trained.status == "succeeded"


def test_it_lets_a_scientist_cancel(client_for, member, queued):
    response = _cancel(client_for(member("scientist")), queued.project, queued)
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.status == "cancelled"


def test_it_returns_404_for_an_experiment_of_another_project(
    client_for, owner, queued, project
):
    from tests.factories import MembershipFactory, ProjectFactory

    other = ProjectFactory()
    MembershipFactory(project=other, user=owner, role="owner")
    assert _cancel(client_for(owner), other, queued).status_code == 404
    queued.refresh_from_db()
    assert queued.status == "queued"


# ----------------------------------------------------------------- the fragment


def test_the_fragment_is_the_table_alone(client_for, owner, queued):
    response = client_for(owner).get(_url(queued.project, rows=True))
    assert response.status_code == 200
    html = response.text
    assert html.lstrip().startswith('<div id="training-rows"')
    assert "stepper" not in html
    assert 'hx-trigger="every 2s"' in _poll_tag(html)


def test_the_fragment_stops_polling_and_reloads_the_page_when_all_ended(
    client_for, owner, trained
):
    response = client_for(owner).get(
        _url(trained.project, rows=True) + "?page=1&poll=1", HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "hx-trigger" not in _poll_tag(response.text)
    assert response["HX-Refresh"] == "true"


def test_the_fragment_keeps_polling_while_a_row_is_active(client_for, owner, queued):
    response = client_for(owner).get(
        _url(queued.project, rows=True) + "?page=1&poll=1", HTTP_HX_REQUEST="true"
    )
    assert "HX-Refresh" not in response
    assert 'hx-trigger="every 2s"' in _poll_tag(response.text)


# ----------------------------------------------------------------- many rows


def test_it_paginates_fifty_experiments_a_page(client_for, owner, prepared_dataset):
    _many(prepared_dataset, 60)
    client = client_for(owner)
    project = prepared_dataset.project
    first = client.get(_url(project)).text
    assert first.count('<tr class="exp-row') == 50
    assert "Page 1 of 2 · 1–50 of 60" in first
    assert "Candidate 59" in first and "Candidate 9<" not in first
    second = client.get(_url(project) + "?page=2").text
    assert second.count('<tr class="exp-row') == 10
    assert "Candidate 9<" in second
    assert "?page=2&amp;poll=1" in _poll_tag(second)
    rows = client.get(_url(project, rows=True) + "?page=2").text
    assert rows.count('<tr class="exp-row') == 10


@pytest.mark.parametrize("path", [URL, ROWS])
def test_it_runs_as_many_queries_for_sixty_experiments_as_for_five(
    client_for, owner, prepared_dataset, django_assert_max_num_queries, path
):
    client = client_for(owner)
    url = path.format(slug=prepared_dataset.project.slug)
    _many(prepared_dataset, 5)
    with django_assert_max_num_queries(25) as few:
        assert client.get(url).status_code == 200
    _many(prepared_dataset, 55)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(url).text
    assert html.count('<tr class="exp-row') == 50


# ----------------------------------------------------------------- access


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_members_without_the_role_the_list_without_controls(
    client_for, member, failed, role
):
    client = client_for(member(role))
    project = failed.project
    response = client.get(_url(project))
    assert response.status_code == 200
    html = response.text
    assert "Decision tree failed to train" in _row(html, failed)
    assert "Retry" not in html
    assert "Cancel" not in _row(html, failed.baseline)
    assert "Train more candidates" not in html
    assert client.get(_url(project, rows=True)).status_code == 200
    assert _cancel(client, project, failed.baseline).status_code == 403
    failed.baseline.refresh_from_db()
    assert failed.baseline.status == "queued"


def test_it_returns_404_to_an_outsider(client_for, outsider, queued):
    client = client_for(outsider)
    project = queued.project
    assert client.get(_url(project)).status_code == 404
    assert client.get(_url(project, rows=True)).status_code == 404
    assert _cancel(client, project, queued).status_code == 404
