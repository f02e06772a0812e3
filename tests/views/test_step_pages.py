"""Every wizard step page renders for every member and says what it waits for."""

from __future__ import annotations

import pytest

from projects.selectors import STEPS

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "scientist", "approver"]
PLANNED = [step.slug for step in STEPS if not step.built]


def _url(project, step):
    return f"/projects/{project.slug}/steps/{step}/"


@pytest.mark.parametrize("step", [s.slug for s in STEPS])
@pytest.mark.parametrize("role", ROLES)
def test_it_renders_every_step_for_a_member(client_for, project, member, role, step):
    response = client_for(member(role)).get(_url(project, step))
    assert response.status_code == 200
    assert f"you: {role}" in response.text
    assert 'aria-current="step"' in response.text


@pytest.mark.parametrize("step", [s.slug for s in STEPS])
def test_it_renders_every_step_for_the_owner(client_for, owner, project, step):
    response = client_for(owner).get(_url(project, step))
    assert response.status_code == 200
    assert "you: owner" in response.text


@pytest.mark.parametrize("step", [s.slug for s in STEPS])
def test_it_returns_404_to_an_outsider(client_for, outsider, project, step):
    assert client_for(outsider).get(_url(project, step)).status_code == 404


def test_it_redirects_anonymous_to_login(client, project):
    response = client.get(_url(project, "prepare"))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_it_returns_404_for_an_unknown_step(client_for, owner, project):
    assert client_for(owner).get(_url(project, "launch")).status_code == 404


def test_it_says_preparation_waits_for_a_data_set(client_for, project, member):
    response = client_for(member("viewer")).get(_url(project, "prepare"))
    assert "This step is waiting for a data set (step 2)." in response.text
    assert f'href="/projects/{project.slug}/steps/data/"' in response.text


def test_it_says_preparation_waits_for_the_profile(
    client_for, owner, project, churn_csv
):
    from projects.services.datasets import dataset_upload

    dataset_upload(project=project, user=owner, path=churn_csv, filename="churn.csv")
    response = client_for(owner).get(_url(project, "prepare"))
    assert "This step is waiting for the data profile (step 2)." in response.text


def test_it_says_preparation_waits_for_a_target(
    client_for, project, member, ready_dataset
):
    response = client_for(member("approver")).get(_url(project, "prepare"))
    assert "This step is waiting for a target column (step 2)." in response.text


def test_it_says_maintenance_waits_for_monitoring(client_for, project, member):
    response = client_for(member("scientist")).get(_url(project, "maintenance"))
    assert "This step is waiting for step 10, Monitoring." in response.text
    assert "Retrain on new data with the same recipe" in response.text


def test_it_says_planned_steps_are_not_built_once_the_data_is_done(
    client_for, owner, project, ready_dataset
):
    project.target_column = "churn"
    project.save()
    response = client_for(owner).get(_url(project, "features"))
    # Step 4 now waits for a prepared version (step 3).
    assert (
        "This step is waiting for step 3, Cleaning &amp; preparation." in response.text
    )


@pytest.mark.parametrize("step", PLANNED)
def test_it_refuses_input_on_a_planned_step(client_for, owner, project, step):
    response = client_for(owner).post(_url(project, step), {"anything": "1"})
    assert response.status_code == 405
