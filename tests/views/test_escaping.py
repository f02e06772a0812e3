"""R19: HTML and JS typed by users are shown as text, and no inline script runs."""

from __future__ import annotations

import re

import pytest

from projects.services.datasets import dataset_upload
from projects.services.projects import project_create
from tests.views.support import csp_directives

pytestmark = pytest.mark.django_db

EVIL = "<script>alert(1)</script>"
EVIL_ATTR = '"><img src=x onerror=alert(2)>'


@pytest.fixture
def evil_project(owner):
    return project_create(
        user=owner,
        name=EVIL + EVIL_ATTR,
        task_type="classification",
        primary_metric="f1",
        business_goal=EVIL,
    )


@pytest.fixture
def evil_dataset(evil_project, owner, tmp_path, profile_jobs):
    path = tmp_path / "evil.csv"
    path.write_text(
        f'id,"{EVIL_ATTR.replace(chr(34), chr(34) * 2)}",{EVIL}\n'
        + "".join(f"{i},{i % 3},</script><b>{i % 2}</b>\n" for i in range(40))
    )
    with profile_jobs():
        dataset, _job = dataset_upload(
            project=evil_project,
            user=owner,
            path=path,
            filename=f"{EVIL}.csv",
        )
    dataset.refresh_from_db()
    assert dataset.status == "ready"
    assert EVIL in dataset.column_names
    return dataset


def _inline_scripts(html: str) -> list[str]:
    """Script elements that would run: no src and not a JSON data block."""
    found = []
    for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
        if "src=" in attrs or 'type="application/json"' in attrs:
            continue
        found.append(body)
    return found


def _assert_inert(html: str) -> None:
    assert EVIL not in html
    assert "<img src=x" not in html
    assert "<b>" not in html
    assert _inline_scripts(html) == []


def test_it_escapes_a_project_name_in_the_list(client_for, owner, evil_project):
    response = client_for(owner).get("/")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    _assert_inert(response.text)


def test_it_escapes_a_project_name_on_a_step_page(client_for, owner, evil_project):
    response = client_for(owner).get(f"/projects/{evil_project.slug}/steps/problem/")
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    _assert_inert(response.text)


def test_it_escapes_column_names_and_file_names_on_the_data_page(
    client_for, owner, evil_project, evil_dataset
):
    response = client_for(owner).get(f"/projects/{evil_project.slug}/steps/data/")
    assert response.status_code == 200
    assert f'<h3 title="{EVIL}">' not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    _assert_inert(response.text)


def test_it_keeps_chart_data_from_closing_its_script_element(
    client_for, owner, evil_project, evil_dataset
):
    response = client_for(owner).get(f"/projects/{evil_project.slug}/steps/data/")
    blocks = re.findall(
        r'<template class="figure-json" id="fig-\d+">(.*?)</template>',
        response.text,
        re.S,
    )
    assert blocks
    assert any("\\u003C/script\\u003E" in block for block in blocks)
    assert not any("<" in block for block in blocks)


def test_it_escapes_column_names_offered_as_sensitive_attributes(
    client_for, owner, evil_project, evil_dataset
):
    response = client_for(owner).get(f"/projects/{evil_project.slug}/steps/problem/")
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    _assert_inert(response.text)


@pytest.mark.parametrize(
    "url",
    ["/", "/projects/new/", "/accounts/profile/", "/accounts/login/", "/api/docs"],
)
def test_it_sends_a_csp_without_inline_scripts(client_for, owner, url):
    response = client_for(owner).get(url)
    assert response.status_code == 200
    directives = csp_directives(response["Content-Security-Policy"])
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src == ["'self'"]
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert _inline_scripts(response.text) == []


def test_it_sends_the_csp_on_a_step_page_with_charts(
    client_for, owner, evil_project, evil_dataset
):
    response = client_for(owner).get(f"/projects/{evil_project.slug}/steps/data/")
    directives = csp_directives(response["Content-Security-Policy"])
    assert "'unsafe-inline'" not in directives["script-src"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
