from django.urls import path

from projects.views import jobs, projects

app_name = "projects"

urlpatterns = [
    path("", projects.project_list, name="list"),
    path("projects/new/", projects.project_new, name="new"),
    path("projects/<slug:slug>/", projects.project_home, name="home"),
    path("projects/<slug:slug>/steps/<slug:step_slug>/", projects.step, name="step"),
    # steps 5-6 pages
    # step 7 pages
    path("jobs/<uuid:job_id>/status/", jobs.job_status, name="job_status"),
    path("jobs/<uuid:job_id>/cancel/", jobs.job_cancel_view, name="job_cancel"),
    path("jobs/<uuid:job_id>/retry/", jobs.job_retry_view, name="job_retry"),
]
