"""Step 6: training — the project's experiments, listed live.

One row per experiment, newest first, paginated on the server (a project may
hold a thousand). Active rows show their job's progress and message; the table
is a fragment that htmx polls every two seconds while a row on the page is
queued or running, and that stops polling (no ``hx-trigger``) once none is.
Finished rows show the primary metric cross-validated (mean ± std) and on the
validation rows, the fit time, and link to the experiment's dashboard; failed
ones show their reason and keep their log. Scientists and the owner cancel
active experiments and retry failed ones (through the job retry view).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from projects.access import can, get_project_for
from projects.ml.catalog import CATALOG
from projects.models import Experiment, Job, Project, Role
from projects.selectors import experiment_jobs, experiments_filtered
from projects.services.experiments import experiment_cancel
from projects.views.common import error_messages, render_step

PER_PAGE = 50
LOG_TAIL = 8_000  # characters of a failed experiment's log shown on the page
ENDED_BADLY = (Experiment.Status.FAILED, Experiment.Status.CANCELLED)
ACTIVE = (Experiment.Status.QUEUED, Experiment.Status.RUNNING)


@dataclass
class ExperimentRow:
    experiment: Experiment
    job: Job | None
    label: str
    cv_mean: float | None
    cv_std: float | None
    validation: float | None
    dashboard_url: str
    log: str = ""

    @property
    def cv_text(self) -> str:
        """``0.8123 ± 0.0210``: the spread with as many decimals as the mean."""
        if self.cv_mean is None:
            return ""
        decimals = _decimals(self.cv_mean)
        spread = f" ± {self.cv_std:,.{decimals}f}" if self.cv_std is not None else ""
        return f"{self.cv_mean:,.{decimals}f}{spread}"

    @property
    def validation_text(self) -> str:
        if self.validation is None:
            return ""
        return f"{self.validation:,.{_decimals(self.validation)}f}"

    @property
    def fit_text(self) -> str:
        seconds = self.experiment.fit_seconds
        if seconds is None:
            return ""
        if seconds < 60:
            return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
        return f"{int(seconds // 60)} min {seconds % 60:.0f} s"

    @property
    def active(self) -> bool:
        if self.job is not None:
            return self.job.is_active
        return self.experiment.status in ACTIVE

    @property
    def status(self) -> str:
        # The job moves first (an experiment is "queued" until its job claims it).
        if self.job is not None and self.job.status == "running":
            return "running"
        return self.experiment.status

    @property
    def progress(self) -> int:
        return self.job.progress if self.job is not None else 0

    @property
    def message(self) -> str:
        if self.job is not None and self.job.message:
            return self.job.message
        return "Waiting for a worker"

    @property
    def reason(self) -> str:
        e = self.experiment
        if e.error:
            return e.error
        if self.job is not None:
            return self.job.error or self.job.message
        return ""

    @property
    def can_retry(self) -> bool:
        # The row's job is the experiment's latest attempt (no retry of it yet):
        # only its status decides, as job_retry_refusal would.
        return (
            self.experiment.status in ENDED_BADLY
            and self.job is not None
            and self.job.status in Job.RETRYABLE
        )

    @property
    def can_cancel(self) -> bool:
        return self.active


def _decimals(value: float) -> int:
    """Four decimals for scores near 1 (F1, R²), fewer for big errors (RMSE)."""
    size = abs(value)
    return 4 if size < 10 else 2 if size < 1000 else 0


def _label(project: Project, algorithm: str) -> str:
    entry = CATALOG.get(project.task_type, {}).get(algorithm)
    return entry.label if entry is not None else algorithm


def experiment_dashboard_url(project: Project, experiment_id: int) -> str:
    """Step 7's page of one experiment (built by the evaluation views)."""
    home = reverse("projects:home", args=[project.slug])
    return f"{home}experiments/{experiment_id}/"


def _row(project: Project, e: Experiment, job: Job | None, log: str) -> ExperimentRow:
    cv = ((e.metrics or {}).get("cv") or {}).get(project.primary_metric) or {}
    validation = ((e.metrics or {}).get("validation") or {}).get(project.primary_metric)
    return ExperimentRow(
        experiment=e,
        job=job,
        label=_label(project, e.algorithm),
        cv_mean=cv.get("mean"),
        cv_std=cv.get("std"),
        validation=validation,
        dashboard_url=experiment_dashboard_url(project, e.pk),
        log=log[-LOG_TAIL:],
    )


def rows_context(request: HttpRequest, project: Project) -> dict:
    """One page of rows: a bounded number of queries whatever the page size
    (count, the page, its jobs, the logs of its failed rows)."""
    qs = experiments_filtered(project, ordering="-created")
    page: Page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    experiments = list(page.object_list)
    jobs = experiment_jobs([e.pk for e in experiments])
    ended_badly = [e.pk for e in experiments if e.status in ENDED_BADLY]
    logs = (
        dict(Experiment.objects.filter(pk__in=ended_badly).values_list("pk", "log"))
        if ended_badly
        else {}
    )
    rows = [_row(project, e, jobs.get(e.pk), logs.get(e.pk) or "") for e in experiments]
    url = reverse("projects:step", args=[project.slug, "training"])
    here = f"{url}?page={page.number}" if page.number > 1 else url
    return {
        "rows": rows,
        "page": page,
        "active": any(r.active for r in rows),
        "here": here,
        "can_run": can(request.user, project, Role.SCIENTIST),
        "project": project,
    }


def _counts(project: Project) -> dict[str, int]:
    counts = dict.fromkeys(Experiment.Status.values, 0)
    for status, n in (
        Experiment.objects.filter(project=project)
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[status] = n
    return counts


def _cancel(request: HttpRequest, project: Project) -> HttpResponse:
    raw = request.POST.get("experiment", "")
    experiment = (
        Experiment.objects.filter(project=project, pk=raw).first()
        if raw.isdigit()
        else None
    )
    if experiment is None:
        raise Http404("No such experiment in this project.")
    try:
        experiment_cancel(experiment=experiment, user=request.user)
    except ValidationError as exc:
        messages.info(request, " ".join(error_messages(exc).values()))
    else:
        messages.info(request, f"Cancel requested for {experiment.name}.")
    url = reverse("projects:step", args=[project.slug, "training"])
    page = request.POST.get("page", "")
    return redirect(f"{url}?page={page}" if page.isdigit() and page != "1" else url)


def training_step(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    if request.method == "POST":
        if not can(request.user, project, Role.SCIENTIST):
            raise PermissionDenied(
                "Only scientists and the owner can cancel experiments."
            )
        if request.POST.get("action") == "cancel":
            return _cancel(request, project)
        return HttpResponse("Unknown action.", status=400)
    counts = _counts(project)
    total = sum(counts.values())
    context = {"counts": counts, "total": total, "waiting": total == 0}
    if total:
        context.update(rows_context(request, project))
    return render_step(
        request, project, "training", "projects/step_training.html", context
    )


@login_required
@require_GET
def training_rows(request: HttpRequest, slug: str) -> HttpResponse:
    """The table alone, for the poll."""
    project = get_project_for(request.user, slug, need=Role.VIEWER)
    context = rows_context(request, project)
    response = render(request, "projects/_training_rows.html", context)
    # The poll that sees the last active row end reloads the page, so the counts
    # and the stepper above the table follow.
    if request.htmx and request.GET.get("poll") and not context["active"]:
        response["HX-Refresh"] = "true"
    return response
