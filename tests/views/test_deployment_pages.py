"""Step 9 pages: the step, a deployment's evidence and decision, the queue."""

from __future__ import annotations

import re

import pytest

from projects.models import Deployment
from projects.services.deployments import deployment_approve, deployment_request
from tests.deploy_support import make_version
from tests.factories import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(project, owner, member):
    users = {role: member(role) for role in ("viewer", "scientist", "approver")}
    users["owner"] = owner
    return users


def step_url(project) -> str:
    return f"/projects/{project.slug}/steps/deployment/"


def page_url(deployment) -> str:
    return f"/projects/{deployment.project.slug}/deployments/{deployment.pk}/"


def requested(project, team, env="staging", **kwargs) -> Deployment:
    version = make_version(project, team["scientist"], **kwargs)
    return deployment_request(version=version, environment=env, user=team["scientist"])


# ------------------------------------------------------------------ the step


def test_it_waits_for_a_trained_experiment(client_for, project, owner):
    html = client_for(owner).get(step_url(project)).text
    assert "This step waits for a <strong>trained experiment</strong>" in html


def test_it_lists_versions_with_a_request_form_for_scientists(
    client_for, project, team
):
    make_version(project, team["scientist"])
    html = client_for(team["scientist"]).get(step_url(project)).text
    assert f'href="/projects/{project.slug}/models/1/"' in html
    assert "Request deployment of v1" in html
    assert "Nothing is live yet." in html


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_others_the_versions_without_the_form(client_for, project, team, role):
    make_version(project, team["scientist"])
    response = client_for(team[role]).get(step_url(project))
    assert response.status_code == 200
    assert "model v1" in response.text
    assert "Request deployment of v1" not in response.text


def test_it_hides_the_step_from_strangers(client_for, project, outsider):
    assert client_for(outsider).get(step_url(project)).status_code == 404


def test_it_requests_a_deployment_from_the_form(client_for, project, team):
    version = make_version(project, team["scientist"])
    response = client_for(team["scientist"]).post(
        step_url(project),
        {
            "model_version": version.pk,
            "environment": "production",
            "unseen_categories": "allow",
            "comment": "ready",
        },
    )
    deployment = Deployment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page_url(deployment)
    assert deployment.environment == "production"
    assert deployment.unseen_categories == "allow"
    assert deployment.request_comment == "ready"


def test_it_shows_a_bad_request_inline(client_for, project, team):
    version = make_version(project, team["scientist"])
    response = client_for(team["scientist"]).post(
        step_url(project),
        {"model_version": version.pk, "environment": "moon"},
    )
    assert response.status_code == 400
    assert "Select a valid choice. moon is not one of the available choices." in (
        response.text
    )
    assert not Deployment.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_a_request_from_roles_without_it(client_for, project, team, role):
    version = make_version(project, team["scientist"])
    response = client_for(team[role]).post(
        step_url(project), {"model_version": version.pk, "environment": "staging"}
    )
    assert response.status_code == 403


def test_it_shows_requests_live_deployments_and_the_queue(client_for, project, team):
    live = deployment_approve(
        deployment=requested(project, team), user=team["owner"], comment=""
    )
    pending = requested(project, team)
    html = client_for(team["approver"]).get(step_url(project)).text
    queue = html[html.index('id="queue"') : html.index('id="live"')]
    assert page_url(pending) in queue and page_url(live) not in queue
    live_part = html[html.index('id="live"') : html.index('id="versions"')]
    assert f"/deployments/{project.slug}-staging/predict" in live_part
    assert html.count('data-deployment="') == 2


# ------------------------------------------------------------ the deployment


def test_it_shows_the_evidence_pack(client_for, project, team):
    requested(project, team)
    deployment_approve(
        deployment=Deployment.objects.get(), user=team["approver"], comment=""
    )
    second = requested(project, team, C=0.2, score=0.9)
    html = client_for(team["viewer"]).get(page_url(second)).text
    for anchor in (
        "ev-contract",
        "ev-metrics",
        "ev-fairness",
        "ev-looks",
        "ev-learning",
        "ev-card",
        "ev-diff",
    ):
        assert f'id="{anchor}"' in html
    assert "f1_macro on validation" in html
    assert "Looks at the test split: 0" in html
    assert "Intended use" in html and "Tests." in html
    assert "Live when requested: model v1" in html
    assert "C 1.0 → 0.2" in html
    # A viewer reads; the decision is not theirs.
    assert 'id="approve-form"' not in html
    assert "Only approvers and the owner of this project decide" in html


def test_it_tells_the_requester_why_they_cannot_decide(client_for, project, team):
    deployment = requested(project, team)
    html = client_for(team["scientist"]).get(page_url(deployment)).text
    assert "You requested this deployment: four eyes" in html
    assert 'id="approve-form"' not in html


def test_it_approves_from_the_page(client_for, project, team):
    deployment = requested(project, team)
    client = client_for(team["approver"])
    response = client.post(page_url(deployment) + "approve/", {"comment": "fine"})
    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.status == "live" and deployment.decision_comment == "fine"
    html = client.get(page_url(deployment)).text
    assert "Approved: the deployment is live." in html
    assert 'id="status">Live' in html


def test_it_needs_the_acknowledgement_on_the_page(client_for, project, team):
    deployment = requested(project, team, passes=False)
    client = client_for(team["approver"])
    html = client.get(page_url(deployment)).text
    assert 'id="id_acknowledge"' in html and "Warnings to acknowledge" in html
    response = client.post(page_url(deployment) + "approve/", {"comment": ""})
    assert response.status_code == 409
    assert "warnings the approver must acknowledge" in response.text
    response = client.post(
        page_url(deployment) + "approve/", {"comment": "", "acknowledge": "on"}
    )
    assert response.status_code == 302


def test_it_offers_only_rejection_when_blocked(client_for, project, team):
    deployment = requested(project, team, env="production", passes=False)
    html = client_for(team["approver"]).get(page_url(deployment)).text
    assert "policy blocks this request" in html
    assert 'id="approve-form"' not in html and 'id="reject-form"' in html


def test_it_refuses_a_rejection_without_a_reason_inline(client_for, project, team):
    deployment = requested(project, team)
    client = client_for(team["owner"])
    response = client.post(page_url(deployment) + "reject/", {"comment": ""})
    assert response.status_code == 400
    assert "This field is required." in response.text
    response = client.post(page_url(deployment) + "reject/", {"comment": "no"})
    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.status == "rejected"


def test_it_refuses_a_decision_by_the_requester_or_a_scientist(
    client_for, project, team
):
    deployment = requested(project, team)
    response = client_for(team["scientist"]).post(page_url(deployment) + "approve/")
    assert response.status_code == 403


def test_it_rolls_back_from_the_page(client_for, project, team):
    first = deployment_approve(
        deployment=requested(project, team), user=team["approver"], comment=""
    )
    second = deployment_approve(
        deployment=requested(project, team, C=0.3),
        user=team["approver"],
        comment="",
    )
    client = client_for(team["scientist"])
    assert 'id="rollback-form"' in client.get(page_url(second)).text
    assert 'id="rollback-form"' not in client.get(page_url(first)).text
    response = client.post(page_url(second) + "rollback/")
    assert response.status_code == 302 and response["Location"] == page_url(first)
    first.refresh_from_db()
    assert first.status == "live"
    again = client.post(page_url(second) + "rollback/")
    assert again.status_code == 409
    assert "Only the live deployment can be rolled back" in again.text


def test_it_hides_a_deployment_from_strangers_and_other_slugs(
    client_for, project, team, outsider
):
    deployment = requested(project, team)
    assert client_for(outsider).get(page_url(deployment)).status_code == 404
    other = ProjectFactory()
    MembershipFactory(project=other, user=team["viewer"], role="viewer")
    wrong = f"/projects/{other.slug}/deployments/{deployment.pk}/"
    assert client_for(team["viewer"]).get(wrong).status_code == 404


# ------------------------------------------------------------ the queue


def test_it_counts_and_lists_the_approvers_queue(client_for, project, team):
    deployment = requested(project, team)
    client = client_for(team["approver"])
    html = client.get("/approvals/").text
    assert page_url(deployment) in html
    assert re.search(
        r'id="nav-approvals">Approvals<span class="nav-count"[^>]*>1<', html
    )
    # The requester has nothing to decide.
    mine = client_for(team["scientist"]).get("/approvals/").text
    assert page_url(deployment) not in mine
    assert "Nothing waits for your decision." in mine
    assert 'class="nav-count"' not in mine


def test_it_says_what_is_missing_from_an_empty_request(client_for, project, team):
    make_version(project, team["scientist"])
    response = client_for(team["owner"]).post(step_url(project), {})
    assert response.status_code == 400
    assert "Environment: This field is required." in response.text
    assert not Deployment.objects.exists()


def test_it_marks_the_step_current_then_done_once_live(client_for, project, team):
    client = client_for(team["viewer"])

    def state() -> str:
        html = client.get(step_url(project)).text
        item = html[html.index("Deployment</span>") :]
        return item[: item.index("</span></span>")].rsplit(">", 1)[-1]

    assert state().startswith("waits for a trained experiment")
    deployment = requested(project, team)
    assert state() == "current"
    deployment_approve(deployment=deployment, user=team["owner"], comment="")
    assert state() == "done"


def test_it_runs_as_many_queries_for_many_requests_as_for_a_few(
    client_for, project, team, django_assert_max_num_queries
):
    version = make_version(project, team["scientist"])

    def ask(n: int) -> None:
        for _ in range(n):
            deployment_request(
                version=version, environment="staging", user=team["scientist"]
            )

    client = client_for(team["approver"])
    ask(2)
    client.get(step_url(project))  # warm: session, user
    with django_assert_max_num_queries(30) as few:
        assert client.get(step_url(project)).status_code == 200
    ask(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get(step_url(project)).text
    assert html.count('data-deployment="') == 22
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/approvals/").status_code == 200
