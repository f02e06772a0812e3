"""Read-side queries used by pages and the API (no N+1: select_related, annotate)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import Count, F, Func, Max, OuterRef, QuerySet, Subquery
from django.urls import reverse

from projects.access import visible_projects
from projects.models import (
    Dataset,
    DatasetStatus,
    Deployment,
    Experiment,
    ExperimentComment,
    Job,
    Project,
    Study,
    TestLook,
)


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
        True,
    ),
    Step(
        6,
        "training",
        "Training",
        "One experiment per candidate, cross-validated and trained as a "
        "background job.",
        True,
    ),
    Step(
        7,
        "evaluation",
        "Evaluation",
        "Dashboards per experiment and across experiments; the test set is used "
        "once, on purpose.",
        True,
    ),
    Step(
        8,
        "tuning",
        "Hyperparameter tuning",
        "Grid, random, Bayesian (Optuna) and successive halving searches whose "
        "trials run as jobs.",
        True,
    ),
    Step(
        9,
        "deployment",
        "Deployment",
        "Register a model version, request approval, deploy behind a prediction API.",
        True,
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
    # Counted once a version is prepared: the API can train without a saved
    # feature spec (the suggestion is used), and the stepper must say so.
    experiments = (
        Experiment.objects.filter(project=project).values_list("status", flat=True)
        if prepared
        else []
    )
    statuses = set(experiments)
    trained = Experiment.Status.SUCCEEDED in statuses
    tested = (
        trained
        and Experiment.objects.filter(
            project=project, test_evaluated_at__isnull=False
        ).exists()
    )
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
        elif step.number == 5 and (features_done or statuses):
            state, waits = ("done" if statuses else "current"), ""
        elif step.number == 6 and statuses:
            state, waits = ("done" if trained else "current"), ""
        elif step.number == 7 and trained:
            state, waits = ("done" if tested else "current"), ""
        elif step.number == 8 and trained:
            tuned = Study.objects.filter(
                project=project, status=Study.Status.SUCCEEDED
            ).exists()
            state, waits = ("done" if tuned else "current"), ""
        elif step.number == 9:
            # A trained experiment (not a study) is what a version is made of.
            deployable = trained or (
                Experiment.objects.filter(
                    project=project, status=Experiment.Status.SUCCEEDED
                ).exists()
            )
            if deployable:
                live = Deployment.objects.filter(project=project, status="live")
                state = "done" if live.exists() else "current"
                waits = ""
            else:
                state, waits = "waiting", "a trained experiment (step 6)"
        elif step.number in (5, 6, 7, 8):
            state = "waiting"
            waits = {
                5: "step 4, Feature engineering",
                6: "a candidate model (step 5)",
                7: "a trained experiment (step 6)",
                8: "a trained experiment (step 6)",
            }[step.number]
        else:
            previous = STEPS[step.number - 2]
            state = "planned" if trained else "waiting"
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


def last_project_job(project: Project, kind: str) -> Job | None:
    """The project's most recent job of a kind, whatever its subject."""
    return (
        Job.objects.filter(project=project, kind=kind).order_by("-created_at").first()
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


# ------------------------------------------------------------- experiments

# What the experiment table may sort by: name -> model field ("score" follows
# the primary metric's direction, best first).
EXPERIMENT_ORDERINGS = {
    "score": "primary_score",
    "created": "created_at",
    "algorithm": "algorithm",
    "fit_seconds": "fit_seconds",
    "latency": "predict_ms_per_row",
    "status": "status",
    "version": "dataset__version",
}
HEAVY_EXPERIMENT_FIELDS = ("evaluation", "test_evaluation", "log", "feature_spec")
DATASET_HEAVY_FIELDS = (
    "dataset__profile",
    "dataset__analysis",
    "dataset__schema",
    "dataset__recipe",
    "dataset__report",
)


def experiment_ordering(project: Project, ordering: str) -> list:
    """ORDER BY for an ordering name (``-`` reverses); ValueError if unknown."""
    descending = ordering.startswith("-")
    key = ordering.lstrip("-")
    if key not in EXPERIMENT_ORDERINGS:
        raise ValueError(
            f"Unknown ordering {ordering!r}; use one of: "
            f"{', '.join(EXPERIMENT_ORDERINGS)} (prefix - to reverse)."
        )
    field = EXPERIMENT_ORDERINGS[key]
    if key == "score":
        # "score" = best first; "-score" = worst first.
        descending = project.higher_is_better != descending
    expression = (
        F(field).desc(nulls_last=True) if descending else F(field).asc(nulls_last=True)
    )
    return [expression, "-id"]


_comment_counts = (
    ExperimentComment.objects.filter(experiment=OuterRef("pk"))
    .order_by()
    .annotate(n=Func(F("id"), function="COUNT"))
    .values("n")
)


def experiments_filtered(
    project: Project,
    *,
    algorithm: str | None = None,
    status: str | None = None,
    dataset_id: int | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    ordering: str = "score",
) -> QuerySet[Experiment]:
    """The project's experiments for the team table and the leaderboard."""
    qs = (
        Experiment.objects.filter(project=project)
        .select_related("project", "dataset", "created_by")
        .defer(*HEAVY_EXPERIMENT_FIELDS, *DATASET_HEAVY_FIELDS)
        # A subquery, not Count("comments"): a GROUP BY over every selected column
        # made SQLite sort all the project's rows, heavy JSON and all.
        .annotate(n_comments=Subquery(_comment_counts))
    )
    if algorithm:
        qs = qs.filter(algorithm=algorithm)
    if status:
        qs = qs.filter(status=status)
    if dataset_id:
        qs = qs.filter(dataset_id=dataset_id)
    if min_score is not None:
        qs = qs.filter(primary_score__gte=min_score)
    if max_score is not None:
        qs = qs.filter(primary_score__lte=max_score)
    return qs.order_by(*experiment_ordering(project, ordering))


def experiment_facets(project: Project) -> dict:
    """The values the table's filters offer (two small queries)."""
    algorithms = (
        Experiment.objects.filter(project=project)
        .values_list("algorithm", flat=True)
        .distinct()
        .order_by("algorithm")
    )
    versions = (
        Dataset.objects.filter(project=project, experiments__isnull=False)
        .values_list("id", "version")
        .distinct()
        .order_by("-version")
    )
    return {"algorithms": list(algorithms), "versions": list(versions)}


def experiments_compared(project: Project, ids: list[int]) -> list[Experiment]:
    """Chosen experiments of the project, in the order given (at most 8)."""
    found = {
        e.pk: e
        for e in Experiment.objects.filter(project=project, pk__in=ids[:8])
        .select_related("dataset", "project")
        .defer("log", "test_evaluation")
    }
    return [found[i] for i in ids[:8] if i in found]


def params_that_differ(experiments: list[Experiment]) -> list[str]:
    """Parameter names whose values are not the same across the experiments
    (a parameter one of them lacks differs)."""
    names = sorted({name for e in experiments for name in e.params})
    return [
        name
        for name in names
        if len({repr(e.params.get(name, "—")) for e in experiments}) > 1
        or any(name not in e.params for e in experiments)
    ]


def experiment_jobs(experiment_ids: list[int]) -> dict[int, Job]:
    """The latest training job of each experiment, in one query."""
    latest: dict[int, Job] = {}
    for job in Job.objects.filter(
        subject_type="experiment", subject_id__in=experiment_ids, kind="train"
    ).order_by("created_at"):
        latest[job.subject_id] = job
    return latest


def experiment_comments(experiment: Experiment):
    return experiment.comments.select_related("author").order_by("created_at", "id")


# ------------------------------------------------------- step 7 (evaluation)

LEADERBOARD_ROWS = 20
PARALLEL_ROWS = 500
EXPERIMENT_JOB_KINDS = ("train", "analyze_experiment", "evaluate_test")


def experiment_in_project(project: Project, experiment_id: int) -> Experiment | None:
    """One experiment of the project with what its dashboard shows (one query);
    None for an id of another project, so it cannot leak."""
    experiment = (
        Experiment.objects.filter(project=project, pk=experiment_id)
        .select_related(
            "dataset", "dataset__parent", "baseline", "created_by", "test_evaluated_by"
        )
        .defer(
            "dataset__profile",
            "dataset__analysis",
            "dataset__schema",
            "dataset__report",
            "dataset__parent__profile",
            "dataset__parent__analysis",
            "dataset__parent__schema",
            "dataset__parent__recipe",
            "dataset__parent__report",
            "baseline__evaluation",
            "baseline__test_evaluation",
            "baseline__log",
            "baseline__feature_spec",
        )
        .first()
    )
    if experiment is not None:
        experiment.project = project  # keeps the role the access check found
    return experiment


def experiment_vs_baseline(experiment: Experiment) -> dict:
    """The baseline's validation metrics and whether the experiment beats it on
    the primary metric (None when either is unknown)."""
    project = experiment.project
    baseline = experiment.baseline
    metrics = (
        baseline.metrics
        if baseline is not None and baseline.status == Experiment.Status.SUCCEEDED
        else None
    )
    score = (metrics or {}).get("validation", {}).get(project.primary_metric)
    beats = None
    if score is not None and experiment.primary_score is not None:
        beats = (
            experiment.primary_score > score
            if project.higher_is_better
            else experiment.primary_score < score
        )
    return {"baseline": baseline, "metrics": metrics, "score": score, "beats": beats}


def experiment_latest_jobs(experiment_id: int) -> dict[str, Job]:
    """The latest job of each kind the dashboard shows, in one query."""
    latest: dict[str, Job] = {}
    for job in Job.objects.filter(
        subject_type="experiment",
        subject_id=experiment_id,
        kind__in=EXPERIMENT_JOB_KINDS,
    ).order_by("created_at"):
        latest[job.kind] = job
    return latest


def dataset_test_looks(dataset_ids: list[int]) -> dict[int, list[TestLook]]:
    """The looks at each version's test split, oldest first (one query)."""
    looks: dict[int, list[TestLook]] = {pk: [] for pk in dataset_ids}
    for look in (
        TestLook.objects.filter(dataset_id__in=dataset_ids)
        .select_related("by")
        .only("dataset_id", "experiment_id", "at", "confirmed", "by__username")
    ):
        looks[look.dataset_id].append(look)
    return looks


def experiment_leaderboard(project: Project, limit: int = LEADERBOARD_ROWS) -> list:
    """The best trained experiments on the primary metric, plus the best baseline
    when it is not among them (two small queries, no heavy fields)."""
    fields = (
        "id",
        "name",
        "algorithm",
        "primary_score",
        "is_baseline",
        "dataset__version",
    )
    trained = Experiment.objects.filter(
        project=project,
        status=Experiment.Status.SUCCEEDED,
        primary_score__isnull=False,
    ).order_by(*experiment_ordering(project, "score"))
    rows = list(trained.values(*fields)[:limit])
    if not any(r["is_baseline"] for r in rows):
        baseline = trained.filter(is_baseline=True).values(*fields).first()
        if baseline is not None:
            rows.append(baseline)
    return rows


def experiment_parallel_rows(
    project: Project, algorithm: str | None = None, limit: int = PARALLEL_ROWS
) -> tuple[str | None, list[dict]]:
    """Parameters and primary score of the best ``limit`` trained experiments of
    one algorithm (the one asked for, else the most common non-baseline one)."""
    trained = Experiment.objects.filter(
        project=project,
        status=Experiment.Status.SUCCEEDED,
        primary_score__isnull=False,
    )
    if not algorithm:
        common = (
            trained.filter(is_baseline=False)
            .values("algorithm")
            .annotate(n=Count("id"))
            .order_by("-n", "algorithm")
            .first()
        )
        if common is None:
            return None, []
        algorithm = common["algorithm"]
    rows = trained.filter(algorithm=algorithm).order_by(
        *experiment_ordering(project, "score")
    )
    return algorithm, [
        {"params": params or {}, "score": score}
        for params, score in rows.values_list("params", "primary_score")[:limit]
    ]


# ----------------------------------------------------------------- tuning


def studies_of(project: Project):
    from projects.models import Study

    return Study.objects.filter(project=project).order_by("-created_at", "-id")


def study_trials(study):
    return study.trials.order_by("number")
