"""Registering a trained experiment as a model version (real jobs, real training).

The key test: the registered serving pipeline, given the validation rows as they
were uploaded (before the cleaning recipe), predicts what the experiment's own
pipeline predicts on the prepared validation rows.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import connection
from django.forms.models import model_to_dict

from projects.ml.artifacts import load_model_from_bytes
from projects.ml.serving import ServingPipeline
from projects.ml.training import split_xy
from projects.models import AuditEvent, Experiment, ModelVersion
from projects.services.datasets import dataset_load_frame, dataset_upload
from projects.services.experiments import dataset_splits, experiment_load_model
from projects.services.preparation import SPLIT_COLUMN, dataset_prepare
from projects.services.registry import (
    CARD_TEXT_FIELDS,
    model_version_card_update,
    model_version_register,
)
from tests.factories import ProjectFactory
from tests.registry_support import (
    RECIPE,
    messy_prepared,
    trained_on,
    write_messy_csv,
)
from tests.views.evaluation_support import train_for_real

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(project, owner, profile_jobs, tmp_path):
    prepared = messy_prepared(project, owner, profile_jobs, tmp_path)
    return trained_on(profile_jobs, prepared, owner)


def _load(version: ModelVersion) -> ServingPipeline:
    with default_storage.open(version.artifact.name, "rb") as fh:
        serving, header = load_model_from_bytes(
            fh.read(),
            key=settings.MODEL_SIGNING_KEY.encode(),
            expected_sha256=version.artifact_sha256,
        )
    assert header["metadata"]["kind"] == "serving"
    return serving


def test_it_predicts_raw_rows_as_the_experiment_predicts_prepared_rows(trained, owner):
    version = model_version_register(experiment=trained, user=owner)
    serving = _load(version)

    prepared = trained.dataset
    uploaded = prepared.parent
    labels = dataset_load_frame(prepared, columns=[SPLIT_COLUMN])[SPLIT_COLUMN]
    validation = (labels == "validation").to_numpy()
    # The recipe removes no row: row i of the upload is row i of the prepared
    # version, so the same positions are the validation rows as uploaded.
    raw = dataset_load_frame(uploaded).drop(columns=["churn"])[validation]
    assert raw["income"].str.startswith("$").any()  # really raw
    assert raw["city"].str.startswith(" ").any() or raw["city"].str.endswith(" ").any()
    assert raw["age"].isna().any()
    X, _y = split_xy(
        dataset_splits(prepared)["validation"],
        target="churn",
        task_type="classification",
    )
    assert len(X) == len(raw) > 20
    experiment_pipeline = experiment_load_model(trained)

    expected = experiment_pipeline.predict(X)
    got = serving.predict(raw.reset_index(drop=True))

    assert list(got) == list(expected)
    np.testing.assert_allclose(
        serving.predict_proba(raw), experiment_pipeline.predict_proba(X), atol=1e-12
    )
    # Without the recipe (the raw rows straight into the pipeline) the answers
    # differ: the replay is what makes them equal.
    raw_into_pipeline = raw.copy()
    raw_into_pipeline["income"] = np.nan
    assert not np.allclose(
        experiment_pipeline.predict_proba(
            raw_into_pipeline.drop(columns="customer_id")
        ),
        experiment_pipeline.predict_proba(X),
    )


def test_it_records_a_snapshot_of_the_experiment(trained, owner, project):
    version = model_version_register(
        experiment=trained, user=owner, name="First", description="For the pilot."
    )

    assert (version.version, version.name, version.description) == (
        1,
        "First",
        "For the pilot.",
    )
    assert version.created_by == owner and version.experiment == trained
    # The schema is of the raw rows: the uploaded columns the model reads (not
    # the target, not the identifier the recipe drops), with the kinds a client
    # sends.
    columns = {c["name"]: c for c in version.schema["columns"]}
    assert list(columns) == ["age", "income", "city", "sex"]
    assert columns["age"]["kind"] == "numeric" and columns["age"]["nullable"]
    assert 18 <= columns["age"]["min"] < columns["age"]["max"] < 80
    # Money written as text stays text to a client: the recipe reads it.
    assert columns["income"]["kind"] == "text"
    # Categories as uploaded (the recipe trims them when it serves).
    assert {"Paris", " Paris", "Lyon ", "Nice", "Lyon"} == set(
        columns["city"]["categories"]
    )
    assert columns["sex"]["categories"] == ["female", "male"]
    assert not columns["sex"]["nullable"]
    assert version.schema["target"] == "churn"
    assert version.schema["classes"] == ["no", "yes"]

    metrics = version.metrics
    assert metrics["validation"] == trained.metrics["validation"]
    assert (
        metrics["cv"]["f1_macro"]["mean"] == trained.metrics["cv"]["f1_macro"]["mean"]
    )
    assert "test" not in metrics  # the test split was not looked at
    assert metrics["baseline"]["experiment_id"] == trained.baseline_id

    contract = version.contract
    primary = contract["parts"][0]
    assert primary["name"] == "primary_metric"
    assert primary["value"] == trained.primary_score
    assert primary["threshold"] == project.success_threshold == 0.8
    assert primary["passes"] == (trained.primary_score >= 0.8)
    fairness = [p for p in contract["parts"] if p["name"] == "fairness:sex"]
    assert len(fairness) == 1 and fairness[0]["threshold"] == 0.1
    verdicts = [p["passes"] for p in contract["parts"]]
    assert contract["passes"] == (
        False if False in verdicts else None if None in verdicts else True
    )

    lineage = version.lineage
    prepared, uploaded = trained.dataset, trained.dataset.parent
    assert lineage["dataset_sha256"] == prepared.sha256
    assert lineage["uploaded_sha256"] == uploaded.sha256
    assert lineage["uploaded_dataset_id"] == uploaded.pk
    assert [s["op"] for s in lineage["recipe"][0]["steps"]][:3] == [
        "drop_columns",
        "trim_whitespace",
        "to_number",
    ]
    assert lineage["recipe"][0]["steps"][3]["fitted"]["value"] > 0  # fitted median
    assert lineage["algorithm"] == "logistic_regression"
    assert lineage["feature_spec"] == trained.feature_spec
    assert lineage["libraries"]["sklearn"]
    assert lineage["trained_by"] == owner.username

    reference = version.reference
    assert reference["rows"] == "training"
    n_train = prepared.split["counts"]["train"]
    assert reference["n_rows"] == reference["n_training_rows"] == n_train
    age = reference["columns"]["age"]
    assert sum(age["counts"]) == round(n_train * (1 - age["missing_share"]))
    assert age["edges"] == sorted(age["edges"])
    assert set(reference["columns"]["sex"]["frequencies"]) == {"female", "male"}
    predictions = reference["predictions"]
    assert predictions["n"] == n_train
    assert abs(sum(predictions["frequencies"].values()) - 1) < 1e-9
    assert sum(predictions["proba"]["counts"]) == n_train

    card = version.card
    assert card["intended_use"] == project.business_goal
    assert "version 1" in card["data"] and "5 cleaning step(s)" in card["data"]
    assert "f1_macro" in card["metrics"] and "threshold" in card["metrics"]
    verdict = "it passes" if primary["passes"] else "it does not pass"
    assert f"{verdict}." in card["metrics"]
    assert card["fairness"].startswith("sex:")
    assert "test split was not used" in card["limitations"]
    assert card["test_looks"] == []

    event = AuditEvent.objects.get(verb="model_version.registered")
    assert event.object_id == str(version.pk) and event.actor == owner
    assert event.data["version"] == 1


def test_it_numbers_versions_per_project_and_changes_only_the_card(trained, owner):
    other = ProjectFactory()
    ModelVersion.objects.create(project=other, experiment=trained, version=7)
    first = model_version_register(experiment=trained, user=owner)
    second = model_version_register(experiment=trained, user=owner)
    assert (first.version, second.version) == (1, 2)
    assert first.artifact.name != second.artifact.name

    before = model_to_dict(first)
    model_version_card_update(
        version=first,
        user=owner,
        fields={"limitations": "  Not for customers under 18. ", "notes": "Checked."},
    )
    first.refresh_from_db()
    after = model_to_dict(first)
    assert {k for k in before if before[k] != after[k]} == {"card"}
    assert first.card["limitations"] == "Not for customers under 18."
    assert first.card["notes"] == "Checked."
    assert first.card["edited_by"] == owner.username
    assert first.card["metrics"] == before["card"]["metrics"]
    event = AuditEvent.objects.get(verb="model_version.card_edited")
    assert event.data == {"version": 1, "fields": ["limitations", "notes"]}


@pytest.mark.django_db(transaction=True)
def test_two_registrations_at_once_get_two_numbers(
    project, owner, profile_jobs, tmp_path
):
    prepared = messy_prepared(project, owner, profile_jobs, tmp_path)
    experiment = trained_on(profile_jobs, prepared, owner)
    start = threading.Barrier(3)
    numbers, errors = [], []

    def register():
        try:
            start.wait()
            version = model_version_register(experiment=experiment, user=owner)
            numbers.append(version.version)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(numbers) == [1, 2, 3]
    assert ModelVersion.objects.filter(project=project).count() == 3
    names = set(ModelVersion.objects.values_list("artifact", flat=True))
    assert len(names) == 3 and all(default_storage.exists(n) for n in names)


def test_it_refuses_to_edit_anything_but_the_card_text(trained, owner):
    version = model_version_register(experiment=trained, user=owner)
    card = dict(version.card)
    cases = [
        ({"metrics_value": "1.0"}, "metrics_value"),
        ({"test_looks": "none"}, "test_looks"),
        ({"intended_use": "   "}, "intended_use"),
        ({"notes": "x" * 5001}, "notes"),
        ({"data": 3}, "data"),
        ({"notes": "a\x00b"}, "notes"),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationError) as caught:
            model_version_card_update(version=version, user=owner, fields=fields)
        assert field in caught.value.message_dict, fields
    version.refresh_from_db()
    assert version.card == card
    assert not AuditEvent.objects.filter(verb="model_version.card_edited").exists()
    assert set(CARD_TEXT_FIELDS) == {
        "intended_use",
        "data",
        "metrics",
        "fairness",
        "limitations",
        "notes",
    }


@pytest.mark.parametrize("status", ["queued", "running", "failed", "cancelled"])
def test_it_refuses_an_experiment_that_did_not_succeed(
    project, owner, prepared_dataset, status
):
    experiment = Experiment.objects.create(
        project=project, dataset=prepared_dataset, algorithm="svm", status=status
    )
    with pytest.raises(ValidationError) as caught:
        model_version_register(experiment=experiment, user=owner)
    assert "only a succeeded" in caught.value.message_dict["experiment"][0]
    assert not ModelVersion.objects.exists()
    assert not default_storage.exists(f"models/{project.pk}/versions")


def test_it_refuses_a_succeeded_experiment_without_its_model(
    project, owner, prepared_dataset
):
    experiment = Experiment.objects.create(
        project=project, dataset=prepared_dataset, algorithm="svm", status="succeeded"
    )
    with pytest.raises(ValidationError) as caught:
        model_version_register(experiment=experiment, user=owner)
    assert "no saved model" in caught.value.message_dict["experiment"][0]


def test_it_refuses_a_name_too_long(trained, owner):
    with pytest.raises(ValidationError) as caught:
        model_version_register(experiment=trained, user=owner, name="n" * 121)
    assert "name" in caught.value.message_dict
    assert not ModelVersion.objects.exists()


def test_it_registers_a_regression_model_without_a_threshold(
    project, owner, profile_jobs, tmp_path
):
    project.task_type = "regression"
    project.primary_metric = "rmse"
    project.success_threshold = None
    project.sensitive_columns = []
    project.target_column = "age"
    project.save()
    with profile_jobs():
        uploaded, _job = dataset_upload(
            project=project,
            user=owner,
            path=write_messy_csv(tmp_path / "customers.csv"),
            filename="customers.csv",
        )
    uploaded.refresh_from_db()
    # Rows without a target are removed (not filled): the training rows are then
    # found in the upload by replaying the recipe, whose row removal shifts them.
    recipe = {
        "steps": [
            *RECIPE["steps"][:4],
            {"op": "impute", "column": "age", "strategy": "drop_rows"},
        ]
    }
    with profile_jobs():
        prepared, _job = dataset_prepare(
            dataset=uploaded,
            user=owner,
            recipe=recipe,
            split={"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1},
        )
    prepared.refresh_from_db()
    assert prepared.status == "ready", prepared.error
    experiment = train_for_real(profile_jobs, prepared, "ridge", owner)

    version = model_version_register(experiment=experiment, user=owner)

    assert version.contract["passes"] is None
    assert version.contract["parts"][0]["threshold"] is None
    assert "no success threshold" in version.card["metrics"]
    assert "age" not in [c["name"] for c in version.schema["columns"]]
    assert version.schema["classes"] is None
    predictions = version.reference["predictions"]
    assert predictions["kind"] == "numeric"
    assert version.reference["rows"] == "training"
    n_train = prepared.split["counts"]["train"]
    assert version.reference["n_training_rows"] == n_train < 0.6 * uploaded.n_rows
    assert sum(predictions["counts"]) == n_train
    # The rows summarised are the training rows (sex is left as uploaded by the
    # recipe, so its shares must be those of the prepared training rows).
    rows = dataset_load_frame(prepared, columns=["sex", SPLIT_COLUMN])
    shares = rows[rows[SPLIT_COLUMN] == "train"]["sex"].value_counts(normalize=True)
    assert version.reference["columns"]["sex"]["frequencies"] == pytest.approx(
        shares.to_dict()
    )
    raw = dataset_load_frame(uploaded).drop(columns=["age"]).head(5)
    assert np.isfinite(_load(version).predict(raw)).all()


def test_it_refuses_an_experiment_whose_model_file_was_changed(trained, owner):
    path = default_storage.path(trained.artifact.name)
    with open(path, "r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))

    with pytest.raises(ValidationError) as caught:
        model_version_register(experiment=trained, user=owner)

    assert "was not loaded" in caught.value.message_dict["experiment"][0]
    assert not ModelVersion.objects.exists()
