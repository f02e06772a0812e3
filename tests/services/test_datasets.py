from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from projects.models import AuditEvent, Dataset, Job
from projects.services.datasets import dataset_upload, display_name
from projects.services.jobs import QueueUnavailable
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db


def _upload(project, owner, path, filename=None):
    return dataset_upload(
        project=project, user=owner, path=path, filename=filename or path.name
    )


def test_it_stores_the_raw_file_and_starts_an_ingest_job(project, owner, tmp_path):
    dataset, job = _upload(project, owner, write_csv(tmp_path / "churn.csv"))
    assert (dataset.version, dataset.status, dataset.n_rows) == (1, "ingesting", 0)
    assert dataset.file.name == ""  # no Parquet before the job has read the file
    assert (job.kind, job.status, job.subject_id) == ("ingest", "queued", dataset.pk)
    assert job.params["raw"].endswith(".upload")
    assert "churn" not in job.params["raw"]  # generated key, not the user's name


def test_it_makes_a_version_with_hash_counts_and_schema_in_the_job(
    project, owner, tmp_path, profile_jobs
):
    with profile_jobs():
        dataset, _job = _upload(project, owner, write_csv(tmp_path / "churn.csv"))
    dataset.refresh_from_db()
    assert (dataset.status, dataset.n_rows, dataset.n_columns) == ("ready", 200, 5)
    assert dataset.column_names == ["age", "income", "city", "sex", "churn"]
    assert len(dataset.sha256) == 64
    assert dataset.file.name.endswith(".parquet")
    assert dataset.profile["n_rows"] == 200
    assert AuditEvent.objects.filter(verb="dataset.uploaded").count() == 1


def test_it_profiles_exactly_what_the_stored_version_holds(
    project, owner, tmp_path, profile_jobs
):
    # The job profiles the table it has just read rather than reading the Parquet
    # file back; the profile must be the one the stored file gives.
    from projects.ml.profiling import profile_table
    from projects.services.datasets import dataset_load_frame

    path = tmp_path / "mixed.csv"
    path.write_text(
        "when,day,count,price,plan,note,flag\n"
        + "".join(
            f"2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00,2024-02-{1 + i % 28:02d},"
            f"{'' if i % 7 == 0 else i},{i * 1.5},{'abc'[i % 3]},"
            f"{'' if i % 5 == 0 else f'text {i}'},{'true' if i % 2 else 'false'}\n"
            for i in range(300)
        )
    )
    with profile_jobs():
        dataset, _ = _upload(project, owner, path)
    dataset.refresh_from_db()
    again = profile_table(
        dataset_load_frame(dataset), sample_rows=200_000, random_state=0
    )
    assert dataset.profile == again


def test_it_numbers_versions_and_keeps_old_ones(project, owner, tmp_path, profile_jobs):
    with profile_jobs():
        first, _ = _upload(project, owner, write_csv(tmp_path / "a.csv", seed=1))
        second, _ = _upload(project, owner, write_csv(tmp_path / "b.csv", seed=2))
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.version, second.version) == (1, 2)
    assert first.sha256 != second.sha256
    assert Dataset.objects.filter(project=project, status="ready").count() == 2


def test_it_removes_everything_when_the_job_refuses_the_file(
    project, owner, tmp_path, settings, profile_jobs
):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3\n")
    with profile_jobs():
        _upload(project, owner, path)
    job = Job.objects.get()
    assert (job.status, job.error) == (
        "failed",
        "Row 3 has 1 fields but the header has 2 columns (counting the header as "
        "row 1): '3'",
    )
    assert not Dataset.objects.exists()
    stored = settings.MEDIA_ROOT / "datasets"
    assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))


def test_it_refuses_an_unsupported_extension_before_storing(
    project, owner, tmp_path, settings
):
    path = tmp_path / "tool.exe"
    path.write_bytes(b"MZ\x90\x00")
    with pytest.raises(ValidationError) as caught:
        _upload(project, owner, path)
    assert caught.value.message_dict == {
        "file": [
            "Files ending in '.exe' are not supported. Upload one of: .csv, .tsv, "
            ".txt, .parquet, .jsonl, .ndjson, .xlsx, .xls."
        ]
    }
    assert not Dataset.objects.exists() and not Job.objects.exists()
    assert not (settings.MEDIA_ROOT / "datasets").exists()


def test_it_refuses_when_the_queue_is_down_and_stores_nothing(
    project, owner, tmp_path, settings
):
    settings.RQ_QUEUES = {
        name: {"URL": "redis://127.0.0.1:1/0?socket_connect_timeout=1"}
        for name in ("default", "training")
    }
    with pytest.raises(QueueUnavailable):
        _upload(project, owner, write_csv(tmp_path / "churn.csv"))
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\data.csv", "data.csv"),
        ("evil\u202ecsv.exe", "evilcsv.exe"),
        ("nul\x00byte.csv", "nulbyte.csv"),
        ("", "upload"),
    ],
)
def test_it_keeps_only_a_safe_display_name(given, shown):
    assert display_name(given) == shown


def test_it_shortens_very_long_names_keeping_the_extension():
    name = display_name("x" * 500 + ".csv")
    assert len(name) <= 200 and name.endswith(".csv")


def test_it_counts_empty_cells_as_missing_from_upload_to_preview(
    project, owner, tmp_path, profile_jobs
):
    from projects.services.datasets import dataset_load_frame
    from projects.services.preparation import dataset_preview, dataset_suggested_recipe

    project.target_column = "grade"
    project.task_type = "classification"
    project.save()
    rows = ["home,income,grade,score"]
    for i in range(40):
        home = "" if i % 8 == 3 else ("RENT", "OWN")[i % 2]
        income = '""' if i % 10 == 7 else f'"{1_000 + 37 * i:,}"'
        grade = "" if i % 10 == 9 else "ABC"[i % 3]
        rows.append(f"{home},{income},{grade},{i / 3:.2f}")
    path = tmp_path / "loans.csv"
    path.write_text("\n".join(rows) + "\n")

    with profile_jobs():
        dataset, _job = _upload(project, owner, path)
    dataset.refresh_from_db()

    assert dataset.status == "ready"
    # The stored version holds nulls, so every later step inherits them.
    stored = dataset_load_frame(dataset)
    assert stored.isna().sum().to_dict() == {
        "home": 5,
        "income": 4,
        "grade": 4,
        "score": 0,
    }
    columns = {c["name"]: c for c in dataset.profile["columns"]}
    assert [columns[n]["missing"] for n in ("home", "income", "grade")] == [5, 4, 4]
    assert "" not in [t["value"] for t in columns["home"]["top"]]
    codes = {w["code"] for w in dataset.profile["warnings"]}
    assert "disguised_missing" not in codes
    target = dataset.analysis["target"]
    assert "target_has_missing" in [w["code"] for w in target["warnings"]]
    assert {c["value"] for c in target["distribution"]["classes"]} == {"A", "B", "C"}

    recipe = dataset_suggested_recipe(dataset=dataset)
    ops = [(s["op"], s.get("column")) for s in recipe["steps"]]
    assert ("filter_rows", "grade") in ops
    assert ("impute", "home") in ops and ("impute", "income") in ops

    preview = dataset_preview(dataset=dataset, recipe={"version": 1, "steps": []})
    sample = preview["sample"]
    home = sample["columns"].index("home")
    # The preview shows an empty cell as missing, never as a '' value.
    assert {row[home] for row in sample["rows"]} == {"OWN", "RENT", None}
