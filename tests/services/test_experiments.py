"""Training jobs end to end with a real Redis and worker: success, baseline, failure,
cancel, the once-only test evaluation, the threshold and comments."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from sklearn.metrics import f1_score

from projects.ml.training import split_xy
from projects.models import AuditEvent, Experiment, Job
from projects.services.experiments import (
    dataset_splits,
    experiment_cancel,
    experiment_comment_add,
    experiment_create,
    experiment_evaluate_test,
    experiment_load_model,
    experiment_set_threshold,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def train(owner, profile_jobs):
    """train(dataset, algorithm, **kw) -> the experiment after its jobs ran."""

    def run(dataset, algorithm, **kw):
        with profile_jobs():
            experiment = experiment_create(
                project=dataset.project,
                dataset=dataset,
                algorithm=algorithm,
                user=owner,
                cv_folds=kw.pop("cv_folds", 3),
                **kw,
            )
        experiment.refresh_from_db()
        return experiment

    return run


def test_it_trains_a_candidate_and_its_baseline(prepared_dataset, train):
    experiment = train(prepared_dataset, "random_forest", params={"n_estimators": 20})

    assert experiment.status == "succeeded", experiment.error
    baseline = experiment.baseline
    assert baseline is not None and baseline.is_baseline
    assert baseline.status == "succeeded"
    cv = experiment.metrics["cv"]["f1_macro"]
    assert len(cv["folds"]) == 3 and cv["mean"] is not None
    assert experiment.primary_score == experiment.metrics["validation"]["f1_macro"]
    assert experiment.fit_seconds > 0 and experiment.predict_ms_per_row > 0
    assert experiment.model_size_bytes > 0 and experiment.artifact_sha256
    assert experiment.info["n_train_rows"] == prepared_dataset.split["counts"]["train"]


def test_it_records_the_validation_metric_scikit_learn_computes(
    prepared_dataset, train
):
    experiment = train(prepared_dataset, "logistic_regression")
    model = experiment_load_model(experiment)
    X, y = split_xy(
        dataset_splits(prepared_dataset)["validation"],
        target="churn",
        task_type="classification",
    )

    expected = f1_score(y, model.predict(X), average="macro")
    assert experiment.metrics["validation"]["f1_macro"] == pytest.approx(expected)


def test_it_runs_the_dashboard_analyses_after_training(prepared_dataset, train):
    experiment = train(prepared_dataset, "logistic_regression")

    evaluation = experiment.evaluation
    assert evaluation["confusion"]["labels"] == ["no", "yes"]
    analysis = evaluation["analysis"]
    assert {row["feature"] for row in analysis["importance"]} >= {"age", "income"}
    assert analysis["learning_curve"]["verdict"]["text"]
    assert "sex" in analysis["fairness"]


def test_it_reuses_the_baseline_of_the_version(prepared_dataset, train):
    first = train(prepared_dataset, "logistic_regression")
    second = train(prepared_dataset, "decision_tree")

    assert first.baseline_id == second.baseline_id
    assert Experiment.objects.filter(is_baseline=True).count() == 1


def test_it_refuses_a_version_that_was_not_prepared(ready_dataset, owner):
    ready_dataset.project.target_column = "churn"
    ready_dataset.project.save()
    jobs = Job.objects.count()

    with pytest.raises(ValidationError) as caught:
        experiment_create(
            project=ready_dataset.project,
            dataset=ready_dataset,
            algorithm="random_forest",
            user=owner,
        )

    assert "step 3" in caught.value.message_dict["dataset_id"][0]
    assert not Experiment.objects.exists()
    assert Job.objects.count() == jobs


@pytest.mark.parametrize(
    ("algorithm", "params", "field"),
    [
        ("random_forest", {"max_depth": 0}, "params.max_depth"),
        ("random_forest", {"depth": 3}, "params.depth"),
        ("logistic_regression", {"C": "big"}, "params.C"),
        ("linear", {}, "algorithm"),  # a regression model for a classification task
    ],
)
def test_it_refuses_bad_parameters_naming_the_field(
    prepared_dataset, owner, algorithm, params, field
):
    with pytest.raises(ValidationError) as caught:
        experiment_create(
            project=prepared_dataset.project,
            dataset=prepared_dataset,
            algorithm=algorithm,
            params=params,
            user=owner,
        )

    assert field in caught.value.message_dict
    assert not Experiment.objects.exists()


def test_it_refuses_a_feature_override_naming_a_missing_column(prepared_dataset, owner):
    with pytest.raises(ValidationError) as caught:
        experiment_create(
            project=prepared_dataset.project,
            dataset=prepared_dataset,
            algorithm="random_forest",
            features={"columns": {"nope": {"kind": "numeric"}}},
            user=owner,
        )

    assert any(k.startswith("features") for k in caught.value.message_dict)
    assert not Experiment.objects.exists()


def test_it_fails_an_experiment_with_the_reason_and_keeps_its_log(
    prepared_dataset, train
):
    # 200 neighbours cannot be found among the ~100 rows of a training fold.
    experiment = train(prepared_dataset, "knn", params={"n_neighbors": 200})

    assert experiment.status == "failed"
    assert experiment.error.startswith("k-nearest neighbours failed to train")
    assert "n_neighbors" in experiment.error
    job = Job.objects.get(subject_id=experiment.pk, kind="train")
    assert job.status == "failed" and job.error == experiment.error


def test_it_cancels_a_queued_experiment(prepared_dataset, owner, run_jobs):
    experiment = experiment_create(
        project=prepared_dataset.project,
        dataset=prepared_dataset,
        algorithm="random_forest",
        user=owner,
    )

    experiment = experiment_cancel(experiment=experiment, user=owner)

    assert experiment.status == "cancelled"
    with pytest.raises(ValidationError):
        experiment_cancel(experiment=experiment, user=owner)


def test_it_evaluates_on_test_once_and_records_it(
    prepared_dataset, train, owner, profile_jobs
):
    experiment = train(prepared_dataset, "logistic_regression")
    assert "test" not in experiment.metrics

    with profile_jobs():
        experiment_evaluate_test(experiment=experiment, user=owner)
    experiment.refresh_from_db()

    assert experiment.metrics["test"]["f1_macro"] is not None
    assert (
        experiment.test_evaluation["n_rows"] == prepared_dataset.split["counts"]["test"]
    )
    assert AuditEvent.objects.filter(
        verb="experiment.test_evaluated", object_id=str(experiment.pk)
    ).exists()
    with pytest.raises(ValidationError) as caught:
        experiment_evaluate_test(experiment=experiment, user=owner)
    assert "already evaluated" in caught.value.message_dict["test"][0]


def test_it_refuses_to_load_a_tampered_model(
    prepared_dataset, train, owner, profile_jobs
):
    experiment = train(prepared_dataset, "logistic_regression")
    path = Path(default_storage.path(experiment.artifact.name))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    with profile_jobs():
        job = experiment_evaluate_test(experiment=experiment, user=owner)
    job.refresh_from_db()

    assert job.status == "failed"
    assert "not loaded" in job.error
    experiment.refresh_from_db()
    assert "test" not in experiment.metrics


def test_it_saves_a_threshold_and_answers_its_metrics(prepared_dataset, train, owner):
    experiment = train(prepared_dataset, "logistic_regression")

    chosen = experiment_set_threshold(experiment=experiment, threshold=0.3, user=owner)

    experiment.refresh_from_db()
    assert experiment.threshold == 0.3
    assert {"precision", "recall", "f1"} <= set(chosen)
    with pytest.raises(ValidationError) as caught:
        experiment_set_threshold(experiment=experiment, threshold=1.5, user=owner)
    assert "threshold" in caught.value.message_dict


def test_it_adds_a_comment_and_refuses_an_empty_one(prepared_dataset, train, owner):
    experiment = train(prepared_dataset, "baseline")

    comment = experiment_comment_add(experiment=experiment, user=owner, body="  ok ")

    assert comment.body == "ok"
    with pytest.raises(ValidationError) as caught:
        experiment_comment_add(experiment=experiment, user=owner, body="   ")
    assert "body" in caught.value.message_dict


def test_it_shows_the_clusters_of_an_algorithm_that_cannot_assign_new_rows(
    prepared_dataset, train
):
    project = prepared_dataset.project
    project.task_type, project.primary_metric = "clustering", "silhouette"
    project.success_threshold = None
    project.save()

    experiment = train(prepared_dataset, "dbscan", params={"eps": 2.0})

    assert experiment.status == "succeeded", experiment.error
    assert experiment.baseline is None
    assert "validation" not in experiment.metrics
    assert experiment.evaluation["split"] == "train"
    assert experiment.evaluation["sizes"]


def test_it_refuses_a_second_baseline_for_the_same_version(
    prepared_dataset, train, owner
):
    first = train(prepared_dataset, "baseline")

    with pytest.raises(ValidationError) as caught:
        experiment_create(
            project=prepared_dataset.project,
            dataset=prepared_dataset,
            algorithm="baseline",
            user=owner,
        )

    assert f"#{first.pk}" in caught.value.message_dict["algorithm"][0]
    assert Experiment.objects.filter(is_baseline=True).count() == 1


def test_it_marks_steps_5_and_6_done_for_a_model_trained_without_a_saved_spec(
    prepared_dataset, train
):
    from projects.selectors import latest_dataset, project_steps

    train(prepared_dataset, "logistic_regression")
    project = prepared_dataset.project
    assert project.feature_spec is None

    states = {s.slug: s.state for s in project_steps(project, latest_dataset(project))}

    assert states["models"] == "done" and states["training"] == "done"
    assert states["evaluation"] == "current"
