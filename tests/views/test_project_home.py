from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["viewer", "scientist", "approver"])
def test_it_sends_a_member_to_the_current_step(client_for, project, member, role):
    response = client_for(member(role)).get(f"/projects/{project.slug}/")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/steps/data/"


def test_it_sends_the_owner_to_data_collection_before_any_data(
    client_for, owner, project
):
    response = client_for(owner).get(f"/projects/{project.slug}/")
    assert response["Location"] == f"/projects/{project.slug}/steps/data/"


def test_it_returns_404_to_an_outsider(client_for, outsider, project):
    response = client_for(outsider).get(f"/projects/{project.slug}/")
    assert response.status_code == 404


def test_it_returns_404_for_a_project_that_does_not_exist(client_for, owner):
    response = client_for(owner).get("/projects/no-such-project/")
    assert response.status_code == 404


def test_it_redirects_anonymous_to_login(client, project):
    response = client.get(f"/projects/{project.slug}/")
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/projects/{project.slug}/"
