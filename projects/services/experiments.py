"""Steps 5 to 7: create experiments, train them as jobs, evaluate, comment.

An experiment is one candidate (a catalog algorithm with parameters and a feature
spec) trained on one prepared version. Creating one also creates the version's
baseline experiment if it has none, so every candidate has a yardstick. Training
runs on the ``training`` queue; when it succeeds, a second job computes the
slower analyses of the dashboard (permutation importance, learning curve,
fairness), so the experiment's metrics are available as soon as it is fitted.

The test split stays untouched until someone asks for the final evaluation,
which is allowed once per experiment and recorded in the audit log. The looks are
counted per data version (TestLook): a second experiment's look at a version's
test split needs an explicit confirmation.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from projects.ml import evaluation as ml_evaluation
from projects.ml.artifacts import ArtifactError, dump_model, load_model_from_bytes
from projects.ml.catalog import (
    algorithm_get,
    baseline_key,
    catalog_for,
    suggest_algorithms,
    validate_params,
)
from projects.ml.errors import SpecError
from projects.ml.fairness import fairness_report
from projects.ml.metrics import positive_label
from projects.ml.training import score_split, split_xy, train_model
from projects.models import (
    Dataset,
    DatasetStatus,
    Experiment,
    ExperimentComment,
    Job,
    JobStatus,
    Project,
    TestLook,
)
from projects.services.audit import audit_record
from projects.services.datasets import dataset_load_frame
from projects.services.features import (
    dataset_suggested_features,
    features_validate,
)
from projects.services.files import file_store_bytes
from projects.services.jobs import (
    JobError,
    job_cancel,
    job_create,
    job_fence,
    queue_require,
)
from projects.services.preparation import SPLIT_COLUMN, spec_validation_error

logger = logging.getLogger(__name__)

TRAIN_KINDS = ("train",)
ANALYSIS_ROWS = 5_000
LEARNING_CURVE_ROWS = 20_000
SEGMENT_MAX_LEVELS = 50
SEGMENT_COLUMNS = 5


def _signing_key() -> bytes:
    return settings.MODEL_SIGNING_KEY.encode()


def _field_error(exc: SpecError, prefix: str = "") -> ValidationError:
    return spec_validation_error(exc, prefix)


def dataset_require_prepared(dataset: Dataset) -> None:
    """Refuse a version that has no split (not made by step 3) or is not ready."""
    if dataset.status != DatasetStatus.READY or not dataset.split:
        state = (
            "is not prepared yet: prepare it on step 3 (cleaning and split) first"
            if not dataset.split
            else f"is {dataset.get_status_display().lower()}; wait until it is ready"
        )
        raise ValidationError({"dataset_id": f"Version {dataset.version} {state}."})


def project_catalog(*, project: Project, dataset: Dataset | None = None) -> dict:
    """The catalog for the project's task, with a suggested short list."""
    n_rows = None
    suggested: list[dict] = []
    if dataset is not None and dataset.split:
        n_rows = int(dataset.split.get("counts", {}).get("train") or dataset.n_rows)
        kinds = {
            c["name"]: c["kind"] for c in (dataset.profile or {}).get("columns", [])
        }
        suggested = suggest_algorithms(project.task_type, n_rows=n_rows, kinds=kinds)
    return {
        "task_type": project.task_type,
        "baseline": baseline_key(project.task_type),
        "algorithms": catalog_for(project.task_type, n_rows=n_rows),
        "suggested": suggested,
    }


def features_resolve(
    project: Project, dataset: Dataset, features: Any
) -> tuple[dict, bool]:
    """The spec an experiment uses, validated against the version's columns."""
    if features is not None:
        spec, overridden = features, True
    elif project.feature_spec:
        spec, overridden = project.feature_spec, False
    else:
        spec, overridden = dataset_suggested_features(dataset=dataset), False
    try:
        parsed = features_validate(dataset=dataset, spec=spec)
    except ValidationError as exc:
        # features_validate names "spec.*": the API field is "features.*".
        raise ValidationError(
            {k.replace("spec", "features", 1): v for k, v in exc.message_dict.items()}
        ) from None
    return parsed.model_dump(mode="json"), overridden


def _new_experiment(
    *,
    project: Project,
    dataset: Dataset,
    algorithm: str,
    params: dict,
    spec: dict,
    overridden: bool,
    user,
    name: str,
    cv_folds: int,
    random_state: int,
    baseline: Experiment | None,
) -> Experiment:
    entry = algorithm_get(project.task_type, algorithm)
    experiment = Experiment(
        project=project,
        dataset=dataset,
        name=(name or f"{entry.label} on v{dataset.version}")[:120],
        algorithm=algorithm,
        params=params,
        feature_spec=spec,
        features_overridden=overridden,
        is_baseline=entry.baseline,
        baseline=baseline,
        cv_folds=cv_folds,
        random_state=random_state,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    experiment.full_clean()
    experiment.save()
    experiment.job = job_create(
        kind="train",
        project=project,
        subject_type="experiment",
        subject_id=experiment.pk,
        user=user,
        queue="training",
    )
    audit_record(
        actor=user,
        verb="experiment.created",
        obj=experiment,
        project=project,
        data={"algorithm": algorithm, "dataset_version": dataset.version},
    )
    return experiment


def experiment_create(
    *,
    project: Project,
    dataset: Dataset,
    algorithm: Any,
    params: Any = None,
    features: Any = None,
    user,
    name: str = "",
    cv_folds: int = 5,
    random_state: int = 0,
) -> Experiment:
    """Create a candidate (and the version's baseline if missing); train both.

    Everything is checked before anything is written: the version is prepared,
    the algorithm fits the task, the parameters are in range, the feature spec
    fits the columns.
    """
    if dataset.project_id != project.pk:
        raise ValidationError(
            {"dataset_id": "That version belongs to another project."}
        )
    dataset_require_prepared(dataset)
    try:
        algorithm_get(project.task_type, algorithm)
        full_params = validate_params(project.task_type, algorithm, params)
    except SpecError as exc:
        raise _field_error(exc) from None
    if not 0 <= cv_folds <= 20 or cv_folds == 1:
        raise ValidationError({"cv_folds": "Give 0 (no cross-validation) or 2-20."})
    spec, overridden = features_resolve(project, dataset, features)
    queue_require()
    common = {
        "project": project,
        "dataset": dataset,
        "spec": spec,
        "overridden": overridden,
        "user": user,
        "cv_folds": cv_folds,
        "random_state": random_state,
    }
    with transaction.atomic():
        base_key = baseline_key(project.task_type)
        baseline = None
        if base_key:
            baseline = (
                Experiment.objects.filter(
                    project=project, dataset=dataset, is_baseline=True
                )
                .exclude(
                    status__in=[Experiment.Status.FAILED, Experiment.Status.CANCELLED]
                )
                .order_by("created_at")
                .first()
            )
        if base_key and algorithm == base_key and baseline is not None:
            raise ValidationError(
                {
                    "algorithm": f"Version {dataset.version} already has its "
                    f"baseline (experiment #{baseline.pk}); it is trained once."
                }
            )
        if base_key and algorithm != base_key and baseline is None:
            baseline = _new_experiment(
                **common,
                algorithm=base_key,
                params=validate_params(project.task_type, base_key, {}),
                name="",
                baseline=None,
            )
        return _new_experiment(
            **common,
            algorithm=algorithm,
            params=full_params,
            name=name,
            baseline=baseline,
        )


def experiment_cancel(*, experiment: Experiment, user) -> Experiment:
    """Cancel the experiment's queued or running job (finished ones stay)."""
    job = (
        Job.objects.filter(
            subject_type="experiment",
            subject_id=experiment.pk,
            kind__in=TRAIN_KINDS,
            status__in=Job.ACTIVE,
        )
        .order_by("-created_at")
        .first()
    )
    if job is None:
        raise ValidationError(
            {"status": f"The experiment is {experiment.status}: nothing to cancel."}
        )
    job_cancel(job=job, user=user)
    audit_record(
        actor=user,
        verb="experiment.cancelled",
        obj=experiment,
        project=experiment.project,
    )
    experiment.refresh_from_db()
    return experiment


# ----------------------------------------------------------------- the jobs


def dataset_splits(dataset: Dataset) -> dict[str, pd.DataFrame]:
    frame = dataset_load_frame(dataset)
    if SPLIT_COLUMN not in frame.columns:
        raise JobError(f"Version {dataset.version} has no split; prepare it first.")
    labels = frame.pop(SPLIT_COLUMN)
    return {
        name: frame[(labels == name).to_numpy()]
        for name in ("train", "validation", "test")
    }


def _primary(project: Project, values: dict | None) -> float | None:
    if not values:
        return None
    return values.get(project.primary_metric)


def _evaluation_of(
    project: Project, scored, classes, frame: pd.DataFrame, kinds: dict[str, str]
) -> dict:
    """The dashboard data of one scored split (aggregated; no rows)."""
    task = project.task_type
    if task == "classification":
        return {
            "task": task,
            **ml_evaluation.evaluate_classification(
                scored.y_true, scored.y_pred, scored.proba, classes
            ),
        }
    if task == "regression":
        segments = {}
        for column, kind in kinds.items():
            if column == project.target_column or column not in frame.columns:
                continue
            if (
                kind in ("categorical", "boolean")
                or column in project.sensitive_columns
            ):
                values = frame[column]
                if values.nunique(dropna=True) <= SEGMENT_MAX_LEVELS:
                    segments[column] = values.astype("string").fillna("(missing)")
            if len(segments) >= SEGMENT_COLUMNS:
                break
        # Rows without a target were left out of the scored split.
        mask = frame[project.target_column].notna().to_numpy()
        return {
            "task": task,
            **ml_evaluation.evaluate_regression(
                scored.y_true,
                scored.y_pred,
                segments={k: v.to_numpy()[mask] for k, v in segments.items()},
            ),
        }
    return {
        "task": task,
        **ml_evaluation.evaluate_clustering(scored.X_transformed, scored.y_pred),
    }


def _store_model(experiment: Experiment, pipeline, result, job: Job) -> dict:
    data = dump_model(
        pipeline,
        key=_signing_key(),
        metadata={
            "experiment_id": experiment.pk,
            "project_id": experiment.project_id,
            "dataset_id": experiment.dataset_id,
            "algorithm": experiment.algorithm,
            "task_type": experiment.project.task_type,
            "target": experiment.project.target_column or None,
            "input_columns": result.input_columns,
            "classes": result.classes,
        },
    )
    key = f"models/{experiment.project_id}/{uuid.uuid4().hex}.lcmodel"
    name = file_store_bytes(key, data, job=job)
    return {
        "artifact": name,
        "artifact_sha256": hashlib.sha256(data).hexdigest(),
        "model_size_bytes": len(data),
    }


def experiment_load_model(experiment: Experiment):
    """The fitted pipeline, after checking its signature and recorded sha256."""
    if not experiment.artifact:
        raise JobError("This experiment has no saved model (it did not finish).")
    try:
        with default_storage.open(experiment.artifact.name, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise JobError(
            "The saved model file is missing from storage; retrain the experiment."
        ) from None
    try:
        model, _header = load_model_from_bytes(
            data, key=_signing_key(), expected_sha256=experiment.artifact_sha256
        )
    except ArtifactError as exc:
        raise JobError(f"The saved model was not loaded: {exc}") from None
    return model


def experiment_train_run(*, job: Job, progress) -> None:
    """Job: cross-validate, fit, score, save the signed model, record it all."""
    experiment = Experiment.objects.select_related("project", "dataset").get(
        pk=job.subject_id
    )
    project = experiment.project
    Experiment.objects.filter(pk=experiment.pk).update(
        status=Experiment.Status.RUNNING, started_at=timezone.now(), error=""
    )
    log: list[str] = []

    def step(done: int, total: int, message: str) -> None:
        log.append(message)
        progress(5 + 75 * done / max(total, 1), message)

    progress(2, f"Reading version {experiment.dataset.version}")
    splits = dataset_splits(experiment.dataset)
    entry = algorithm_get(project.task_type, experiment.algorithm)
    try:
        result = train_model(
            splits["train"],
            splits["validation"],
            target=project.target_column or None,
            task_type=project.task_type,
            feature_spec=experiment.feature_spec,
            algorithm=experiment.algorithm,
            params=experiment.params,
            cv_folds=experiment.cv_folds,
            random_state=experiment.random_state,
            progress=step,
        )
    except MemoryError:
        _keep_log(experiment, log)
        raise JobError(
            f"{entry.label} ran out of memory on {len(splits['train']):,} rows. "
            "Pick a lighter algorithm or fewer features."
        ) from None
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        _keep_log(experiment, log)
        raise JobError(f"{entry.label} failed to train: {exc}") from None
    log.extend(result.log)
    progress(82, "Computing the evaluation dashboards")
    kinds = {c["name"]: c["kind"] for c in experiment.dataset.profile["columns"]}
    evaluation = None
    if result.validation_scored is not None:
        evaluation = _evaluation_of(
            project,
            result.validation_scored,
            result.classes,
            splits["validation"],
            kinds,
        )
    elif project.task_type == "clustering":
        # DBSCAN and agglomerative cannot assign new rows: show their clusters of
        # the training split, and say so.
        evaluation = {
            **_evaluation_of(
                project, result.train_scored, None, splits["train"], kinds
            ),
            "split": "train",
        }
    progress(90, "Saving the signed model")
    stored = _store_model(experiment, result.pipeline, result, job)
    metrics = {"cv": result.cv, "train": result.train}
    if result.validation is not None:
        metrics["validation"] = result.validation
    with job_fence(job):
        Experiment.objects.filter(pk=experiment.pk).update(
            **stored,
            status=Experiment.Status.SUCCEEDED,
            metrics=metrics,
            primary_score=_primary(project, result.validation or result.train),
            evaluation=evaluation,
            fit_seconds=result.fit_seconds,
            predict_ms_per_row=result.predict_ms_per_row,
            predict_ms_single=result.predict_ms_single,
            info={
                "cv_folds": result.cv_folds,
                "n_train_rows": result.n_train_rows,
                "n_fit_rows": result.n_fit_rows,
                "n_validation_rows": result.n_validation_rows,
                "classes": result.classes,
                "input_columns": result.input_columns,
                "feature_names": result.feature_names[:500],
                "n_features_out": len(result.feature_names),
                "warnings": result.warnings,
            },
            log="\n".join(log),
            finished_at=timezone.now(),
        )
        if not experiment.is_baseline and evaluation is not None:
            job_create(
                kind="analyze_experiment",
                project=project,
                subject_type="experiment",
                subject_id=experiment.pk,
                user=job.created_by,
                queue="training",
            )
    audit_record(
        actor=job.created_by,
        verb="experiment.trained",
        obj=experiment,
        project=project,
        data={"fit_seconds": round(result.fit_seconds, 3)},
    )


def _keep_log(experiment: Experiment, log: list[str]) -> None:
    Experiment.objects.filter(pk=experiment.pk).update(log="\n".join(log))


def experiment_train_ended(job: Job) -> None:
    status = (
        Experiment.Status.CANCELLED
        if job.status == JobStatus.CANCELLED
        else Experiment.Status.FAILED
    )
    Experiment.objects.filter(
        pk=job.subject_id,
        status__in=[Experiment.Status.QUEUED, Experiment.Status.RUNNING],
    ).update(status=status, error=job.error or job.message, finished_at=timezone.now())


def experiment_train_retried(job: Job) -> None:
    Experiment.objects.filter(
        pk=job.subject_id,
        status__in=[Experiment.Status.FAILED, Experiment.Status.CANCELLED],
    ).update(status=Experiment.Status.QUEUED, error="", finished_at=None)


def _scorer_and_direction(project: Project, classes):
    metric = project.primary_metric
    return ml_evaluation.sklearn_scorer(
        metric, classes=classes
    ), project.higher_is_better


def experiment_analyze_run(*, job: Job, progress) -> None:
    """Job: permutation importance, learning curve and fairness for the dashboard."""
    experiment = Experiment.objects.select_related("project", "dataset").get(
        pk=job.subject_id
    )
    project = experiment.project
    target = project.target_column or None
    progress(5, "Loading the model and the data")
    pipeline = experiment_load_model(experiment)
    splits = dataset_splits(experiment.dataset)
    Xv, yv = split_xy(splits["validation"], target=target, task_type=project.task_type)
    Xt, yt = split_xy(splits["train"], target=target, task_type=project.task_type)
    classes = experiment.info.get("classes")
    analysis: dict[str, Any] = {}
    if project.task_type != "clustering" and len(Xv):
        scorer, higher = _scorer_and_direction(project, classes)
        progress(15, "Permutation importance on the validation split")
        analysis["importance"] = ml_evaluation.permutation_importance_table(
            pipeline,
            Xv,
            yv,
            scoring=scorer,
            random_state=experiment.random_state,
            max_rows=ANALYSIS_ROWS,
        )
        progress(45, "Learning curve on the training split")
        if len(Xt) > LEARNING_CURVE_ROWS:
            rows = np.sort(
                np.random.default_rng(experiment.random_state).choice(
                    len(Xt), size=LEARNING_CURVE_ROWS, replace=False
                )
            )
            Xt, yt = Xt.iloc[rows], yt[rows]
        try:
            analysis["learning_curve"] = ml_evaluation.learning_curve_data(
                pipeline,
                Xt,
                yt,
                scoring=scorer,
                random_state=experiment.random_state,
                higher_is_better=higher,
            )
        except ValueError as exc:
            analysis["learning_curve"] = {"error": str(exc)}
        progress(85, "Fairness across the sensitive attributes")
        analysis["fairness"] = _fairness(
            project, pipeline, splits["validation"], classes
        )
    with job_fence(job):
        current = Experiment.objects.select_for_update().get(pk=experiment.pk)
        current.evaluation = {**(current.evaluation or {}), "analysis": analysis}
        current.save(update_fields=["evaluation"])


def _fairness(project: Project, pipeline, frame: pd.DataFrame, classes) -> dict:
    sensitive = [c for c in project.sensitive_columns if c in frame.columns]
    if not sensitive:
        return {}
    X, y = split_xy(frame, target=project.target_column, task_type=project.task_type)
    rows = frame[frame[project.target_column].notna()]
    groups = {
        c: rows[c].astype("string").fillna("(missing)").to_numpy() for c in sensitive
    }
    pos = positive_label(classes) if classes and len(classes) == 2 else None
    return fairness_report(
        y,
        pipeline.predict(X),
        groups,
        task_type=project.task_type,
        positive_label=pos,
        metric=project.primary_metric,
        bound=settings.FAIRNESS_BOUND,
    )


class TestSplitUsed(Exception):
    """A look at a version's test split that was used before, unconfirmed."""

    __test__ = False  # an exception, not a pytest test class

    def __init__(self, dataset: Dataset, looks: list[TestLook]):
        self.dataset = dataset
        self.looks = looks
        n = len(looks)
        earlier = ", ".join(
            f"#{look.experiment_id} ({timezone.localtime(look.at):%Y-%m-%d %H:%M}"
            f"{f', {look.by.username}' if look.by else ''})"
            for look in looks
        )
        self.message = (
            f"The test split of version {dataset.version} was already used "
            f"{n} time{'s' if n != 1 else ''}, by experiment{'s' if n != 1 else ''} "
            f"{earlier}. Every look makes its scores a less honest estimate of new "
            "data: look again only on purpose."
        )
        super().__init__(self.message)


def _already_looked(experiment: Experiment, look: TestLook) -> ValidationError:
    job = (
        Job.objects.filter(
            kind="evaluate_test", subject_type="experiment", subject_id=experiment.pk
        )
        .order_by("-created_at")
        .first()
    )
    if job is None or job.status == JobStatus.SUCCEEDED:
        state = "its scores are shown next to validation"
    elif job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        state = "that evaluation is still running"
    else:
        state = f"that evaluation {job.get_status_display().lower()}"
    when = timezone.localtime(look.at)
    by = f" by {look.by.username}" if look.by else ""
    return ValidationError(
        {
            "test": "This experiment was already evaluated on the test split "
            f"({when:%Y-%m-%d %H:%M}{by}); {state}. The test split is used once "
            "per experiment, on purpose: repeated looks would tune the model to it."
        }
    )


def experiment_evaluate_test(
    *, experiment: Experiment, user, confirm: bool = False
) -> Job:
    """Start the final evaluation on the test split: once per experiment, and
    only with ``confirm`` when another experiment already used the version's
    test split. The look is recorded in the same transaction as the job."""
    if experiment.status != Experiment.Status.SUCCEEDED:
        raise ValidationError(
            {
                "status": "Only a trained (succeeded) experiment can be evaluated "
                "on test."
            }
        )
    queue_require()
    by = user if user.is_authenticated else None
    with transaction.atomic():
        # Looks at one version are counted one at a time.
        dataset = Dataset.objects.select_for_update().get(pk=experiment.dataset_id)
        looks = list(TestLook.objects.filter(dataset=dataset).select_related("by"))
        own = next((x for x in looks if x.experiment_id == experiment.pk), None)
        if own is not None:
            raise _already_looked(experiment, own)
        if looks and not confirm:
            raise TestSplitUsed(dataset, looks)
        look = TestLook(
            dataset=dataset, experiment=experiment, by=by, confirmed=bool(looks)
        )
        # The constraint is checked by the insert below, with our message.
        look.full_clean(validate_constraints=False)
        try:
            with transaction.atomic():
                look.save()
        except IntegrityError:
            # A double submit that slipped past the lock (the constraint holds).
            raise _already_looked(experiment, look) from None
        Experiment.objects.filter(pk=experiment.pk).update(
            test_evaluated_at=look.at, test_evaluated_by=by
        )
        job = job_create(
            kind="evaluate_test",
            project=experiment.project,
            subject_type="experiment",
            subject_id=experiment.pk,
            user=user,
        )
        audit_record(
            actor=user,
            verb="experiment.test_evaluated",
            obj=experiment,
            project=experiment.project,
            data={
                "dataset_version": dataset.version,
                "look": len(looks) + 1,
                "confirmed": look.confirmed,
                "earlier_experiments": [x.experiment_id for x in looks],
            },
        )
    experiment.refresh_from_db()
    return job


def experiment_evaluate_test_run(*, job: Job, progress) -> None:
    experiment = Experiment.objects.select_related("project", "dataset").get(
        pk=job.subject_id
    )
    project = experiment.project
    progress(10, "Loading the model")
    pipeline = experiment_load_model(experiment)
    progress(30, "Scoring the test split")
    test = dataset_splits(experiment.dataset)["test"]
    X, y = split_xy(
        test, target=project.target_column or None, task_type=project.task_type
    )
    if not len(X):
        raise JobError(
            "The test split is empty: prepare the version with a test share."
        )
    if project.task_type == "clustering" and not hasattr(pipeline[-1], "predict"):
        raise JobError("This clustering algorithm cannot assign new rows to clusters.")
    scored = score_split(
        pipeline,
        X,
        y,
        task_type=project.task_type,
        random_state=experiment.random_state,
    )
    kinds = {c["name"]: c["kind"] for c in experiment.dataset.profile["columns"]}
    progress(70, "Computing the test dashboards")
    evaluation = _evaluation_of(
        project, scored, experiment.info.get("classes"), test, kinds
    )
    with job_fence(job):
        current = Experiment.objects.select_for_update().get(pk=experiment.pk)
        current.metrics = {**current.metrics, "test": scored.metrics}
        current.test_evaluation = {**evaluation, "n_rows": len(X)}
        current.save(update_fields=["metrics", "test_evaluation"])


def experiment_set_threshold(*, experiment: Experiment, threshold: Any, user) -> dict:
    """Save the decision threshold chosen in the explorer (binary tasks)."""
    table = (experiment.evaluation or {}).get("thresholds")
    if not table:
        raise ValidationError(
            {
                "threshold": "Only binary classifiers with probabilities have a "
                "threshold."
            }
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise ValidationError({"threshold": "Give a number between 0 and 1."})
    experiment.threshold = float(threshold)
    experiment.save(update_fields=["threshold"])
    audit_record(
        actor=user,
        verb="experiment.threshold_set",
        obj=experiment,
        project=experiment.project,
        data={"threshold": experiment.threshold},
    )
    return ml_evaluation.threshold_metrics(table, experiment.threshold)


def experiment_comment_add(
    *, experiment: Experiment, user, body: Any
) -> ExperimentComment:
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        raise ValidationError({"body": "Write something to comment."})
    if len(text) > 5000:
        raise ValidationError({"body": "Keep a comment under 5,000 characters."})
    comment = ExperimentComment(experiment=experiment, author=user, body=text)
    comment.full_clean()
    comment.save()
    audit_record(
        actor=user,
        verb="experiment.commented",
        obj=experiment,
        project=experiment.project,
        data={"comment_id": comment.pk},
    )
    return comment


__all__ = [
    "TestSplitUsed",
    "dataset_require_prepared",
    "experiment_analyze_run",
    "experiment_cancel",
    "experiment_comment_add",
    "experiment_create",
    "experiment_evaluate_test",
    "experiment_evaluate_test_run",
    "experiment_load_model",
    "experiment_set_threshold",
    "experiment_train_ended",
    "experiment_train_retried",
    "experiment_train_run",
    "project_catalog",
]
