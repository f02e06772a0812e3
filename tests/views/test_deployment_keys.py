"""The keys part of a live deployment's page: predict URL, curl example, keys
created (shown once) and revoked from the page, for each role."""

from __future__ import annotations

import re
import shlex
from html import unescape

import pytest
from django.test import Client

from projects.models import DeploymentKey

pytestmark = pytest.mark.django_db


def keys_url(live) -> str:
    return f"/projects/{live.project.slug}/deployments/{live.pk}/keys/"


def curl_of(html: str) -> str:
    return unescape(re.search(r'id="curl-example"><code>(.*?)</code>', html, re.S)[1])


def test_it_shows_the_predict_url_curl_example_and_version(client_for, live, owner):
    response = client_for(owner).get(keys_url(live))
    assert response.status_code == 200
    html = response.content.decode()
    url = f"http://testserver/deployments/{live.endpoint.slug}/predict"
    assert f'<code id="predict-url">{url}</code>' in html
    assert "<strong>v1</strong> is live" in html
    curl = curl_of(html)
    assert f"curl -X POST {url}" in curl
    # An example row with every schema column: a category seen, a number in range.
    assert '"city": "Lyon"' in curl
    assert '"age": 48' in curl
    assert "No keys yet." in html


def test_it_creates_a_key_shown_once_that_the_curl_example_uses(
    client_for, live, owner
):
    client = client_for(owner)
    response = client.post(keys_url(live), {"name": "billing"})
    assert response.status_code == 200
    html = response.content.decode()
    secret = re.search(r'<code id="new-key">([^<]+)</code>', html)[1]
    key = DeploymentKey.objects.get()
    assert secret.startswith(f"lcd_{key.prefix}_")
    assert "shown this once" in html
    # The page's curl example, run as written (its body, URL and key header).
    argv = shlex.split(curl_of(html).split("\n", 1)[1].replace("\\\n", " "))
    assert f"export LIFECYCLE_KEY={secret}" in curl_of(html)
    body = argv[argv.index("-d") + 1]
    predicted = Client().post(
        argv[3].removeprefix("http://testserver"),
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert predicted.status_code == 200, predicted.content
    assert predicted.json()["warnings"] == []
    # Shown once: the page never shows it again.
    again = client.get(keys_url(live)).content.decode()
    assert secret not in again
    assert f"lcd_{key.prefix}_…" in again


def test_it_swaps_the_panel_for_htmx(client_for, live, owner):
    response = client_for(owner).post(
        keys_url(live), {"name": "ci"}, headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card deployment-keys"')
    assert 'id="new-key"' in html


def test_it_shows_the_error_for_an_empty_name(client_for, live, owner):
    response = client_for(owner).post(keys_url(live), {"name": " "})
    assert response.status_code == 400
    assert "Give the key a name" in response.content.decode()
    assert not DeploymentKey.objects.exists()


def test_it_revokes_a_key(client_for, live, owner):
    client = client_for(owner)
    client.post(keys_url(live), {"name": "ci"})
    key = DeploymentKey.objects.get()
    response = client.post(f"{keys_url(live)}{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "revoked" in client.get(keys_url(live)).content.decode()


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_keys_without_forms_to(client_for, live, member, role, owner):
    client_for(owner).post(keys_url(live), {"name": "ci"})
    client = client_for(member(role))
    html = client.get(keys_url(live)).content.decode()
    assert "Create key" not in html
    assert "Revoke" not in html
    assert "ci" in html
    assert client.post(keys_url(live), {"name": "x"}).status_code == 403
    key = DeploymentKey.objects.get()
    assert client.post(f"{keys_url(live)}{key.pk}/revoke/").status_code == 403


def test_it_hides_the_page_from_strangers(client_for, live, outsider):
    assert client_for(outsider).get(keys_url(live)).status_code == 404


def test_it_renders_when_included_in_a_page(rf, live, owner):
    """H2's deployment page includes the partial with `deployment` in context."""
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = owner
    html = render_to_string(
        "projects/_deployment_keys.html", {"deployment": live}, request=request
    )
    assert 'id="predict-url"' in html
    assert "Create key" in html
