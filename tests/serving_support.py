"""Live deployments for the serving tests, through the real approval flow.

``make_live`` asks for the deployment as ``user`` and has an approver of the
project (four eyes: never the requester) approve it, acknowledging any warning, so
the rows are exactly what the pages and the API produce.
"""

from __future__ import annotations

from projects.models import Deployment, Membership, Role
from projects.services.deployments import deployment_approve, deployment_request
from tests.factories import MembershipFactory, UserFactory


def project_approver(project):
    """The project's test approver (made on first use)."""
    found = (
        Membership.objects.filter(project=project, role=Role.APPROVER)
        .select_related("user")
        .first()
    )
    if found is not None:
        return found.user
    user = UserFactory(username=f"approver-of-{project.pk}")
    MembershipFactory(project=project, user=user, role=Role.APPROVER)
    return user


def make_live(
    version, user, *, environment: str = "staging", unseen: str = "error"
) -> Deployment:
    """Put ``version`` live on its project's ``environment`` (replacing any)."""
    deployment = deployment_request(
        version=version, environment=environment, user=user, unseen_categories=unseen
    )
    return deployment_approve(
        deployment=deployment,
        user=project_approver(version.project),
        comment="Approved for the test.",
        acknowledge=True,
    )
