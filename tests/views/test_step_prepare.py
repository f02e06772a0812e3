"""Step 3 page: the recipe editor, the preview partial, the split form and apply."""

from __future__ import annotations

import json
import re

import pytest

from projects.ml.cleaning import OPS
from projects.models import AuditEvent, Dataset, Job
from projects.views.prepare import COMMON_FIELDS, MODELS, PARAMS

pytestmark = pytest.mark.django_db

URL = "/projects/{slug}/steps/prepare/"
IMPUTE = {"op": "impute", "column": "income", "strategy": "median"}
DROP_CITY = {"op": "drop_columns", "columns": ["city"]}
SPLIT = {
    "split-train": "0.7",
    "split-validation": "0.15",
    "split-test": "0.15",
    "split-seed": "42",
    "split-stratify": "on",
    "split-group_column": "",
    "split-time_column": "",
}


@pytest.fixture
def churn(project, ready_dataset):
    """A classification project whose version 1 is profiled, target chosen."""
    project.target_column = "churn"
    project.save()
    return project


def _url(project) -> str:
    return URL.format(slug=project.slug)


def _recipe(*steps) -> str:
    return json.dumps({"version": 1, "steps": list(steps)})


def _preview(client, project, *steps, **extra):
    return client.post(
        _url(project),
        {"action": "preview", "version": "1", "recipe": _recipe(*steps)},
        HTTP_HX_REQUEST="true",
        **extra,
    )


def _apply(client, project, *steps, split=None):
    return client.post(
        _url(project),
        {
            "action": "apply",
            "version": "1",
            "recipe": _recipe(*steps),
            **(split or SPLIT),
        },
    )


def _step_items(html: str) -> list[str]:
    """The steps of the recipe shown (not the blank ones "Add step" copies)."""
    steps = re.search(r'<ol class="recipe-steps[^"]*".*?</ol>', html, flags=re.S)
    return re.findall(r'<li class="recipe-step.*?</li>', steps.group(0), flags=re.S)


def _nothing_written() -> None:
    assert Dataset.objects.count() == 1
    assert not Job.objects.filter(kind="prepare").exists()


# ----------------------------------------------------------------- access


def test_it_shows_the_owner_the_suggested_recipe_and_the_split_form(
    client_for, owner, churn
):
    response = client_for(owner).get(_url(churn))
    assert response.status_code == 200
    html = response.text
    assert "Step 3: Cleaning &amp; preparation" in html
    assert 'id="prepare-form"' in html
    items = _step_items(html)
    impute = next(i for i in items if 'data-op="impute"' in i)
    assert "Missing values" in impute
    assert "income: 10% missing" in impute
    assert 'aria-label="Remove Missing values"' in impute
    recipe = re.search(r'name="recipe" value="([^"]*)"', html).group(1)
    steps = json.loads(recipe.replace("&quot;", '"'))["steps"]
    assert any(s["op"] == "impute" and s["column"] == "income" for s in steps)
    assert 'name="split-train"' in html and 'value="0.7"' in html
    assert re.search(r'name="split-stratify"[^>]*checked', html)
    assert "Apply recipe and split" in html
    assert "None yet." in html  # no prepared version
    assert '<template id="new-step-filter_rows">' in html
    assert 'src="/static/js/recipe.js"' in html


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_a_reader_the_recipe_without_controls(client_for, churn, member, role):
    response = client_for(member(role)).get(_url(churn))
    assert response.status_code == 200
    html = response.text
    assert "Suggested cleaning recipe" in html
    assert "income: 10% missing" in html
    assert 'id="prepare-form"' not in html
    assert "Apply recipe and split" not in html
    assert "Preview on the first" not in html
    assert "data-remove" not in html
    assert "<template" not in html
    assert "<input" not in re.search(r'id="recipe".*?</section>', html, re.S).group(0)


def test_it_lets_a_scientist_preview(client_for, churn, member):
    response = _preview(client_for(member("scientist")), churn, IMPUTE)
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["viewer", "approver"])
@pytest.mark.parametrize("action", ["preview", "apply"])
def test_it_refuses_preview_and_apply_to_a_reader(
    client_for, churn, member, role, action
):
    response = client_for(member(role)).post(
        _url(churn), {"action": action, "recipe": _recipe(IMPUTE), **SPLIT}
    )
    assert response.status_code == 403
    _nothing_written()


def test_it_returns_404_to_an_outsider(client_for, churn, outsider):
    client = client_for(outsider)
    assert client.get(_url(churn)).status_code == 404
    assert _apply(client, churn, IMPUTE).status_code == 404
    _nothing_written()


def test_it_says_what_it_waits_for_without_a_target(client_for, owner, project):
    response = client_for(owner).get(_url(project))
    assert "This step is waiting for a data set (step 2)." in response.text


# ---------------------------------------------------------------- preview


def test_it_previews_a_recipe_before_and_after(client_for, owner, churn):
    response = _preview(client_for(owner), churn, IMPUTE, DROP_CITY)
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html  # the partial only
    assert html.startswith('<div id="recipe-editor"')
    assert "This preview ran on all 200 rows." in html
    assert "200 → 200" in html
    report = re.search(r'<table class="table compact report">.*?</table>', html, re.S)
    rows = re.findall(r"<tr class=.*?</tr>", report.group(0), re.S)
    impute = dict(re.findall(r'<span class="([a-z-]+)">([\d,]+)</span>', rows[0]))
    assert impute == {
        "rows-before": "200",
        "rows-after": "200",
        "missing-before": "20",
        "missing-after": "0",
    }
    assert '<td class="num values-changed">20</td>' in rows[0]
    assert "Filled 20 missing" in rows[0]
    assert "Removed: city." in rows[1]
    sample = re.search(r'<table class="table compact sample">.*?</table>', html, re.S)
    assert "<th>city</th>" not in sample.group(0)
    assert 'class="cell-changed"' in sample.group(0)
    # The steps come back as they were sent, for the next edit.
    assert len(_step_items(html)) == 2


def test_it_says_when_the_preview_ran_on_the_first_rows(
    client_for, owner, churn, monkeypatch
):
    monkeypatch.setattr("projects.services.preparation.PREVIEW_ROWS", 50)
    response = _preview(client_for(owner), churn, IMPUTE)
    assert "ran on the <strong>first 50 rows</strong> of 200" in response.text


def test_it_shows_a_bad_column_next_to_its_step(client_for, owner, churn):
    response = _preview(
        client_for(owner), churn, DROP_CITY, {**IMPUTE, "column": "nope"}
    )
    assert response.status_code == 400
    first, second = _step_items(response.text)
    assert "has-error" not in first
    assert 'class="recipe-step has-error"' in second
    param = re.search(
        r'<div class="rs-param w-column has-error".*?</div>', second, re.S
    )
    assert "Step 2 (Missing values): column &#x27;nope&#x27; cannot be used" in (
        param.group(0)
    )
    assert 'id="preview-result"' not in response.text


def test_it_shows_a_parameter_error_at_the_parameter(client_for, owner, churn):
    outliers = {"op": "outliers", "column": "income", "k": -1}
    response = _preview(client_for(owner), churn, outliers)
    assert response.status_code == 400
    (item,) = _step_items(response.text)
    param = re.search(r'<div class="rs-param w-number has-error".*?</div>', item, re.S)
    assert 'data-field="k"' in param.group(0)
    assert "greater than 0" in param.group(0)


def test_it_edits_merge_groups_as_json_and_keeps_a_typo_to_fix(
    client_for, owner, churn
):
    client = client_for(owner)
    merge = {"op": "merge_categories", "column": "city", "groups": {"Paris": ["paris"]}}
    good = _preview(client, churn, merge)
    assert good.status_code == 200
    assert "&quot;Paris&quot;: [\n  &quot;paris&quot;\n ]" in good.text

    bad = _preview(client, churn, {**merge, "groups": '{"Paris": ["paris"'})
    assert bad.status_code == 400
    (item,) = _step_items(bad.text)
    param = re.search(r'<div class="rs-param w-json has-error".*?</div>', item, re.S)
    assert "groups" in param.group(0) and "valid dictionary" in param.group(0)
    assert "{&quot;Paris&quot;: [&quot;paris&quot;</textarea>" in param.group(0)


def test_it_refuses_a_recipe_that_is_not_json(client_for, owner, churn):
    response = client_for(owner).post(
        _url(churn),
        {"action": "preview", "version": "1", "recipe": "{nope"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.text


def test_it_renders_the_whole_page_for_a_preview_without_htmx(client_for, owner, churn):
    response = client_for(owner).post(
        _url(churn), {"action": "preview", "version": "1", "recipe": _recipe(IMPUTE)}
    )
    assert response.status_code == 200
    assert "Step 3: Cleaning &amp; preparation" in response.text
    assert 'id="preview-result"' in response.text


# ------------------------------------------------------------------ apply


def test_it_applies_the_recipe_and_shows_the_new_version(
    client_for, owner, churn, profile_jobs
):
    client = client_for(owner)
    with profile_jobs():
        response = _apply(client, churn, IMPUTE, DROP_CITY)
    assert response.status_code == 302
    assert response["Location"] == f"{_url(churn)}?prepared=2#result"
    prepared = Dataset.objects.get(version=2)
    assert prepared.parent.version == 1
    assert prepared.status == "ready"
    assert prepared.created_by == owner
    job = Job.objects.get(kind="prepare")
    assert (job.status, job.subject_id) == ("succeeded", prepared.pk)
    assert AuditEvent.objects.filter(verb="dataset.prepared").count() == 1

    html = client.get(f"{_url(churn)}?prepared=2").text
    assert "Preparing version 2 from version 1" in html
    result = re.search(r'<section class="card" id="result">.*?</section>', html, re.S)
    result = result.group(0)
    assert 'Version 2 <span class="muted">prepared from version 1</span>' in result
    counts = re.search(
        r'<table class="table compact split-counts">.*?</table>', result, re.S
    )
    assert re.findall(r'<td class="num">([\d,]+)</td>', counts.group(0)) == [
        "140",
        "30",
        "30",
    ]
    assert "Class balance of churn per split" in result
    assert 'class="chart"' in result
    assert "Filled 20 missing" in result  # the per-step report
    versions = re.search(
        r'<section class="card" id="prepared">.*?</section>', html, re.S
    )
    row = re.search(r"<tbody>.*?</tbody>", versions.group(0), re.S).group(0)
    assert "v2" in row and "v1" in row and owner.username in row
    assert "140 / 30 / 30" in row
    # The stepper: step 3 is done, step 4 is next.
    assert re.search(r'class="st st-done[^"]*">\s*<a href="[^"]*/prepare/"', html)
    assert re.search(r'class="st st-current">\s*<a href="[^"]*/features/"', html)


def test_it_starts_the_next_edit_from_the_recipe_last_applied(
    client_for, owner, churn, profile_jobs
):
    client = client_for(owner)
    split = {**SPLIT, "split-seed": "7", "split-train": "0.6", "split-test": "0.25"}
    with profile_jobs():
        _apply(client, churn, {**IMPUTE, "enabled": False}, DROP_CITY, split=split)

    html = client.get(_url(churn)).text
    impute, drop = _step_items(html)
    assert 'class="recipe-step off"' in impute
    assert 'data-op="drop_columns"' in drop
    assert "The recipe that made version 2 from version 1" in html
    assert 'name="split-seed" value="7"' in html
    assert 'name="split-train" value="0.6"' in html
    assert "fitted" not in re.search(r'name="recipe" value="([^"]*)"', html).group(1)

    suggested = client.get(f"{_url(churn)}?version=1&suggested=1").text
    assert "Suggested from the profile of version 1" in suggested
    assert "income: 10% missing" in suggested


def test_it_shows_the_job_progress_while_preparing(client_for, owner, churn):
    client = client_for(owner)
    assert _apply(client, churn, IMPUTE).status_code == 302
    job = Job.objects.get(kind="prepare")
    html = client.get(f"{_url(churn)}?prepared=2").text
    assert f'id="job-{job.id}"' in html
    assert "<progress" in html
    assert f"/jobs/{job.id}/status/?poll=1" in html
    assert "Cleaning, splitting and profiling" in html
    assert "Preparing" in html
    # Step 3 is not done until the version is ready.
    assert re.search(r'class="st st-current[^"]*">\s*<a href="[^"]*/prepare/"', html)


def test_it_shows_a_bad_split_at_its_field_and_writes_nothing(client_for, owner, churn):
    response = _apply(
        client_for(owner), churn, IMPUTE, split={**SPLIT, "split-train": "0.9"}
    )
    assert response.status_code == 400
    field = re.search(
        r'<div class="field has-error">\s*<label for="id_split-train">.*?</div>',
        response.text,
        re.S,
    )
    assert "must sum to 1" in field.group(0)
    # The recipe is kept as sent.
    assert len(_step_items(response.text)) == 1
    _nothing_written()


def test_it_shows_a_bad_time_column_at_its_field(client_for, owner, churn):
    split = {**SPLIT, "split-stratify": "", "split-time_column": "city"}
    response = _apply(client_for(owner), churn, IMPUTE, split=split)
    assert response.status_code == 400
    field = re.search(
        r'<div class="field has-error">\s*<label for="id_split-time_column">.*?</div>',
        response.text,
        re.S,
    )
    assert "not dates" in field.group(0)
    _nothing_written()


def test_it_shows_a_bad_recipe_at_its_step_on_apply(client_for, owner, churn):
    response = _apply(
        client_for(owner), churn, {**IMPUTE, "strategy": "mean", "column": "city"}
    )
    assert response.status_code == 400
    (item,) = _step_items(response.text)
    assert "mean needs a numeric column" in item
    _nothing_written()


def test_it_says_when_the_recipe_drops_the_target(client_for, owner, churn):
    drop = {"op": "drop_columns", "columns": ["churn"]}
    response = _apply(client_for(owner), churn, drop)
    assert response.status_code == 400
    errors = re.search(
        r'<div class="form-errors" role="alert">.*?</div>', response.text, re.S
    )
    assert "drops the target column" in errors.group(0)
    _nothing_written()


def test_it_says_when_the_queue_is_down(client_for, owner, churn, queue_down):
    response = _apply(client_for(owner), churn, IMPUTE)
    assert response.status_code == 503
    assert "form-errors" in response.text
    _nothing_written()


# ----------------------------------------------------------------- editor


def test_the_editor_knows_every_parameter_of_every_step():
    assert set(PARAMS) == set(OPS)
    for op, params in PARAMS.items():
        fields = set(MODELS[op].model_fields) - COMMON_FIELDS
        assert {name for name, _widget, _label in params} == fields, op


def test_it_offers_every_op_in_the_add_step_control(client_for, owner, churn):
    html = client_for(owner).get(_url(churn)).text
    for op, label in OPS.items():
        assert f'<option value="{op}">{label}</option>' in html
        assert f'<template id="new-step-{op}">' in html
