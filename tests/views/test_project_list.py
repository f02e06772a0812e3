from __future__ import annotations

import pytest

from tests.factories import MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_lists_only_my_projects(client_for, owner, project):
    ProjectFactory(name="Someone else's secret")
    response = client_for(owner).get("/")
    assert response.status_code == 200
    assert project.name in response.text
    assert "Someone else&#x27;s secret" not in response.text


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_lists_projects_i_am_a_member_of(client_for, project, member, role):
    response = client_for(member(role)).get("/")
    assert project.name in response.text
    assert f'href="/projects/{project.slug}/"' in response.text


def test_it_shows_the_empty_state_to_an_outsider(client_for, outsider, project):
    response = client_for(outsider).get("/")
    assert response.status_code == 200
    assert project.name not in response.text
    assert "No projects yet" in response.text


def test_it_shows_every_project_to_a_superuser(client_for, project):
    other = ProjectFactory(name="Unrelated project")
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = client_for(admin).get("/")
    assert project.name in response.text
    assert other.name in response.text


def test_it_lists_a_project_once_whatever_the_memberships(client_for, owner, project):
    MembershipFactory(project=project, role="viewer")
    MembershipFactory(project=project, role="scientist")
    response = client_for(owner).get("/")
    assert response.text.count(f'href="/projects/{project.slug}/"') == 1


def test_it_shows_the_success_contract(client_for, owner, project):
    response = client_for(owner).get("/")
    assert "f1_macro ≥ 0.8" in response.text


def test_it_redirects_anonymous_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
