"""Step 4 page: the per-column spec table, the preview partial and the saved default."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from projects.ml.features import SPEC_KINDS
from projects.models import AuditEvent, Project
from projects.services.preparation import dataset_prepare
from projects.views.features import MODELS, OPTIONS, spec_rows

pytestmark = pytest.mark.django_db

URL = "/projects/{slug}/steps/features/"
SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 1}
SPEC = {
    "columns": {
        "age": {"kind": "numeric", "scaler": "minmax"},
        "income": {"kind": "numeric", "add_indicator": True},
        "city": {"kind": "categorical", "encoding": "onehot", "min_frequency": 1},
        "sex": {"kind": "drop"},
    },
    "interactions": [["age", "income"]],
}


@pytest.fixture
def prepared(project, owner, ready_dataset, profile_jobs):
    """Version 2: version 1 prepared as it is, split 60/20/20."""
    project.target_column = "churn"
    project.save()
    with profile_jobs():
        dataset, _job = dataset_prepare(
            dataset=ready_dataset,
            user=owner,
            recipe={"steps": []},
            split=SPLIT,
        )
    dataset.refresh_from_db()
    assert dataset.status == "ready", dataset.error
    return dataset


def _url(project) -> str:
    return URL.format(slug=project.slug)


def _preview(client, project, spec, version="2"):
    return client.post(
        _url(project),
        {"action": "preview", "version": version, "spec": json.dumps(spec)},
        HTTP_HX_REQUEST="true",
    )


def _save(client, project, spec, version="2"):
    return client.post(
        _url(project),
        {"action": "save", "version": version, "spec": json.dumps(spec)},
    )


def _row(html: str, column: str) -> str:
    """The table row of a column, entities decoded (messages quote names)."""
    match = re.search(
        rf'<tr class="fx-row[^"]*" data-column="{re.escape(column)}".*?</tr>',
        html,
        flags=re.S,
    )
    assert match, f"no row for {column!r}"
    return unescape(match.group(0))


def _sent_spec(html: str) -> dict:
    match = re.search(r'<input type="hidden" name="spec" value="([^"]*)"', html)
    return json.loads(unescape(match.group(1)))


def _marked_changed(row: str) -> bool:
    """Whether the row shows its "changed from the suggestion" note."""
    tag = re.search(r'<p class="fx-changed"[^>]*>', row).group(0)
    return not tag.endswith(" hidden>")


# ----------------------------------------------------------------- access


def test_it_shows_the_suggested_spec_of_the_prepared_version(
    client_for, owner, prepared
):
    response = client_for(owner).get(_url(prepared.project))
    assert response.status_code == 200
    html = response.text
    assert "Step 4: Feature engineering" in html
    assert '<option value="2" selected>v2 (prepared, split)' in html
    assert "Save as project default" in html
    assert "Preview the model inputs" in html
    income = _row(html, "income")
    assert '<option value="numeric" selected>' in income
    assert "Numeric: median imputation" in income  # the reason
    assert "10% missing" in income
    city = _row(html, "city")
    assert '<option value="categorical" selected>' in city
    assert "one-hot" in city
    # A category cannot be scaled as a number: the choice is not offered.
    assert '<option value="numeric"' not in city
    # Only the chosen treatment's options are in the row; the others are
    # templates, once per page.
    assert re.findall(r'data-kind-options="(\w+)"', city) == ["categorical"]
    assert html.count('<template id="fx-options-numeric">') == 1
    target = _row(html, "churn")
    assert "target (not an input)" in target
    assert "<select" not in target
    assert "churn" not in _sent_spec(html)["columns"]
    assert "__split__" not in html
    assert 'src="/static/js/features.js"' in html
    assert "No default yet" in html


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_shows_members_without_the_role_the_spec_read_only(
    client_for, member, prepared, role
):
    response = client_for(member(role)).get(_url(prepared.project))
    assert response.status_code == 200
    html = response.text
    assert "Suggested feature spec" in html
    assert "<select data-spec-kind" not in html
    assert "Save as project default" not in html
    assert "Preview the model inputs" not in html
    assert "<strong>Number</strong>" in _row(html, "age")


def test_it_lets_a_scientist_edit_and_save(client_for, member, prepared):
    client = client_for(member("scientist"))
    assert "Save as project default" in client.get(_url(prepared.project)).text
    assert _save(client, prepared.project, SPEC).status_code == 302


@pytest.mark.parametrize("role", ["viewer", "approver"])
def test_it_refuses_changes_from_members_without_the_role(
    client_for, member, prepared, role
):
    client = client_for(member(role))
    assert _preview(client, prepared.project, SPEC).status_code == 403
    assert _save(client, prepared.project, SPEC).status_code == 403
    prepared.project.refresh_from_db()
    assert prepared.project.feature_spec is None


def test_it_returns_404_to_an_outsider(client_for, outsider, prepared):
    client = client_for(outsider)
    assert client.get(_url(prepared.project)).status_code == 404
    assert _preview(client, prepared.project, SPEC).status_code == 404
    assert _save(client, prepared.project, SPEC).status_code == 404


def test_it_says_it_waits_for_a_prepared_version(client_for, owner, project):
    response = client_for(owner).get(_url(project))
    assert response.status_code == 200
    assert "This step is waiting for step 3, Cleaning &amp; preparation." in (
        response.text
    )
    assert f'href="/projects/{project.slug}/steps/prepare/"' in response.text
    assert _save(client_for(owner), project, SPEC, version="1").status_code == 409


# ----------------------------------------------------------------- preview


def test_it_previews_the_model_inputs_fitted_on_the_training_rows(
    client_for, owner, prepared
):
    response = _preview(client_for(owner), prepared.project, SPEC)
    assert response.status_code == 200
    html = response.text
    assert html.startswith('<div id="features-editor"')  # the partial only
    preview = re.search(r'<div class="preview fx-preview".*', html, re.S).group(0)
    # age, income + its indicator, 3 cities, the interaction.
    assert '<div class="v" data-n-features>7</div>' in preview
    assert "120 × 7" in preview
    assert "Fitted on 120 training rows" in preview
    names = re.search(r'<dl class="fx-names">.*?</dl>', preview, re.S).group(0)
    assert re.search(r"<dt>city <span[^>]*>3</span></dt>", names)
    for name in ("city_Lyon", "city_Nice", "city_Paris", "missingindicator_income"):
        assert f"<code>{name}</code>" in names
    assert "<code>age*income</code>" in names
    assert 'class="chart"' in preview
    sample = re.search(
        r'<table class="table compact sample fx-sample">.*?</table>', preview, re.S
    )
    assert len(re.findall(r"<tr>", sample.group(0))) == 6  # header + 5 rows
    # The table keeps what was sent.
    assert '<option value="minmax" selected>' in _row(html, "age")
    assert '<option value="drop" selected>' in _row(html, "sex")
    assert prepared.project.feature_spec is None


@pytest.mark.parametrize(
    ("column", "change", "option", "message"),
    [
        (
            "age",
            {"kind": "numeric", "bins": 4, "scaler": "standard"},
            "scaler",
            "Column 'age' is binned (bins=4), which replaces scaling",
        ),
        (
            "city",
            {"kind": "numeric"},
            "kind",
            "Column 'city' holds categorical values, which cannot be treated as "
            "numeric",
        ),
        (
            "income",
            {"kind": "numeric", "scaler": "banana"},
            "scaler",
            "Input should be 'standard', 'minmax', 'robust' or 'none'",
        ),
    ],
)
def test_it_shows_a_bad_option_on_the_row_of_its_column(
    client_for, owner, prepared, column, change, option, message
):
    spec = {**SPEC, "columns": {**SPEC["columns"], column: change}}
    response = _preview(client_for(owner), prepared.project, spec)
    assert response.status_code == 400
    html = response.text
    row = _row(html, column)
    assert 'class="fx-row' in row and "has-error" in row.split(">", 1)[0]
    assert message in row
    if option != "kind":
        field = re.search(
            rf'<div class="fx-opt w-\w+ has-error" data-field="{option}">.*?</div>',
            row,
            re.S,
        )
        assert field and message in field.group(0)
    # No other row carries an error, and no preview is shown.
    for other in ("age", "income", "city", "sex"):
        if other != column:
            assert "has-error" not in _row(html, other).split(">", 1)[0]
    assert "fx-preview" not in html


def test_it_shows_a_bad_interaction_on_its_line(client_for, owner, prepared):
    spec = {**SPEC, "interactions": [["age", "city"]]}
    response = _preview(client_for(owner), prepared.project, spec)
    assert response.status_code == 400
    pair = re.search(r'<li class="fx-pair has-error".*?</li>', response.text, re.S)
    assert "Interactions multiply numeric features, but 'city' is a categorical" in (
        unescape(pair.group(0))
    )


def test_it_refuses_a_spec_that_is_not_json(client_for, owner, prepared):
    response = client_for(owner).post(
        _url(prepared.project),
        {"action": "preview", "version": "2", "spec": "{nope"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert "The feature spec could not be read (not valid JSON)." in response.text


def test_it_refuses_a_spec_that_drops_everything(client_for, owner, prepared):
    spec = {"columns": {c: {"kind": "drop"} for c in ("age", "income", "city", "sex")}}
    response = _preview(client_for(owner), prepared.project, spec)
    assert response.status_code == 400
    assert "every column is dropped; keep at least one feature" in unescape(
        response.text
    )


# ----------------------------------------------------------------- save


def test_it_saves_the_spec_as_the_project_default(client_for, owner, prepared):
    client = client_for(owner)
    response = _save(client, prepared.project, SPEC)
    assert response.status_code == 302
    assert response["Location"].endswith("/steps/features/?version=2#spec")
    project = Project.objects.get(pk=prepared.project.pk)
    assert project.feature_spec["columns"]["age"]["scaler"] == "minmax"
    assert project.feature_spec["interactions"] == [["age", "income"]]
    event = AuditEvent.objects.get(verb="project.feature_spec_set")
    assert event.actor == owner
    html = client.get(response["Location"]).text
    assert "Saved as the project default: 3 input columns from version 2." in html
    assert "Project default saved" in html
    assert "checked against version 2" in html
    assert 'data-start="saved"' in html


def test_it_marks_step_4_done_once_a_default_is_saved(client_for, owner, prepared):
    client = client_for(owner)
    html = client.get(_url(prepared.project)).text
    assert re.search(
        r'class="st st-current st-active">\s*<a href="[^"]*/features/"', html
    )
    assert "waits for step 4, Feature engineering" in html
    assert _save(client, prepared.project, SPEC).status_code == 302
    html = client.get(_url(prepared.project)).text
    assert re.search(r'class="st st-done st-active">\s*<a href="[^"]*/features/"', html)
    assert re.search(r'class="st st-current">\s*<a href="[^"]*/models/"', html)


def test_it_starts_from_the_saved_default(client_for, owner, member, prepared):
    assert _save(client_for(owner), prepared.project, SPEC).status_code == 302
    html = client_for(owner).get(_url(prepared.project)).text
    assert '<option value="minmax" selected>' in _row(html, "age")
    assert '<option value="drop" selected>' in _row(html, "sex")
    assert "The table starts from it." in html
    # Rows say where they differ from the suggestion.
    assert _marked_changed(_row(html, "age"))
    assert "Options differ from the suggestion." in _row(html, "age")
    assert "Suggested: Category." in _row(html, "sex")
    assert _sent_spec(html)["interactions"] == [["age", "income"]]
    assert "start=suggestion" in html
    # The suggestion is one click away; the saved default stays.
    html = client_for(owner).get(_url(prepared.project) + "?start=suggestion").text
    assert '<option value="standard" selected>' in _row(html, "age")
    assert not _marked_changed(_row(html, "age"))
    assert "Back to the saved default" in html
    # A viewer reads the saved one.
    html = client_for(member("viewer")).get(_url(prepared.project)).text
    assert "Saved feature spec" in html
    assert "min–max (0 to 1)" in _row(html, "age")
    assert "age × income" in html


def test_it_saves_nothing_when_the_spec_is_refused(client_for, owner, prepared):
    spec = {**SPEC, "columns": {**SPEC["columns"], "city": {"kind": "numeric"}}}
    response = _save(client_for(owner), prepared.project, spec)
    assert response.status_code == 400
    assert "has-error" in _row(response.text, "city").split(">", 1)[0]
    assert "Step 4: Feature engineering" in response.text  # the whole page
    prepared.project.refresh_from_db()
    assert prepared.project.feature_spec is None
    assert not AuditEvent.objects.filter(verb="project.feature_spec_set").exists()


def test_it_keeps_the_previous_default_when_a_new_one_is_refused(
    client_for, owner, prepared
):
    client = client_for(owner)
    assert _save(client, prepared.project, SPEC).status_code == 302
    bad = {"columns": {"age": {"kind": "numeric", "bins": 1}}}
    assert _save(client, prepared.project, bad).status_code == 400
    prepared.project.refresh_from_db()
    assert prepared.project.feature_spec["columns"]["age"]["scaler"] == "minmax"


def test_it_shows_columns_of_the_spec_that_the_version_lacks(
    client_for, owner, prepared
):
    spec = {**SPEC, "columns": {**SPEC["columns"], "gone": {"kind": "numeric"}}}
    response = _preview(client_for(owner), prepared.project, spec)
    assert response.status_code == 400
    row = _row(response.text, "gone")
    assert "not in version 2" in row
    assert "The dataset has no column 'gone'." in row


# ----------------------------------------------------------------- the table


def test_it_names_every_option_of_every_kind():
    for kind in SPEC_KINDS:
        fields = set(MODELS[kind].model_fields) - {"kind"}
        assert {name for name, _, _ in OPTIONS[kind]} == fields, kind


def test_it_places_errors_of_columns_with_dots_in_their_names(prepared):
    prepared.schema = [*prepared.schema, {"name": "a.b", "dtype": "float64"}]
    rows, _, general = spec_rows(
        {"columns": {"a.b": {"kind": "numeric"}}},
        prepared,
        target="churn",
        task_type="classification",
        errors={"spec.columns.a.b.scaler": "bad scaler"},
    )
    row = next(r for r in rows if r.name == "a.b")
    assert next(o for o in row.options if o.name == "scaler").error == "bad scaler"
    assert not general


def test_it_previews_an_unprepared_version_on_all_its_rows(client_for, owner, prepared):
    client = client_for(owner)
    html = client.get(_url(prepared.project) + "?version=1").text
    assert '<option value="1" selected>v1 (as uploaded, no split)' in html
    assert "Version 1 is not prepared: it has no train / validation / test split" in (
        html
    )
    response = _preview(client, prepared.project, SPEC, version="1")
    assert response.status_code == 200
    assert "Fitted on all 200 rows: this version has no split." in response.text


def test_it_warns_that_dates_stored_as_text_need_parsing(
    client_for, owner, project, tmp_path, profile_jobs
):
    from projects.services.datasets import dataset_upload

    rows = ["signup,amount,churn"] + [
        # Not ISO 8601: the reader keeps it as text, the profile reads dates.
        f"2021/0{1 + i % 9}/1{i % 9},{i * 3.5},{'yes' if i % 3 else 'no'}"
        for i in range(60)
    ]
    path = tmp_path / "dated.csv"
    path.write_text("\n".join(rows) + "\n")
    with profile_jobs():
        dataset, _ = dataset_upload(
            project=project, user=owner, path=path, filename="dated.csv"
        )
    project.target_column = "churn"
    project.save()
    dataset.refresh_from_db()
    with profile_jobs():
        dataset_prepare(dataset=dataset, user=owner, recipe={"steps": []}, split=SPLIT)
    html = client_for(owner).get(_url(project)).text
    row = _row(html, "signup")
    # The suggestion treats the text as categories, which works as it is...
    assert '<option value="categorical" selected>' in row
    assert "stored as categorical" in row
    spec = _sent_spec(html)
    assert _preview(client_for(owner), project, spec).status_code == 200
    # ...and asking for date parts is refused at that row.
    spec["columns"]["signup"] = {"kind": "datetime"}
    response = _preview(client_for(owner), project, spec)
    assert response.status_code == 400
    assert "cannot be treated as datetime" in _row(response.text, "signup")
    assert "cannot be treated as datetime" in _row(response.text, "signup")
