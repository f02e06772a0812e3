from django.urls import path

from projects.views import (
    deployments,
    evaluation,
    experiments,
    jobs,
    keys,
    projects,
    registry,
    training,
    tuning,
)

app_name = "projects"

urlpatterns = [
    path("", projects.project_list, name="list"),
    path("projects/new/", projects.project_new, name="new"),
    path("projects/<slug:slug>/", projects.project_home, name="home"),
    path("projects/<slug:slug>/steps/<slug:step_slug>/", projects.step, name="step"),
    path(
        "projects/<slug:slug>/steps/training/rows/",
        training.training_rows,
        name="training_rows",
    ),
    path(
        "projects/<slug:slug>/experiments/compare/",
        evaluation.experiments_compare,
        name="experiments_compare",
    ),
    path(
        "projects/<slug:slug>/experiments/<int:experiment_id>/",
        experiments.experiment_dashboard,
        name="experiment",
    ),
    path(
        "projects/<slug:slug>/experiments/<int:experiment_id>/analysis/",
        experiments.experiment_analysis,
        name="experiment_analysis",
    ),
    path(
        "projects/<slug:slug>/experiments/<int:experiment_id>/threshold/",
        experiments.experiment_threshold,
        name="experiment_threshold",
    ),
    path(
        "projects/<slug:slug>/experiments/<int:experiment_id>/evaluate-test/",
        experiments.experiment_test,
        name="experiment_test",
    ),
    path(
        "projects/<slug:slug>/experiments/<int:experiment_id>/comments/",
        experiments.experiment_comment,
        name="experiment_comment",
    ),
    path(
        "projects/<slug:slug>/experiments/<int:experiment_id>/register/",
        registry.experiment_register,
        name="experiment_register",
    ),
    path(
        "projects/<slug:slug>/models/<int:version>/",
        registry.model_version_page,
        name="model_version",
    ),
    path(
        "projects/<slug:slug>/models/<int:version>/card/",
        registry.model_version_card,
        name="model_version_card",
    ),
    path(
        "projects/<slug:slug>/studies/<int:study_id>/",
        tuning.study_page,
        name="study",
    ),
    path(
        "projects/<slug:slug>/studies/<int:study_id>/live/",
        tuning.study_live,
        name="study_live",
    ),
    path(
        "projects/<slug:slug>/deployments/<int:deployment_id>/",
        deployments.deployment_page,
        name="deployment",
    ),
    path(
        "projects/<slug:slug>/deployments/<int:deployment_id>/approve/",
        deployments.deployment_approve_view,
        name="deployment_approve",
    ),
    path(
        "projects/<slug:slug>/deployments/<int:deployment_id>/reject/",
        deployments.deployment_reject_view,
        name="deployment_reject",
    ),
    path(
        "projects/<slug:slug>/deployments/<int:deployment_id>/rollback/",
        deployments.deployment_rollback_view,
        name="deployment_rollback",
    ),
    path("projects/<slug:slug>/audit/", deployments.audit_page, name="audit"),
    path("projects/<slug:slug>/members/", deployments.members_page, name="members"),
    path(
        "projects/<slug:slug>/members/<int:user_id>/remove/",
        deployments.member_remove_view,
        name="member_remove",
    ),
    path("approvals/", deployments.approvals, name="approvals"),
    path(
        "projects/<slug:slug>/deployments/<int:deployment_id>/keys/",
        keys.deployment_keys,
        name="deployment_keys",
    ),
    path(
        "projects/<slug:slug>/deployments/<int:deployment_id>/keys/<int:key_id>/revoke/",
        keys.deployment_key_revoke_view,
        name="deployment_key_revoke",
    ),
    path("jobs/<uuid:job_id>/status/", jobs.job_status, name="job_status"),
    path("jobs/<uuid:job_id>/cancel/", jobs.job_cancel_view, name="job_cancel"),
    path("jobs/<uuid:job_id>/retry/", jobs.job_retry_view, name="job_retry"),
]
