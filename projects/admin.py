from django.contrib import admin

from projects.models import (
    ApiToken,
    AuditEvent,
    Dataset,
    Experiment,
    Job,
    Membership,
    Project,
)


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
