"""Read-side queries used by pages and the API (no N+1: select_related, annotate)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import Count, Max, QuerySet
from django.urls import reverse

from projects.access import visible_projects
from projects.models import Dataset, DatasetStatus, Job, Project


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    title: str
    summary: str
    built: bool
    state: str = ""  # done | current | waiting | planned
    waits_for: str = ""
    url: str = ""


STEPS: tuple[Step, ...] = (
    Step(
        1,
        "problem",
        "Problem definition",
        "Task type, business goal, primary metric, success threshold, latency "
        "budget and sensitive attributes: the success contract every later step "
        "is judged against.",
        True,
    ),
    Step(
        2,
        "data",
        "Data collection",
        "Upload a data set (CSV, TSV, Parquet, JSON Lines, Excel), read its "
        "profile, pick the target column.",
        True,
    ),
    Step(
        3,
        "prepare",
        "Cleaning & preparation",
        "A suggested, editable recipe of cleaning steps, previewed and applied as "
        "a job; the train / validation / test split.",
        True,
    ),
    Step(
        4,
        "features",
        "Feature engineering",
        "A per-column transformer spec compiled into a scikit-learn ColumnTransformer.",
        True,
    ),
    Step(
        5,
        "models",
        "Model selection",
        "Candidates from a catalog for this task, with a baseline always included.",
        False,
    ),
    Step(
        6,
        "training",
        "Training",
        "One experiment per candidate, cross-validated and trained as a "
        "background job.",
        False,
    ),
    Step(
        7,
        "evaluation",
        "Evaluation",
        "Dashboards per experiment and across experiments; the test set is used "
        "once, on purpose.",
        False,
    ),
    Step(
        8,
        "tuning",
        "Hyperparameter tuning",
        "Grid, random, Bayesian (Optuna) and successive halving searches whose "
        "trials run as jobs.",
        False,
    ),
    Step(
        9,
        "deployment",
        "Deployment",
        "Register a model version, request approval, deploy behind a prediction API.",
        False,
    ),
    Step(
        10,
        "monitoring",
        "Monitoring",
        "Prediction logs, latency and errors, data and prediction drift, alerts.",
        False,
    ),
    Step(
        11,
        "maintenance",
        "Maintenance",
        "Retrain on new data with the same recipe; challenger against champion; "
        "promote or roll back.",
        False,
    ),
)
STEP_BY_SLUG = {step.slug: step for step in STEPS}


def latest_dataset(project: Project) -> Dataset | None:
    return (
        Dataset.objects.filter(project=project)
        .select_related("created_by")
        .order_by("-version")
        .first()
    )


def _uploaded(project: Project, latest: Dataset | None) -> Dataset | None:
    """The latest uploaded version: prepared versions (with a parent) are step 3's
    output and say nothing about whether step 2 is done."""
    if latest is None or latest.parent_id is None:
        return latest
    return (
        Dataset.objects.filter(project=project, parent__isnull=True)
        .order_by("-version")
        .first()
    )


def project_steps(project: Project, latest: Dataset | None) -> list[Step]:
    """Every wizard step with its state for this project."""
    uploaded = _uploaded(project, latest)
    data_ready = uploaded is not None and uploaded.status == DatasetStatus.READY
    target_ok = not project.needs_target or bool(project.target_column)
    data_done = data_ready and target_ok
    prepared = (
        data_done
        and Dataset.objects.filter(
            project=project, parent__isnull=False, status=DatasetStatus.READY
        ).exists()
    )
    features_done = prepared and bool(project.feature_spec)
    steps: list[Step] = []
    for step in STEPS:
        url = reverse("projects:step", args=[project.slug, step.slug])
        if step.number == 1:
            state, waits = "done", ""
        elif step.number == 2:
            state, waits = ("done" if data_done else "current"), ""
        elif step.number == 3 and not data_done:
            state = "waiting"
            if uploaded is None:
                waits = "a data set (step 2)"
            elif not data_ready:
                waits = "the data profile (step 2)"
            else:
                waits = "a target column (step 2)"
        elif step.number == 3:
            state, waits = ("done" if prepared else "current"), ""
        elif step.number == 4 and prepared:
            state, waits = ("done" if features_done else "current"), ""
        else:
            previous = STEPS[step.number - 2]
            state = "planned" if features_done else "waiting"
            waits = f"step {previous.number}, {previous.title}"
        steps.append(replace(step, state=state, waits_for=waits, url=url))
    return steps


def projects_for_list(user) -> QuerySet[Project]:
    return (
        visible_projects(user)
        .annotate(
            n_datasets=Count("datasets", distinct=True),
            last_version=Max("datasets__version"),
        )
        .order_by("name")
    )


def dataset_versions(project: Project) -> QuerySet[Dataset]:
    return (
        Dataset.objects.filter(project=project)
        .select_related("created_by")
        .defer("profile", "analysis", "schema")
        .order_by("-version")
    )


def latest_job(
    subject_type: str, subject_id: int, kinds: tuple[str, ...]
) -> Job | None:
    return (
        Job.objects.filter(
            subject_type=subject_type, subject_id=subject_id, kind__in=kinds
        )
        .order_by("-created_at")
        .first()
    )
