"""Deployment keys: created once, stored hashed, revocable, one endpoint each."""

from __future__ import annotations

import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from projects.models import AuditEvent, DeploymentKey
from projects.services.keys import (
    deployment_key_authenticate,
    deployment_key_create,
    deployment_key_revoke,
)
from tests.deploy_support import make_version
from tests.serving_support import make_live

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(project, owner):
    return make_live(make_version(project, owner), owner)


def test_it_shows_the_key_once_and_stores_only_its_hash(deployment, owner):
    key, secret = deployment_key_create(deployment=deployment, user=owner, name="ci")
    stored = DeploymentKey.objects.get(pk=key.pk)
    assert secret.startswith(f"lcd_{stored.prefix}_")
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(DeploymentKey.objects.filter(pk=key.pk).values().first())
    assert stored.endpoint == deployment.endpoint
    assert stored.created_by == owner
    event = AuditEvent.objects.get(verb="deployment_key.created")
    assert event.project == deployment.project
    assert secret not in str(event.data)


def test_it_opens_its_endpoint_with_the_secret(deployment, owner):
    key, secret = deployment_key_create(deployment=deployment, user=owner, name="ci")
    assert (
        deployment_key_authenticate(endpoint=deployment.endpoint, secret=secret) == key
    )
    assert (
        deployment_key_authenticate(endpoint=deployment.endpoint.slug, secret=secret)
        == key
    )
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_it_refuses_a_wrong_or_malformed_secret(deployment, owner):
    _key, secret = deployment_key_create(deployment=deployment, user=owner, name="ci")
    for wrong in ("", "nope", secret[:-2] + "xx", "lcd_", "lc_" + secret[4:]):
        assert (
            deployment_key_authenticate(endpoint=deployment.endpoint, secret=wrong)
            is None
        )


def test_it_refuses_a_revoked_key(deployment, owner):
    key, secret = deployment_key_create(deployment=deployment, user=owner, name="ci")
    deployment_key_revoke(key=key, user=owner)
    assert (
        deployment_key_authenticate(endpoint=deployment.endpoint, secret=secret) is None
    )
    assert AuditEvent.objects.filter(verb="deployment_key.revoked").count() == 1
    deployment_key_revoke(key=key, user=owner)  # twice: nothing more happens
    assert AuditEvent.objects.filter(verb="deployment_key.revoked").count() == 1


def test_it_refuses_the_key_of_another_endpoint(deployment, project, owner):
    production = make_live(
        make_version(project, owner), owner, environment="production"
    )
    _key, secret = deployment_key_create(deployment=production, user=owner, name="p")
    assert (
        deployment_key_authenticate(endpoint=deployment.endpoint, secret=secret) is None
    )
    assert (
        deployment_key_authenticate(endpoint=production.endpoint, secret=secret)
        is not None
    )


def test_it_keeps_the_key_when_another_version_goes_live(deployment, project, owner):
    _key, secret = deployment_key_create(deployment=deployment, user=owner, name="ci")
    newer = make_live(make_version(project, owner, C=0.5), owner)
    assert newer.endpoint == deployment.endpoint
    assert deployment_key_authenticate(endpoint=newer.endpoint, secret=secret)


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_lets_only_scientists_and_owners_create_and_revoke(
    deployment, owner, member, role
):
    user = member(role)
    with pytest.raises(PermissionDenied):
        deployment_key_create(deployment=deployment, user=user, name="x")
    key, _ = deployment_key_create(deployment=deployment, user=owner, name="ci")
    with pytest.raises(PermissionDenied):
        deployment_key_revoke(key=key, user=user)
    scientist = member("scientist")
    deployment_key_revoke(key=key, user=scientist)
    assert DeploymentKey.objects.get(pk=key.pk).revoked_at is not None


def test_it_wants_a_name(deployment, owner):
    with pytest.raises(ValidationError) as info:
        deployment_key_create(deployment=deployment, user=owner, name="  ")
    assert "name" in info.value.message_dict
    assert not DeploymentKey.objects.exists()
