"""Registering from the experiment dashboard and the study page, and the model
version page: the card, contract, schema, lineage and chart; editing the card's
text (inline errors); owner, member and outsider."""

from __future__ import annotations

from html import unescape

import pytest

from projects.models import AuditEvent, Experiment, ModelVersion, Study
from projects.services.registry import model_version_register
from tests.factories import MembershipFactory, ProjectFactory
from tests.registry_support import messy_prepared, trained_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(project, owner, profile_jobs, tmp_path):
    prepared = messy_prepared(project, owner, profile_jobs, tmp_path)
    return trained_on(profile_jobs, prepared, owner)


@pytest.fixture
def version(trained, owner):
    return model_version_register(experiment=trained, user=owner, name="pilot")


def _page(version) -> str:
    return f"/projects/{version.project.slug}/models/{version.version}/"


def test_it_registers_from_the_dashboard(trained, client_for, member, project):
    client = client_for(member("scientist"))
    dashboard = f"/projects/{project.slug}/experiments/{trained.pk}/"
    assert "Register as model version" in client.get(dashboard).content.decode()

    response = client.post(
        f"/projects/{project.slug}/experiments/{trained.pk}/register/"
    )

    version = ModelVersion.objects.get()
    assert response.status_code == 302
    assert response.url == f"/projects/{project.slug}/models/1/"
    assert version.experiment == trained
    page = client.get(response.url).content.decode()
    assert "Registered experiment" in page
    html = client.get(dashboard).content.decode()
    assert f'href="/projects/{project.slug}/models/1/"' in html


def test_it_shows_no_register_button_to_viewers(trained, client_for, member, project):
    client = client_for(member("viewer"))
    dashboard = f"/projects/{project.slug}/experiments/{trained.pk}/"
    assert "Register as model version" not in client.get(dashboard).content.decode()
    refused = client.post(
        f"/projects/{project.slug}/experiments/{trained.pk}/register/"
    )
    assert refused.status_code == 403
    assert not ModelVersion.objects.exists()


def test_it_says_why_an_unfinished_experiment_is_not_registered(
    client_for, owner, project, prepared_dataset
):
    experiment = Experiment.objects.create(
        project=project, dataset=prepared_dataset, algorithm="svm", status="failed"
    )
    response = client_for(owner).post(
        f"/projects/{project.slug}/experiments/{experiment.pk}/register/"
    )
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert 'id="register-error"' in html and "only a succeeded" in html
    assert not ModelVersion.objects.exists()


def test_it_offers_to_register_a_studys_trained_best(
    trained, client_for, owner, project
):
    study = Study.objects.create(
        project=project,
        dataset=trained.dataset,
        algorithm="logistic_regression",
        strategy="random",
        metric="f1_macro",
        optuna_name="registry-view",
        status="succeeded",
        best_experiment=trained,
    )
    html = client_for(owner).get(f"/projects/{project.slug}/studies/{study.pk}/")
    html = html.content.decode()
    assert (
        f'action="/projects/{project.slug}/experiments/{trained.pk}/register/"' in html
    )


def test_it_renders_the_card_for_any_member(version, client_for, member):
    response = client_for(member("viewer")).get(_page(version))

    assert response.status_code == 200
    html = unescape(response.content.decode())
    assert "Model version 1: pilot" in html
    assert version.card["intended_use"] in html
    assert version.card["metrics"] in html
    assert 'data-part="primary_metric"' in html and 'data-part="fairness:sex"' in html
    assert (
        "contract passes" if version.contract["passes"] else "contract fails"
    ) in html
    for column in ("age", "income", "city", "sex"):
        assert f"<code>{column}</code>" in html
    assert version.lineage["uploaded_sha256"] in html
    assert "Looks at the test split" in html
    assert 'class="chart"' in html  # the reference prediction distribution
    # Viewers read; they do not edit.
    assert "Edit the card" not in html


def test_it_edits_the_card_text(version, client_for, owner):
    client = client_for(owner)
    assert "Edit the card" in client.get(_page(version)).content.decode()
    fields = {k: version.card[k] for k in ("data", "metrics", "fairness")}
    response = client.post(
        _page(version) + "card/",
        {
            **fields,
            "intended_use": "Rank customers for retention calls.",
            "limitations": "Not for customers under 18.",
            "notes": "",
        },
    )
    assert response.status_code == 302
    assert response.url == _page(version) + "#card"
    version.refresh_from_db()
    assert version.card["intended_use"] == "Rank customers for retention calls."
    assert version.card["limitations"] == "Not for customers under 18."
    event = AuditEvent.objects.get(verb="model_version.card_edited")
    assert event.data["fields"] == ["intended_use", "limitations"]


def test_it_shows_bad_card_input_inline(version, client_for, owner):
    before = dict(version.card)
    response = client_for(owner).post(
        _page(version) + "card/",
        {"intended_use": "   ", "notes": "x" * 5001, "metrics": "kept?"},
    )
    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert html.count('class="error" role="alert"') == 2
    assert "This field is required." in html
    assert "at most 5000 characters" in html
    assert "kept?" in html  # what was typed is shown again
    version.refresh_from_db()
    assert version.card == before


def test_it_hides_versions_from_outsiders(version, client_for, outsider):
    MembershipFactory(project=ProjectFactory(), user=outsider, role="owner")
    client = client_for(outsider)
    assert client.get(_page(version)).status_code == 404
    assert client.post(_page(version) + "card/", {"notes": "x"}).status_code == 404


def test_it_refuses_card_edits_to_viewers_and_approvers(version, client_for, member):
    for role in ("viewer", "approver"):
        response = client_for(member(role)).post(
            _page(version) + "card/", {"intended_use": "mine"}
        )
        assert response.status_code == 403, role


def test_it_answers_404_for_a_version_number_that_does_not_exist(
    version, client_for, owner
):
    url = f"/projects/{version.project.slug}/models/2/"
    assert client_for(owner).get(url).status_code == 404
