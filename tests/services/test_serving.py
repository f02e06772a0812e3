"""deployment_predict and serving_load: the one predict path."""

from __future__ import annotations

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from projects.ml.serving import RowError
from projects.models import AuditEvent
from projects.services.deployments import endpoint_for
from projects.services.serving import (
    ModelRefused,
    NothingLive,
    ServingUnavailable,
    TooManyRows,
    deployment_predict,
    serving_cache_clear,
    serving_load,
)
from tests.deploy_support import churn_frame, fit_serving, make_version, raw_rows
from tests.serving_support import make_live

pytestmark = pytest.mark.django_db


def predict(endpoint, rows, **kwargs):
    return deployment_predict(
        endpoint=endpoint, body={"records": rows}, request_id="r-1", **kwargs
    )


def tamper(version) -> None:
    """Change one byte of the stored model file (its signature no longer holds)."""
    with default_storage.open(version.artifact.name, "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0xFF
    path = default_storage.path(version.artifact.name)
    with open(path, "wb") as handle:
        handle.write(bytes(data))


def test_it_predicts_like_the_pipeline_with_probabilities(project, owner):
    version = make_version(project, owner)
    live = make_live(version, owner)
    rows = raw_rows(6)
    answer = predict(live.endpoint, rows)
    expected = fit_serving(churn_frame())
    frame = pd.DataFrame(rows)
    assert answer["predictions"] == expected.predict(frame).tolist()
    assert answer["model_version"] == 1
    assert answer["request_id"] == "r-1"
    assert answer["warnings"] == []
    assert len(answer["probabilities"]) == 6
    for probs, p in zip(
        answer["probabilities"], expected.predict_proba(frame), strict=True
    ):
        assert set(probs) == {"no", "yes"}
        assert probs["yes"] == pytest.approx(p[1])


def test_it_loads_a_version_once_per_process(project, owner):
    version = make_version(project, owner)
    first = serving_load(version)
    # The file is not read again: the cached pipeline serves.
    default_storage.delete(version.artifact.name)
    assert serving_load(version) is first
    assert serving_load(version.pk) is first


def test_it_picks_up_a_promotion_without_a_restart(project, owner):
    live = make_live(make_version(project, owner), owner)
    assert predict(live.endpoint, raw_rows(2))["model_version"] == 1
    make_live(make_version(project, owner, C=0.01), owner)
    assert predict(live.endpoint, raw_rows(2))["model_version"] == 2


def test_it_refuses_a_tampered_artefact_and_audits_it_once(project, owner):
    version = make_version(project, owner)
    tamper(version)
    with pytest.raises(ModelRefused) as info:
        serving_load(version)
    assert info.value.reason == "tampered"
    with pytest.raises(ModelRefused):
        serving_load(version)
    events = AuditEvent.objects.filter(verb="model_version.load_refused")
    assert events.count() == 1
    event = events.get()
    assert event.object_id == str(version.pk)
    assert event.project == project
    assert event.data["reason"] == "tampered"


def test_it_refuses_a_file_that_is_not_the_recorded_one(project, owner):
    one, two = make_version(project, owner), make_version(project, owner, C=0.1)
    # A validly signed model file, but another version's.
    two.artifact_sha256 = one.artifact_sha256
    two.save(update_fields=["artifact_sha256"])
    with pytest.raises(ModelRefused) as info:
        serving_load(two)
    assert info.value.reason == "wrong_model"


def test_the_previous_version_keeps_serving_when_the_new_one_is_refused(project, owner):
    live = make_live(make_version(project, owner), owner)
    assert predict(live.endpoint, raw_rows(2))["model_version"] == 1
    bad = make_version(project, owner, C=0.01)
    make_live(bad, owner)
    tamper(bad)  # after approval checked it: changed in storage since
    for _ in range(3):
        assert predict(live.endpoint, raw_rows(2))["model_version"] == 1
    assert AuditEvent.objects.filter(verb="model_version.load_refused").count() == 1


def test_a_fresh_process_falls_back_to_the_deployments_previous_version(project, owner):
    make_live(make_version(project, owner), owner)
    bad = make_version(project, owner, C=0.01)
    live = make_live(bad, owner)
    tamper(bad)
    serving_cache_clear()  # as a process that never served version 1
    assert predict(live.endpoint, raw_rows(2))["model_version"] == 1


def test_it_says_so_when_no_version_can_be_loaded(project, owner):
    version = make_version(project, owner)
    live = make_live(version, owner)
    tamper(version)
    with pytest.raises(ServingUnavailable) as info:
        predict(live.endpoint, raw_rows(1))
    assert "cannot be loaded" in info.value.message


def test_it_finds_nothing_live_on_a_new_endpoint(project):
    with pytest.raises(NothingLive):
        predict(endpoint_for(project=project, environment="production"), raw_rows(1))


def test_it_refuses_more_rows_than_the_limit(project, owner, settings):
    settings.PREDICT_MAX_ROWS = 3
    live = make_live(make_version(project, owner), owner)
    with pytest.raises(TooManyRows) as info:
        predict(live.endpoint, raw_rows(4))
    assert "at most 3" in info.value.message
    assert len(predict(live.endpoint, raw_rows(3))["predictions"]) == 3


def test_it_applies_the_deployments_unseen_category_choice(project, owner):
    version = make_version(project, owner)
    rows = raw_rows(2)
    rows[1]["city"] = "Rome"
    live = make_live(version, owner)
    with pytest.raises(RowError) as info:
        predict(live.endpoint, rows)
    assert info.value.errors[0]["row"] == 1
    live = make_live(version, owner, unseen="allow")
    answer = predict(live.endpoint, rows)
    assert len(answer["predictions"]) == 2
    assert answer["warnings"][0]["code"] == "unseen_category"


def test_it_answers_an_empty_request(project, owner):
    live = make_live(make_version(project, owner), owner)
    answer = predict(live.endpoint, [])
    assert answer["predictions"] == []
    assert answer["probabilities"] == []
