"""Step 9: deployment requests and their approval, a small state machine.

pending -> live (approved by someone else) | rejected; live -> replaced (another
version approved on the endpoint) | rolled_back (back to the one it replaced).
Every transition is audited. The evidence pack is assembled once, when the request
is made, from stored facts (the version's snapshot, the experiment's evaluation,
the looks at the test split, what is live on the endpoint); it is never
recomputed. The environment's policy (settings.DEPLOYMENT_POLICY) turns failing
checks into a block or into warnings the approver must acknowledge.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from projects.access import can
from projects.ml.artifacts import ArtifactError, read_header_from_bytes
from projects.models import (
    Deployment,
    Endpoint,
    Environment,
    Experiment,
    Membership,
    ModelVersion,
    Project,
    Role,
    TestLook,
)
from projects.services.audit import audit_record

logger = logging.getLogger(__name__)

POLICIES = ("block", "warn")
FOUR_EYES = (
    "Four eyes: the person who requested a deployment cannot approve or reject "
    "it. Another approver or owner of the project must decide."
)


class DeploymentConflict(ValidationError):
    """The deployment's state forbids the action (a 409 in the API)."""

    def __init__(self, message: str, field: str = "status"):
        super().__init__({field: message})
        self.field = field
        self.message_text = message


# ------------------------------------------------------------------ endpoints


def endpoint_for(*, project: Project, environment: str) -> Endpoint:
    """The project's endpoint for an environment, created on first use."""
    if environment not in Environment.values:
        raise ValidationError(
            {"environment": f"Choose one of: {', '.join(Environment.values)}."}
        )
    endpoint = Endpoint.objects.filter(project=project, environment=environment).first()
    if endpoint is not None:
        return endpoint
    try:
        with transaction.atomic():
            return Endpoint.objects.create(
                project=project,
                environment=environment,
                slug=f"{project.slug}-{environment}"[:160],
            )
    except IntegrityError:  # created meanwhile by a concurrent request
        return Endpoint.objects.get(project=project, environment=environment)


def live_deployment(endpoint: Endpoint) -> Deployment | None:
    return (
        Deployment.objects.select_related("model_version", "model_version__experiment")
        .filter(endpoint=endpoint, status=Deployment.Status.LIVE)
        .first()
    )


# ------------------------------------------------------------------ evidence


def _metric_rows(project: Project, version: ModelVersion, baseline: dict | None):
    metrics = version.metrics or {}
    experiment = version.experiment
    validation = metrics.get("validation") or (experiment.metrics or {}).get(
        "validation", {}
    )
    test = metrics.get("test") or (experiment.metrics or {}).get("test") or {}
    base = (baseline or {}).get("validation") or {}
    rows = []
    for name, value in (validation or {}).items():
        if not isinstance(value, int | float):
            continue
        higher = _higher_is_better(project, name)
        base_value = base.get(name)
        beats = None
        if isinstance(base_value, int | float):
            beats = value > base_value if higher else value < base_value
        rows.append(
            {
                "metric": name,
                "primary": name == project.primary_metric,
                "higher_is_better": higher,
                "validation": value,
                "test": test.get(name),
                "baseline": base_value,
                "beats_baseline": beats,
            }
        )
    rows.sort(key=lambda r: (not r["primary"], r["metric"]))
    return rows


def _higher_is_better(project: Project, metric: str) -> bool:
    from projects.models import METRICS

    return METRICS.get(project.task_type, {}).get(metric, True)


def _baseline_metrics(version: ModelVersion) -> dict | None:
    stored = (version.metrics or {}).get("baseline")
    if isinstance(stored, dict):
        # A snapshot may hold {"metrics": {...}} or the split dict itself.
        return stored.get("metrics", stored)
    baseline = version.experiment.baseline
    if baseline is not None and baseline.status == Experiment.Status.SUCCEEDED:
        return baseline.metrics
    return None


def _fairness(version: ModelVersion) -> dict:
    analysis = ((version.experiment.evaluation or {}).get("analysis")) or {}
    report = analysis.get("fairness") or {}
    attributes = []
    for name, item in report.items():
        if not isinstance(item, dict):
            continue
        attributes.append(
            {
                "name": name,
                "flagged": bool(item.get("flagged")),
                "reasons": item.get("reasons") or [],
                "demographic_parity_difference": item.get(
                    "demographic_parity_difference"
                ),
                "equal_opportunity_difference": item.get(
                    "equal_opportunity_difference"
                ),
                "metric_difference": item.get("metric_difference"),
            }
        )
    if not attributes:
        passes = None
        note = (
            "No fairness results: the project names no sensitive attributes, or "
            "the experiment's analysis did not finish."
        )
    else:
        passes = not any(a["flagged"] for a in attributes)
        note = ""
    return {
        "bound": settings.FAIRNESS_BOUND,
        "attributes": attributes,
        "passes": passes,
        "note": note,
    }


def _learning_curve(version: ModelVersion) -> dict | None:
    analysis = ((version.experiment.evaluation or {}).get("analysis")) or {}
    curve = analysis.get("learning_curve") or {}
    verdict = curve.get("verdict") if isinstance(curve, dict) else None
    if not verdict or not verdict.get("text"):
        return None
    return {"kind": verdict.get("kind"), "text": verdict["text"]}


def _test_looks(version: ModelVersion) -> dict:
    looks = TestLook.objects.filter(dataset_id=version.experiment.dataset_id)
    rows = [
        {
            "experiment_id": look.experiment_id,
            "at": look.at.isoformat(),
            "by": look.by.username if look.by else None,
        }
        for look in looks.select_related("by")
    ]
    return {"count": len(rows), "looks": rows}


def _columns(version: ModelVersion) -> dict[str, dict]:
    return {
        c["name"]: c for c in (version.schema or {}).get("columns", []) if "name" in c
    }


def _diff(version: ModelVersion, live: Deployment | None) -> dict | None:
    """What changes on the endpoint if this version replaces the live one."""
    if live is None:
        return None
    old = live.model_version
    metrics = []
    for split in ("validation", "test"):
        before = (old.metrics or {}).get(split) or {}
        after = (version.metrics or {}).get(split) or {}
        for name in sorted(set(before) | set(after)):
            a, b = before.get(name), after.get(name)
            if not isinstance(a, int | float | None) or not isinstance(
                b, int | float | None
            ):
                continue
            change = b - a if a is not None and b is not None else None
            metrics.append(
                {
                    "split": split,
                    "metric": name,
                    "live": a,
                    "candidate": b,
                    "change": change,
                }
            )
    params_before = old.experiment.params or {}
    params_after = version.experiment.params or {}
    params = [
        {"name": k, "live": params_before.get(k), "candidate": params_after.get(k)}
        for k in sorted(set(params_before) | set(params_after))
        if params_before.get(k) != params_after.get(k)
    ]
    if old.experiment.algorithm != version.experiment.algorithm:
        params.insert(
            0,
            {
                "name": "algorithm",
                "live": old.experiment.algorithm,
                "candidate": version.experiment.algorithm,
            },
        )
    cols_before, cols_after = _columns(old), _columns(version)
    changed = [
        {"name": n, "live": cols_before[n], "candidate": cols_after[n]}
        for n in sorted(set(cols_before) & set(cols_after))
        if cols_before[n] != cols_after[n]
    ]
    return {
        "live_deployment_id": live.pk,
        "live_version": old.version,
        "live_model_version_id": old.pk,
        "metrics": metrics,
        "params": params,
        "schema": {
            "added": sorted(set(cols_after) - set(cols_before)),
            "removed": sorted(set(cols_before) - set(cols_after)),
            "changed": changed,
        },
    }


def _checks(contract: dict, fairness: dict) -> list[dict]:
    checks = []
    for part in contract.get("parts") or []:
        checks.append(
            {
                "name": f"contract.{part.get('name', '')}",
                "label": part.get("label") or part.get("name") or "contract",
                "passes": part.get("passes"),
            }
        )
    if not checks and contract.get("passes") is not None:
        checks.append(
            {
                "name": "contract",
                "label": "Success contract",
                "passes": contract["passes"],
            }
        )
    # A version registered with the fairness bound in its contract already
    # holds a part per attribute: check each once.
    in_contract = {part.get("name") for part in contract.get("parts") or []} & {
        f"fairness:{a['name']}" for a in fairness["attributes"]
    }
    for attribute in fairness["attributes"]:
        if f"fairness:{attribute['name']}" in in_contract:
            continue
        checks.append(
            {
                "name": f"fairness.{attribute['name']}",
                "label": f"Fairness on {attribute['name']} within "
                f"{fairness['bound']:g}",
                "passes": not attribute["flagged"],
            }
        )
    return checks


def deployment_evidence(
    *, version: ModelVersion, endpoint: Endpoint, live: Deployment | None
) -> tuple[dict, bool]:
    """The evidence pack of a request and whether the policy blocks it."""
    project = version.project
    policy = settings.DEPLOYMENT_POLICY.get(endpoint.environment, "block")
    if policy not in POLICIES:
        policy = "block"  # an unknown word in the settings must not open the gate
    contract = version.contract or {}
    fairness = _fairness(version)
    checks = _checks(contract, fairness)
    failing = [c["label"] for c in checks if c["passes"] is False]
    blocked = policy == "block" and bool(failing)
    evidence = {
        "assembled_at": timezone.now().isoformat(),
        "environment": endpoint.environment,
        "policy": policy,
        "model_version": {
            "id": version.pk,
            "version": version.version,
            "name": version.name,
            "experiment_id": version.experiment_id,
            "algorithm": version.experiment.algorithm,
            "artifact_sha256": version.artifact_sha256,
        },
        "contract": {
            "passes": contract.get("passes"),
            "parts": contract.get("parts") or [],
            "threshold_text": project.threshold_text,
        },
        "checks": checks,
        "failing": failing,
        "warnings": failing if policy == "warn" else [],
        "metrics": {
            "primary_metric": project.primary_metric,
            "higher_is_better": project.higher_is_better,
            "threshold": project.success_threshold,
            "rows": _metric_rows(project, version, _baseline_metrics(version)),
        },
        "fairness": fairness,
        "test_looks": _test_looks(version),
        "learning_curve": _learning_curve(version),
        "card": version.card or {},
        "diff": _diff(version, live),
    }
    return evidence, blocked


# ------------------------------------------------------------------ e-mail


def _notify_approvers(deployment: Deployment, requester) -> int:
    """E-mail the project's approvers and owners (not the requester)."""
    project = deployment.project
    recipients = sorted(
        set(
            Membership.objects.filter(
                project=project, role__in=[Role.APPROVER, Role.OWNER]
            )
            .exclude(user=requester)
            .exclude(user__email="")
            .filter(user__is_active=True)
            .values_list("user__email", flat=True)
        )
    )
    if not recipients:
        return 0
    version = deployment.model_version
    path = f"/projects/{project.slug}/deployments/{deployment.pk}/"
    lines = [
        f"{requester.username if requester else 'Someone'} asks to deploy "
        f"model v{version.version} of {project.name} to "
        f"{deployment.endpoint.environment}.",
        "",
        f"Evidence pack and decision: {settings.SITE_URL.rstrip('/')}{path}"
        if settings.SITE_URL
        else f"Evidence pack and decision: {path}",
    ]
    if deployment.blocked:
        lines += ["", "The environment's policy blocks it: a check failed."]
    elif deployment.evidence.get("warnings"):
        lines += [
            "",
            "Warnings to acknowledge: " + "; ".join(deployment.evidence["warnings"]),
        ]
    if deployment.request_comment:
        lines += ["", f"Comment: {deployment.request_comment}"]
    try:
        return send_mail(
            subject=f"[Lifecycle] Approval requested: {project.name} model "
            f"v{version.version} to {deployment.endpoint.environment}",
            message="\n".join(lines),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception:  # mail is a courtesy: the request stands without it
        logger.exception("Could not e-mail the approvers of %s", project.slug)
        return 0


# ------------------------------------------------------------------ transitions


def deployment_request(
    *,
    version: ModelVersion,
    environment: str,
    user,
    comment: str = "",
    unseen_categories: str = Deployment.Unseen.ERROR,
) -> Deployment:
    """Ask for ``version`` to go live on the project's ``environment``."""
    project = version.project
    if not can(user, project, Role.SCIENTIST):
        raise PermissionDenied(
            "Only scientists and the owner of this project can request a deployment."
        )
    if unseen_categories not in Deployment.Unseen.values:
        raise ValidationError(
            {"unseen_categories": "Choose error (refuse the row) or allow."}
        )
    if not version.artifact or not version.artifact_sha256:
        raise ValidationError(
            {"model_version_id": "This version has no stored model file."}
        )
    endpoint = endpoint_for(project=project, environment=environment)
    with transaction.atomic():
        live = live_deployment(endpoint)
        evidence, blocked = deployment_evidence(
            version=version, endpoint=endpoint, live=live
        )
        deployment = Deployment(
            project=project,
            endpoint=endpoint,
            model_version=version,
            unseen_categories=unseen_categories,
            evidence=evidence,
            blocked=blocked,
            requested_by=user,
            request_comment=comment,
        )
        deployment.full_clean()
        deployment.save()
        audit_record(
            actor=user,
            verb="deployment.requested",
            obj=deployment,
            project=project,
            data={
                "model_version": version.version,
                "environment": environment,
                "blocked": blocked,
                "warnings": evidence["warnings"],
            },
        )
    _notify_approvers(deployment, user)
    return deployment


def _may_decide(deployment: Deployment, user) -> None:
    if not can(user, deployment.project, Role.APPROVER):
        raise PermissionDenied(
            "Only approvers and the owner of this project can approve or reject "
            "a deployment."
        )
    if deployment.requested_by_id is not None and deployment.requested_by_id == getattr(
        user, "pk", None
    ):
        raise PermissionDenied(FOUR_EYES)


def _verify_artifact(deployment: Deployment, user) -> None:
    """Check the stored file is the one registered and signed by us, without
    unpickling it; a failure refuses the approval and is audited."""
    version = deployment.model_version
    reason = ""
    try:
        with version.artifact.open("rb") as handle:
            data = handle.read()
    except (OSError, ValueError) as exc:
        reason, message = "missing", f"The model file cannot be read ({exc})."
    else:
        if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
            reason = "wrong_model"
            message = (
                "The stored model file is not the one registered (its sha256 "
                "differs): it was changed or replaced after registration."
            )
        else:
            try:
                read_header_from_bytes(data, key=settings.MODEL_SIGNING_KEY.encode())
            except ArtifactError as exc:
                reason, message = exc.reason, str(exc)
    if not reason:
        return
    audit_record(
        actor=user,
        verb="model_version.load_refused",
        obj=version,
        project=deployment.project,
        data={"deployment_id": deployment.pk, "reason": reason, "message": message},
    )
    raise DeploymentConflict(
        f"Not approved: model v{version.version}'s file failed verification. {message}",
        field="artifact",
    )


def deployment_approve(
    *, deployment: Deployment, user, comment: str = "", acknowledge: bool = False
) -> Deployment:
    """Four eyes: another approver or owner puts the deployment live."""
    _may_decide(deployment, user)
    _check_pending(deployment)
    if deployment.blocked:
        raise DeploymentConflict(
            f"The {deployment.endpoint.environment} policy blocks this request: "
            + "; ".join(deployment.evidence.get("failing", []) or ["a check failed"])
            + ". Fix the model and request again.",
            field="blocked",
        )
    warnings = deployment.evidence.get("warnings") or []
    if warnings and not acknowledge:
        raise DeploymentConflict(
            "This request has warnings the approver must acknowledge: "
            + "; ".join(warnings)
            + ". Approve again with acknowledge set to confirm you read them.",
            field="acknowledge",
        )
    _verify_artifact(deployment, user)
    now = timezone.now()
    with transaction.atomic():
        # One approval at a time per endpoint: the second waits here, then
        # replaces the first (the one-live constraint never sees two).
        Endpoint.objects.select_for_update().get(pk=deployment.endpoint_id)
        current = Deployment.objects.select_for_update().get(pk=deployment.pk)
        _check_pending(current)
        replaced = (
            Deployment.objects.select_for_update()
            .filter(endpoint_id=current.endpoint_id, status=Deployment.Status.LIVE)
            .first()
        )
        if replaced is not None:
            replaced.status = Deployment.Status.REPLACED
            replaced.ended_at = now
            replaced.save(update_fields=["status", "ended_at"])
        current.status = Deployment.Status.LIVE
        current.decided_by = user
        current.decided_at = now
        current.decision_comment = comment
        current.live_at = now
        current.previous = replaced
        current.full_clean()
        current.save()
        project = current.project
        version = current.model_version.version
        data = {"model_version": version, "environment": deployment.environment}
        audit_record(
            actor=user,
            verb="deployment.approved",
            obj=current,
            project=project,
            data={**data, "comment": comment, "acknowledged": warnings},
        )
        audit_record(
            actor=user, verb="deployment.live", obj=current, project=project, data=data
        )
        if replaced is not None:
            audit_record(
                actor=user,
                verb="deployment.replaced",
                obj=replaced,
                project=project,
                data={**data, "replaced_by": current.pk},
            )
    return current


def _check_pending(deployment: Deployment) -> None:
    if deployment.status != Deployment.Status.PENDING:
        raise DeploymentConflict(
            f"This deployment is {deployment.get_status_display().lower()}, not "
            "pending: it was decided already."
        )


def deployment_reject(*, deployment: Deployment, user, comment: str) -> Deployment:
    """Four eyes: another approver or owner refuses the request."""
    _may_decide(deployment, user)
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why the request is rejected."})
    with transaction.atomic():
        current = Deployment.objects.select_for_update().get(pk=deployment.pk)
        _check_pending(current)
        current.status = Deployment.Status.REJECTED
        current.decided_by = user
        current.decided_at = timezone.now()
        current.decision_comment = comment
        current.full_clean()
        current.save()
        audit_record(
            actor=user,
            verb="deployment.rejected",
            obj=current,
            project=current.project,
            data={"model_version": current.model_version.version, "comment": comment},
        )
    return current


def deployment_rollback(*, deployment: Deployment, user) -> Deployment:
    """Put back the deployment this live one replaced; returns it (now live)."""
    if not can(user, deployment.project, Role.SCIENTIST):
        raise PermissionDenied(
            "Only scientists and the owner of this project can roll back."
        )
    now = timezone.now()
    with transaction.atomic():
        Endpoint.objects.select_for_update().get(pk=deployment.endpoint_id)
        current = Deployment.objects.select_for_update().get(pk=deployment.pk)
        if current.status != Deployment.Status.LIVE:
            raise DeploymentConflict(
                "Only the live deployment can be rolled back; this one is "
                f"{current.get_status_display().lower()}."
            )
        previous = (
            Deployment.objects.select_for_update()
            .filter(pk=current.previous_id, status=Deployment.Status.REPLACED)
            .exclude(Q(decided_by__isnull=True) & Q(live_at__isnull=True))
            .first()
            if current.previous_id
            else None
        )
        if previous is None:
            raise DeploymentConflict(
                "There is no earlier approved version on this endpoint to roll "
                "back to.",
                field="previous",
            )
        current.status = Deployment.Status.ROLLED_BACK
        current.ended_at = now
        current.save(update_fields=["status", "ended_at"])
        previous.status = Deployment.Status.LIVE
        previous.live_at = now
        previous.ended_at = None
        previous.save(update_fields=["status", "live_at", "ended_at"])
        audit_record(
            actor=user,
            verb="deployment.rolled_back",
            obj=current,
            project=current.project,
            data={
                "environment": current.endpoint.environment,
                "from_version": current.model_version.version,
                "to_version": previous.model_version.version,
                "to_deployment": previous.pk,
            },
        )
        audit_record(
            actor=user,
            verb="deployment.live",
            obj=previous,
            project=current.project,
            data={
                "model_version": previous.model_version.version,
                "environment": current.endpoint.environment,
                "rollback_of": current.pk,
            },
        )
    return previous


def pending_for(user):
    """Pending requests the user may decide, across their projects (the queue)."""
    qs = Deployment.objects.filter(status=Deployment.Status.PENDING).exclude(
        requested_by=user
    )
    if not user.is_superuser:
        qs = qs.filter(
            project__memberships__user=user,
            project__memberships__role__in=[Role.APPROVER, Role.OWNER],
        )
    return qs
