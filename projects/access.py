"""One access helper per object kind: 404 for strangers, 403 for a missing role."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from projects.models import (
    Dataset,
    Deployment,
    DeploymentKey,
    Experiment,
    Job,
    Membership,
    ModelVersion,
    Project,
    Role,
    Study,
)

# What each role may do. "viewer" is the read permission every member has.
ROLE_GRANTS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.SCIENTIST: frozenset({Role.VIEWER, Role.SCIENTIST}),
    Role.APPROVER: frozenset({Role.VIEWER, Role.APPROVER}),
    Role.OWNER: frozenset({Role.VIEWER, Role.SCIENTIST, Role.APPROVER, Role.OWNER}),
}

NEED_MESSAGES = {
    Role.VIEWER: "You are not a member of this project.",
    Role.SCIENTIST: "Only scientists and the owner of this project can do this.",
    Role.APPROVER: "Only approvers and the owner of this project can do this.",
    Role.OWNER: "Only the owner of this project can do this.",
}


def role_of(user, project: Project) -> str | None:
    """The user's role in the project, or None for a stranger.

    Superusers act as owners of every project (they run the installation).
    """
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return Role.OWNER
    cache = getattr(project, "_role_cache", {})
    if user.pk not in cache:
        cache[user.pk] = (
            Membership.objects.filter(project=project, user=user)
            .values_list("role", flat=True)
            .first()
        )
        project._role_cache = cache
    return cache[user.pk]


def can(user, project: Project, need: str) -> bool:
    role = role_of(user, project)
    return role is not None and need in ROLE_GRANTS[role]


def visible_projects(user) -> QuerySet[Project]:
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def _check(
    user, project: Project, need: str, not_found: str = "No such project."
) -> Project:
    # A stranger gets the same 404 as for an id that does not exist (R21).
    role = role_of(user, project)
    if role is None:
        raise Http404(not_found)
    if need not in ROLE_GRANTS[role]:
        raise PermissionDenied(NEED_MESSAGES[need])
    project.user_role = role
    return project


def get_project_for(user, key: str | int, need: str = Role.VIEWER) -> Project:
    """The project by slug or id if the user may do ``need`` there.

    Raises Http404 for a stranger (we do not reveal that it exists) and
    PermissionDenied for a member without the role.
    """
    lookup = {"pk": key} if isinstance(key, int) else {"slug": key}
    project = Project.objects.filter(**lookup).first()
    if project is None:
        raise Http404("No such project.")
    return _check(user, project, need)


def _in_project(user, queryset: QuerySet, pk, need: str, noun: str):
    """The object of a project-owned model, checked like its project: the same 404
    for an id that does not exist and for a stranger (R21), 403 for a missing role."""
    found = queryset.select_related("project").filter(pk=pk).first()
    if found is None:
        raise Http404(f"No such {noun}.")
    _check(user, found.project, need, not_found=f"No such {noun}.")
    return found


def get_dataset_for(user, dataset_id: int, need: str = Role.VIEWER) -> Dataset:
    qs = Dataset.objects.select_related("created_by")
    return _in_project(user, qs, dataset_id, need, "dataset")


def get_job_for(user, job_id, need: str = Role.VIEWER) -> Job:
    return _in_project(user, Job.objects.all(), job_id, need, "job")


def get_experiment_for(user, experiment_id: int, need: str = Role.VIEWER) -> Experiment:
    qs = Experiment.objects.select_related("dataset", "created_by")
    return _in_project(user, qs, experiment_id, need, "experiment")


def get_study_for(user, study_id: int, need: str = Role.VIEWER) -> Study:
    qs = Study.objects.select_related("dataset", "best_experiment")
    return _in_project(user, qs, study_id, need, "study")


def get_model_version_for(
    user, version_id: int, need: str = Role.VIEWER
) -> ModelVersion:
    qs = ModelVersion.objects.select_related("experiment", "created_by")
    return _in_project(user, qs, version_id, need, "model version")


def get_deployment_for(user, deployment_id: int, need: str = Role.VIEWER) -> Deployment:
    qs = Deployment.objects.select_related(
        "endpoint", "model_version", "requested_by", "decided_by"
    )
    return _in_project(user, qs, deployment_id, need, "deployment")


def get_deployment_key_for(
    user, deployment_id: int, key_id: int, need: str = Role.SCIENTIST
) -> DeploymentKey:
    """A key of the deployment's endpoint; another endpoint's key is not found."""
    deployment = get_deployment_for(user, deployment_id, need)
    key = DeploymentKey.objects.filter(pk=key_id, endpoint=deployment.endpoint).first()
    if key is None:
        raise Http404("No such key.")
    return key
