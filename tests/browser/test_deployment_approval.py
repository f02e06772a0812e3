"""Step 9 in a real browser: request, the approver's queue, the evidence pack,
approval with an acknowledgement, rollback, the audit log and the members page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects.models import Deployment
from projects.services.deployments import deployment_approve, deployment_request
from tests.deploy_support import make_version
from tests.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser]


@pytest.fixture
def team(project, owner):
    users = {"owner": owner}
    for role, name in (("scientist", "sam"), ("approver", "ada")):
        users[role] = UserFactory(username=name)
        MembershipFactory(project=project, user=users[role], role=role)
    return users


def test_it_walks_a_request_through_approval(ui, project, team, password):
    # Version 1 is live on staging already; version 2 fails the contract.
    first = deployment_request(
        version=make_version(project, team["scientist"]),
        environment="staging",
        user=team["scientist"],
    )
    deployment_approve(deployment=first, user=team["owner"], comment="first")
    make_version(project, team["scientist"], passes=False, score=0.6, C=0.2)

    ui.login("sam", password)
    ui.goto(f"/projects/{project.slug}/steps/deployment/")
    ui.shot("step 9 as the scientist")
    row = ui.page.locator("form.request-form").first  # newest version first
    row.get_by_label("Comment").fill("Cheaper model; please check the score.")
    row.get_by_role("button", name="Request deployment of v2").click()
    expect(ui.page.locator("#status")).to_have_text("Pending approval")
    expect(ui.page.locator("#decision-block")).to_contain_text("four eyes")
    ui.shot("deployment page as the requester")
    ui.page.get_by_role("button", name="Log out").click()

    ui.login("ada", password)
    expect(ui.page.locator("#nav-approvals .nav-count")).to_have_text("1")
    ui.page.locator("#nav-approvals").click()
    ui.shot("approval queue")
    ui.page.get_by_role("link", name="Review").click()
    expect(ui.page.locator("#warnings")).to_contain_text("f1_macro on validation")
    expect(ui.page.locator("#ev-diff")).to_be_visible()
    ui.shot("evidence pack as the approver")
    ui.page.get_by_role("button", name="Approve and put live").click()
    expect(ui.page.get_by_role("alert")).to_contain_text("must acknowledge")
    ui.shot("approval refused without the acknowledgement")
    # Chromium logs the refusal's 409 as a resource error: it is the point here.
    ui.console_errors[:] = [e for e in ui.console_errors if "409" not in e]
    ui.page.locator("#id_acknowledge").check()
    ui.page.get_by_role("button", name="Approve and put live").click()
    expect(ui.page.locator("#status")).to_have_text("Live")
    ui.shot("live deployment")
    second = Deployment.objects.get(status="live")
    assert second.model_version.version == 2 and second.previous == first
    ui.page.get_by_role("button", name="Log out").click()

    ui.login("sam", password)
    ui.goto(f"/projects/{project.slug}/deployments/{second.pk}/")
    ui.page.get_by_role("button", name="Roll back").click()
    expect(ui.page.locator("#status")).to_have_text("Live")
    expect(ui.page.get_by_role("heading", level=1)).to_contain_text("Model v1")
    ui.goto(f"/projects/{project.slug}/audit/")
    expect(ui.page.locator("#audit")).to_contain_text("deployment.rolled_back")
    ui.shot("audit log")
    ui.goto(f"/projects/{project.slug}/steps/deployment/")
    ui.shot("step 9 after the rollback")


def test_it_lets_the_owner_manage_members(ui, project, team, password):
    UserFactory(username="victor")
    ui.login(team["owner"].username, password)
    ui.goto(f"/projects/{project.slug}/members/")
    ui.page.get_by_label("Username").fill("nobody")
    ui.page.get_by_role("button", name="Save").click()
    expect(ui.page.get_by_role("alert")).to_contain_text("No active user")
    ui.shot("members with an error")
    ui.page.get_by_label("Username").fill("victor")
    ui.page.get_by_label("Role").select_option("viewer")
    ui.page.get_by_role("button", name="Save").click()
    expect(ui.page.locator('[data-member="victor"]')).to_contain_text("Viewer")
    ui.shot("members")
