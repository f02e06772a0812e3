from __future__ import annotations

from django.core.exceptions import ValidationError
from ninja import Router, Status

from projects.access import get_project_for, visible_projects
from projects.api.responses import reads, writes
from projects.api.schemas import ProjectIn, ProjectOut, ProjectPatch
from projects.models import Role
from projects.services.projects import project_create, project_update

router = Router(tags=["projects"])


@router.post("/projects", response=writes({201: ProjectOut}))
def create_project(request, payload: ProjectIn):
    project = project_create(user=request.user, **payload.dict())
    return Status(201, project)


@router.get("/projects", response=reads({200: list[ProjectOut]}))
def list_projects(request):
    return visible_projects(request.user).order_by("name")


@router.get("/projects/{int:project_id}", response=reads({200: ProjectOut}))
def get_project(request, project_id: int):
    return get_project_for(request.user, project_id, need=Role.VIEWER)


@router.patch("/projects/{int:project_id}", response=writes({200: ProjectOut}, 503))
def patch_project(request, project_id: int, payload: ProjectPatch):
    project = get_project_for(request.user, project_id, need=Role.SCIENTIST)
    fields = payload.dict(exclude_unset=True)
    for required in ("name", "task_type", "primary_metric"):
        if required in fields and fields[required] is None:
            raise ValidationError({required: "This field cannot be null."})
    return project_update(project=project, user=request.user, **fields)
