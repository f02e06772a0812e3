"""Step 9 approval: requests, the evidence pack, four eyes, policy, rollback."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction

from projects.models import AuditEvent, Deployment, TestLook
from projects.services.deployments import (
    DeploymentConflict,
    deployment_approve,
    deployment_reject,
    deployment_request,
    deployment_rollback,
    endpoint_for,
    pending_for,
)
from tests.deploy_support import make_version
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(project, owner, member):
    owner.email = "olivia@example.com"
    owner.save()
    users = {role: member(role) for role in ("viewer", "scientist", "approver")}
    for role, user in users.items():
        user.email = f"{role}@example.com"
        user.save()
    users["owner"] = owner
    return users


def verbs(project) -> list[str]:
    return list(
        AuditEvent.objects.filter(project=project)
        .order_by("created_at", "id")
        .values_list("verb", flat=True)
    )


def request(project, team, env="staging", **kwargs):
    version = make_version(project, team["scientist"], **kwargs)
    return deployment_request(
        version=version, environment=env, user=team["scientist"], comment="please"
    )


def test_it_makes_one_endpoint_per_environment(project):
    first = endpoint_for(project=project, environment="staging")
    assert endpoint_for(project=project, environment="staging") == first
    assert first.slug == f"{project.slug}-staging"
    assert endpoint_for(project=project, environment="production") != first


def test_it_assembles_the_evidence_pack_from_stored_facts(project, team):
    version = make_version(project, team["scientist"], score=0.85)
    experiment = version.experiment
    experiment.evaluation = {
        "analysis": {
            "learning_curve": {"verdict": {"kind": "good_fit", "text": "Good fit."}},
            "fairness": {
                "sex": {
                    "flagged": False,
                    "reasons": [],
                    "demographic_parity_difference": 0.03,
                    "equal_opportunity_difference": 0.02,
                    "metric_difference": 0.01,
                }
            },
        }
    }
    experiment.save()
    TestLook.objects.create(dataset=experiment.dataset, experiment=experiment)
    deployment = deployment_request(
        version=version, environment="production", user=team["scientist"]
    )
    evidence = deployment.evidence
    assert deployment.status == "pending" and deployment.blocked is False
    assert evidence["contract"]["passes"] is True
    assert evidence["contract"]["parts"][0]["value"] == 0.85
    assert evidence["metrics"]["rows"][0]["metric"] == "f1_macro"
    assert evidence["metrics"]["rows"][0]["validation"] == 0.85
    assert evidence["fairness"]["passes"] is True
    assert evidence["fairness"]["bound"] == 0.1
    assert evidence["test_looks"]["count"] == 1
    assert evidence["learning_curve"] == {"kind": "good_fit", "text": "Good fit."}
    assert evidence["card"] == {"intended_use": "Tests."}
    assert evidence["diff"] is None  # nothing live yet
    assert verbs(project) == ["deployment.requested"]


def test_it_refuses_a_request_from_a_viewer_or_an_approver(project, team):
    version = make_version(project, team["scientist"])
    for role in ("viewer", "approver"):
        with pytest.raises(PermissionDenied):
            deployment_request(version=version, environment="staging", user=team[role])
    assert not Deployment.objects.exists()


def test_it_mails_the_approvers_and_owners_but_not_the_requester(project, team):
    request(project, team)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["approver@example.com", "olivia@example.com"]
    assert "model v1" in message.subject and "staging" in message.subject
    assert f"/projects/{project.slug}/deployments/" in message.body


def test_it_refuses_the_requester_even_when_owner(project, team):
    version = make_version(project, team["owner"])
    deployment = deployment_request(
        version=version, environment="staging", user=team["owner"]
    )
    with pytest.raises(PermissionDenied, match="Four eyes"):
        deployment_approve(deployment=deployment, user=team["owner"], comment="")
    with pytest.raises(PermissionDenied, match="Four eyes"):
        deployment_reject(deployment=deployment, user=team["owner"], comment="no")
    deployment.refresh_from_db()
    assert deployment.status == "pending"


@pytest.mark.parametrize("role", ["viewer", "scientist"])
def test_it_refuses_a_decision_by_a_role_without_approval(project, team, role):
    deployment = request(project, team)
    other = UserFactory(username=f"other-{role}")
    MembershipFactory(project=project, user=other, role=role)
    with pytest.raises(PermissionDenied, match="Only approvers"):
        deployment_approve(deployment=deployment, user=other, comment="")
    deployment.refresh_from_db()
    assert deployment.status == "pending"


@pytest.mark.parametrize("role", ["approver", "owner"])
def test_it_puts_live_when_another_approver_or_owner_approves(project, team, role):
    deployment = request(project, team)
    live = deployment_approve(
        deployment=deployment, user=team[role], comment="looks good"
    )
    assert live.status == "live" and live.live_at is not None
    assert live.decided_by == team[role] and live.decision_comment == "looks good"
    assert verbs(project) == [
        "deployment.requested",
        "deployment.approved",
        "deployment.live",
    ]


def test_it_replaces_the_live_deployment_and_records_the_diff(project, team):
    first = deployment_approve(
        deployment=request(project, team), user=team["approver"], comment=""
    )
    second = request(project, team, C=0.1, score=0.9)
    diff = second.evidence["diff"]
    assert diff["live_version"] == 1
    assert {"name": "C", "live": 1.0, "candidate": 0.1} in diff["params"]
    assert any(
        m["metric"] == "f1_macro" and m["candidate"] == 0.9 for m in diff["metrics"]
    )
    assert diff["schema"] == {"added": [], "removed": [], "changed": []}
    second = deployment_approve(deployment=second, user=team["owner"], comment="")
    first.refresh_from_db()
    assert first.status == "replaced" and first.ended_at is not None
    assert second.previous == first
    assert Deployment.objects.filter(status="live").count() == 1
    assert "deployment.replaced" in verbs(project)


def test_it_blocks_a_failing_contract_in_production(project, team):
    deployment = request(project, team, env="production", passes=False, score=0.5)
    assert deployment.blocked is True
    with pytest.raises(DeploymentConflict, match="policy blocks") as exc:
        deployment_approve(deployment=deployment, user=team["approver"], comment="")
    assert exc.value.field == "blocked"
    deployment.refresh_from_db()
    assert deployment.status == "pending"


def test_it_warns_in_staging_and_needs_an_acknowledgement(project, team):
    deployment = request(project, team, passes=False, score=0.5)
    assert deployment.blocked is False
    assert deployment.evidence["warnings"] == ["f1_macro on validation"]
    with pytest.raises(DeploymentConflict, match="acknowledge") as exc:
        deployment_approve(deployment=deployment, user=team["approver"], comment="")
    assert exc.value.field == "acknowledge"
    live = deployment_approve(
        deployment=deployment, user=team["approver"], comment="ok", acknowledge=True
    )
    assert live.status == "live"


def test_it_follows_the_policy_settings(project, team, settings):
    settings.DEPLOYMENT_POLICY = {"staging": "block", "production": "warn"}
    assert request(project, team, passes=False).blocked is True
    assert request(project, team, env="production", passes=False).blocked is False


def test_it_rejects_with_a_reason(project, team):
    deployment = request(project, team)
    with pytest.raises(Exception, match="Say why"):
        deployment_reject(deployment=deployment, user=team["approver"], comment=" ")
    rejected = deployment_reject(
        deployment=deployment, user=team["approver"], comment="not yet"
    )
    assert rejected.status == "rejected" and rejected.decision_comment == "not yet"
    with pytest.raises(DeploymentConflict, match="not pending"):
        deployment_approve(deployment=rejected, user=team["owner"], comment="")
    with pytest.raises(DeploymentConflict, match="not pending"):
        deployment_reject(deployment=rejected, user=team["owner"], comment="again")


def test_it_rolls_back_to_the_previously_approved_version(project, team):
    first = deployment_approve(
        deployment=request(project, team), user=team["approver"], comment=""
    )
    second = deployment_approve(
        deployment=request(project, team, C=0.5), user=team["approver"], comment=""
    )
    with pytest.raises(PermissionDenied):
        deployment_rollback(deployment=second, user=team["approver"])
    back = deployment_rollback(deployment=second, user=team["scientist"])
    second.refresh_from_db()
    assert back == first and back.status == "live"
    assert second.status == "rolled_back" and second.ended_at is not None
    assert "deployment.rolled_back" in verbs(project)
    # Nothing before the first: no further rollback.
    with pytest.raises(DeploymentConflict, match="no earlier approved"):
        deployment_rollback(deployment=back, user=team["scientist"])
    with pytest.raises(DeploymentConflict, match="Only the live"):
        deployment_rollback(deployment=second, user=team["scientist"])


def _tamper(version, data: bytes, *, update_sha: bool):
    default_storage.delete(version.artifact.name)
    default_storage.save(version.artifact.name, ContentFile(data))
    if update_sha:
        version.artifact_sha256 = hashlib.sha256(data).hexdigest()
        version.save(update_fields=["artifact_sha256"])


@pytest.mark.parametrize("update_sha", [False, True])
def test_it_refuses_a_tampered_artefact_at_approval(project, team, update_sha):
    deployment = request(project, team)
    version = deployment.model_version
    with version.artifact.open("rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0xFF
    _tamper(version, bytes(data), update_sha=update_sha)
    with pytest.raises(DeploymentConflict, match="failed verification") as exc:
        deployment_approve(deployment=deployment, user=team["approver"], comment="")
    assert exc.value.field == "artifact"
    deployment.refresh_from_db()
    assert deployment.status == "pending"
    refused = AuditEvent.objects.get(verb="model_version.load_refused")
    assert refused.data["reason"] == ("tampered" if update_sha else "wrong_model")


def test_it_never_holds_two_live_deployments_on_an_endpoint(project, team):
    first = deployment_approve(
        deployment=request(project, team), user=team["approver"], comment=""
    )
    second = request(project, team)
    with pytest.raises(IntegrityError), transaction.atomic():
        Deployment.objects.filter(pk=second.pk).update(status="live")
    assert list(Deployment.objects.filter(status="live")) == [first]


def test_it_lists_the_queue_of_an_approver(project, team):
    deployment = request(project, team)
    assert list(pending_for(team["approver"])) == [deployment]
    assert list(pending_for(team["owner"])) == [deployment]
    assert list(pending_for(team["scientist"])) == []  # the requester
    assert list(pending_for(team["viewer"])) == []


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_live_deployment_under_two_concurrent_approvals(project, team):
    one, two = request(project, team), request(project, team, C=0.3)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def approve(deployment, user):
        try:
            barrier.wait()
            deployment_approve(deployment=deployment, user=user, comment="")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=approve, args=(one, team["approver"])),
        threading.Thread(target=approve, args=(two, team["owner"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    statuses = sorted(Deployment.objects.values_list("status", flat=True))
    assert statuses == ["live", "replaced"]


def test_it_blocks_production_when_fairness_is_beyond_the_bound(project, team):
    version = make_version(project, team["scientist"])
    version.experiment.evaluation = {
        "analysis": {
            "fairness": {
                "sex": {
                    "flagged": True,
                    "reasons": ["demographic parity difference 0.25 > 0.1"],
                    "demographic_parity_difference": 0.25,
                }
            }
        }
    }
    version.experiment.save()
    deployment = deployment_request(
        version=version, environment="production", user=team["scientist"]
    )
    assert deployment.blocked is True
    assert deployment.evidence["fairness"]["passes"] is False
    assert deployment.evidence["failing"] == ["Fairness on sex within 0.1"]


def test_it_checks_a_fairness_bound_in_the_contract_once(project, team):
    # Registration puts the bound in the contract (a part per attribute): the
    # approver reads one failing check for it, not two.
    version = make_version(project, team["scientist"])
    version.contract = {
        "passes": False,
        "parts": [
            *version.contract["parts"],
            {
                "name": "fairness:sex",
                "label": "Largest difference between the groups of sex",
                "value": 0.25,
                "threshold": 0.1,
                "passes": False,
            },
        ],
    }
    version.save()
    version.experiment.evaluation = {
        "analysis": {"fairness": {"sex": {"flagged": True, "reasons": ["0.25"]}}}
    }
    version.experiment.save()
    deployment = deployment_request(
        version=version, environment="staging", user=team["scientist"]
    )
    assert deployment.evidence["failing"] == [
        "Largest difference between the groups of sex"
    ]


def test_it_lists_input_columns_added_removed_and_changed(project, team):
    deployment_approve(
        deployment=request(project, team), user=team["approver"], comment=""
    )
    version = make_version(project, team["scientist"])
    columns = version.schema["columns"]
    columns[0]["max"] = 1000.0  # age: a wider range seen in training
    version.schema = {
        **version.schema,
        "columns": [c for c in columns if c["name"] != "sex"]
        + [{"name": "plan", "kind": "categorical", "nullable": False}],
    }
    version.save()
    diff = deployment_request(
        version=version, environment="staging", user=team["scientist"]
    ).evidence["diff"]
    assert diff["schema"]["added"] == ["plan"]
    assert diff["schema"]["removed"] == ["sex"]
    assert [c["name"] for c in diff["schema"]["changed"]] == ["age"]


def test_it_keeps_the_request_when_mail_cannot_be_sent(project, team, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 2
    deployment = request(project, team)
    assert Deployment.objects.get().pk == deployment.pk
    assert deployment.status == "pending"
