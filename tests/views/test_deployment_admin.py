"""The Django admin's approve / reject actions use the same services."""

from __future__ import annotations

import pytest

from projects.models import Deployment
from projects.services.deployments import deployment_request
from tests.deploy_support import make_version
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/projects/deployment/"


@pytest.fixture
def admins(db):
    return [
        UserFactory(username=name, is_staff=True, is_superuser=True)
        for name in ("root", "other-root")
    ]


def act(client, action: str, deployment):
    return client.post(
        URL,
        {"action": action, "_selected_action": [deployment.pk]},
        follow=True,
    )


def test_it_refuses_the_admin_who_requested(client, project, admins):
    root, _other = admins
    version = make_version(project, root)
    deployment = deployment_request(version=version, environment="staging", user=root)
    client.force_login(root)
    response = act(client, "approve", deployment)
    assert "Four eyes" in response.text
    deployment.refresh_from_db()
    assert deployment.status == "pending"


def test_it_approves_and_rejects_as_another_admin(client, project, admins):
    root, other = admins
    first = deployment_request(
        version=make_version(project, root), environment="staging", user=root
    )
    second = deployment_request(
        version=make_version(project, root), environment="production", user=root
    )
    client.force_login(other)
    assert "1 deployment(s) approved and live." in act(client, "approve", first).text
    assert "1 deployment(s) rejected." in act(client, "reject", second).text
    statuses = dict(Deployment.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "live", second.pk: "rejected"}


def test_it_reports_warnings_until_acknowledged(client, project, admins):
    root, other = admins
    deployment = deployment_request(
        version=make_version(project, root, passes=False),
        environment="staging",
        user=root,
    )
    client.force_login(other)
    assert "must acknowledge" in act(client, "approve", deployment).text
    act(client, "approve_acknowledging", deployment)
    deployment.refresh_from_db()
    assert deployment.status == "live"


def test_it_lists_model_versions(client, project, admins):
    make_version(project, admins[0])
    client.force_login(admins[0])
    assert client.get("/admin/projects/modelversion/").status_code == 200
