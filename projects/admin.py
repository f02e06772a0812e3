from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from projects.models import (
    ApiToken,
    AuditEvent,
    Dataset,
    Deployment,
    Experiment,
    Job,
    Membership,
    ModelVersion,
    Project,
)
from projects.services.deployments import deployment_approve, deployment_reject


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "task_type", "primary_metric", "created_at"]
    search_fields = ["name", "slug"]
    list_filter = ["task_type"]
    inlines = [MembershipInline]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = [
        "project",
        "version",
        "original_name",
        "n_rows",
        "n_columns",
        "status",
        "created_at",
    ]
    list_filter = ["status", "source_format"]
    search_fields = ["project__name", "original_name", "sha256"]
    readonly_fields = [f.name for f in Dataset._meta.fields]
    list_select_related = ["project"]

    def has_add_permission(self, request):
        return False  # versions are created by uploads, never by hand


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "project",
        "status",
        "progress",
        "message",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["id", "error", "message"]
    readonly_fields = [f.name for f in Job._meta.fields]
    list_select_related = ["project"]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "actor",
        "verb",
        "object_type",
        "object_id",
        "project",
    ]
    list_filter = ["verb", "object_type"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    list_select_related = ["actor", "project"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "user",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["user", "prefix", "token_hash", "created_at", "last_used_at"]
    search_fields = ["name", "user__username", "prefix"]

    def has_add_permission(self, request):
        return False  # created on the profile page, where the value is shown once


admin.site.register(Experiment)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "name", "experiment", "created_at"]
    search_fields = ["project__name", "name", "artifact_sha256"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]
    list_select_related = ["project", "experiment"]

    def has_add_permission(self, request):
        return False  # registered from an experiment, never by hand

    def has_change_permission(self, request, obj=None):
        return False  # immutable (the card is edited on its page)


def _decide(modeladmin, request, queryset, call, done: str) -> None:
    """Each selected request through the same service as the pages and the API
    (four eyes, policy, verification); a refusal is reported, not skipped."""
    decided = 0
    for deployment in queryset.select_related("project", "endpoint", "model_version"):
        try:
            call(deployment)
        except (PermissionDenied, ValidationError) as exc:
            text = str(exc) if isinstance(exc, PermissionDenied) else exc.messages[0]
            modeladmin.message_user(
                request, f"Deployment #{deployment.pk}: {text}", messages.ERROR
            )
        else:
            decided += 1
    if decided:
        modeladmin.message_user(request, f"{decided} deployment(s) {done}.")


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "model_version",
        "endpoint",
        "status",
        "blocked",
        "requested_by",
        "requested_at",
        "decided_by",
    ]
    list_filter = ["status", "blocked", "endpoint__environment"]
    search_fields = ["project__name", "endpoint__slug"]
    readonly_fields = [f.name for f in Deployment._meta.fields]
    list_select_related = [
        "project",
        "model_version",
        "model_version__project",
        "endpoint",
        "requested_by",
        "decided_by",
    ]
    actions = ["approve", "approve_acknowledging", "reject"]

    def has_add_permission(self, request):
        return False  # requested on the step-9 page or over the API

    def has_delete_permission(self, request, obj=None):
        return False  # the history of approvals stays

    @admin.action(description="Approve selected requests (four eyes)")
    def approve(self, request, queryset):
        _decide(
            self,
            request,
            queryset,
            lambda d: deployment_approve(
                deployment=d, user=request.user, comment="Approved in the admin."
            ),
            "approved and live",
        )

    @admin.action(description="Approve selected requests, acknowledging warnings")
    def approve_acknowledging(self, request, queryset):
        _decide(
            self,
            request,
            queryset,
            lambda d: deployment_approve(
                deployment=d,
                user=request.user,
                comment="Approved in the admin; warnings acknowledged.",
                acknowledge=True,
            ),
            "approved and live",
        )

    @admin.action(description="Reject selected requests")
    def reject(self, request, queryset):
        _decide(
            self,
            request,
            queryset,
            lambda d: deployment_reject(
                deployment=d, user=request.user, comment="Rejected in the admin."
            ),
            "rejected",
        )
