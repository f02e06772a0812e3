"""R20 (first part): every route has a declared GET status for every principal.

The test walks Django's URL resolver. A route added without a line in ROUTES fails
`test_it_declares_every_route`; a declared status that is wrong fails the
per-principal test with the list of every mismatch.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver

from projects.models import Experiment, Study
from projects.selectors import STEPS
from projects.services.datasets import dataset_upload
from projects.services.tokens import token_create
from tests.helpers import write_csv

pytestmark = pytest.mark.django_db

PRINCIPALS = ("anonymous", "viewer", "scientist", "approver", "owner", "outsider")
MEMBERS = ("viewer", "scientist", "approver", "owner")

# Not ours to declare: Django's admin (staff only, tested by Django) and static
# files (served by WhiteNoise as middleware, not through the resolver).
SKIPPED_PREFIXES = ("admin/", "static/", "media/")


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(PRINCIPALS, status)


def signed_in(anonymous: int, user: int) -> dict[str, int]:
    """Any logged-in user gets `user`, whatever their projects."""
    return {**dict.fromkeys(PRINCIPALS, user), "anonymous": anonymous}


def scoped(anonymous: int, member: int, **by_role: int) -> dict[str, int]:
    """Inside a project: strangers get 404, members `member` unless overridden."""
    return {
        "anonymous": anonymous,
        "outsider": 404,
        **dict.fromkeys(MEMBERS, member),
        **by_role,
    }


PAGE, API = 302, 401  # what anonymous gets: the login redirect, or 401 JSON

# route (as the resolver spells it) -> [(url to GET, expected status by principal)]
ROUTES: dict[str, list[tuple[str, dict[str, int]]]] = {
    "accounts/login/": [("/accounts/login/", everyone(200))],
    "accounts/logout/": [("/accounts/logout/", everyone(405))],
    "accounts/profile/": [("/accounts/profile/", signed_in(PAGE, 200))],
    "accounts/tokens/<int:token_id>/revoke/": [
        ("/accounts/tokens/{token_id}/revoke/", signed_in(PAGE, 405))
    ],
    "": [("/", signed_in(PAGE, 200))],
    "projects/new/": [("/projects/new/", signed_in(PAGE, 200))],
    "projects/<slug:slug>/": [("/projects/{slug}/", scoped(PAGE, 302))],
    "projects/<slug:slug>/steps/<slug:step_slug>/": [
        *[(f"/projects/{{slug}}/steps/{s.slug}/", scoped(PAGE, 200)) for s in STEPS],
        ("/projects/{slug}/steps/no-such-step/", scoped(PAGE, 404)),
    ],
    # Step 6: the table of experiments the page polls.
    "projects/<slug:slug>/steps/training/rows/": [
        ("/projects/{slug}/steps/training/rows/", scoped(PAGE, 200))
    ],
    # Step 7: the world's experiment is queued (never trained): its dashboard shows
    # that, its analysis fragment says it has not finished (409); comparing one
    # experiment asks for a second.
    "projects/<slug:slug>/experiments/compare/": [
        ("/projects/{slug}/experiments/compare/?ids={experiment_id}", scoped(PAGE, 200))
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/": [
        ("/projects/{slug}/experiments/{experiment_id}/", scoped(PAGE, 200))
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/analysis/": [
        ("/projects/{slug}/experiments/{experiment_id}/analysis/", scoped(PAGE, 409))
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/threshold/": [
        (
            "/projects/{slug}/experiments/{experiment_id}/threshold/",
            signed_in(PAGE, 405),
        )
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/evaluate-test/": [
        (
            "/projects/{slug}/experiments/{experiment_id}/evaluate-test/",
            signed_in(PAGE, 405),
        )
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/comments/": [
        (
            "/projects/{slug}/experiments/{experiment_id}/comments/",
            signed_in(PAGE, 405),
        )
    ],
    # Step 8: the world's study is queued (no worker runs): its page and the
    # live part it polls.
    "projects/<slug:slug>/studies/<int:study_id>/": [
        ("/projects/{slug}/studies/{study_id}/", scoped(PAGE, 200))
    ],
    "projects/<slug:slug>/studies/<int:study_id>/live/": [
        ("/projects/{slug}/studies/{study_id}/live/", scoped(PAGE, 200))
    ],
    "jobs/<uuid:job_id>/status/": [("/jobs/{job_id}/status/", scoped(PAGE, 200))],
    "jobs/<uuid:job_id>/cancel/": [("/jobs/{job_id}/cancel/", signed_in(PAGE, 405))],
    "jobs/<uuid:job_id>/retry/": [("/jobs/{job_id}/retry/", signed_in(PAGE, 405))],
    "api/": [("/api/", everyone(404))],
    "api/openapi.json": [("/api/openapi.json", everyone(200))],
    "api/docs": [("/api/docs", everyone(200))],
    "api/health": [("/api/health", everyone(200))],
    "api/projects": [("/api/projects", signed_in(API, 200))],
    "api/projects/<int:project_id>": [("/api/projects/{project_id}", scoped(API, 200))],
    "api/projects/<int:project_id>/datasets": [
        ("/api/projects/{project_id}/datasets", scoped(API, 200))
    ],
    "api/datasets/<int:dataset_id>": [("/api/datasets/{dataset_id}", scoped(API, 200))],
    # The world's data set is not profiled yet: members are told so (400).
    "api/datasets/<int:dataset_id>/suggested-recipe": [
        ("/api/datasets/{dataset_id}/suggested-recipe", scoped(API, 400))
    ],
    "api/datasets/<int:dataset_id>/suggested-features": [
        ("/api/datasets/{dataset_id}/suggested-features", scoped(API, 400))
    ],
    "api/projects/<int:project_id>/feature-spec": [
        ("/api/projects/{project_id}/feature-spec", scoped(API, 200))
    ],
    "api/jobs/<uuidstr:job_id>": [("/api/jobs/{job_id}", scoped(API, 200))],
    # POST-only: a GET is refused before anyone is asked who they are.
    "api/jobs/<uuidstr:job_id>/cancel": [("/api/jobs/{job_id}/cancel", everyone(405))],
    "api/jobs/<uuidstr:job_id>/retry": [("/api/jobs/{job_id}/retry", everyone(405))],
    "api/datasets/<int:dataset_id>/preview": [
        ("/api/datasets/{dataset_id}/preview", everyone(405))
    ],
    "api/datasets/<int:dataset_id>/prepare": [
        ("/api/datasets/{dataset_id}/prepare", everyone(405))
    ],
    "api/datasets/<int:dataset_id>/features/preview": [
        ("/api/datasets/{dataset_id}/features/preview", everyone(405))
    ],
    "api/projects/<int:project_id>/catalog": [
        ("/api/projects/{project_id}/catalog", scoped(API, 200))
    ],
    "api/projects/<int:project_id>/experiments": [
        ("/api/projects/{project_id}/experiments", scoped(API, 200))
    ],
    "api/experiments/<int:experiment_id>": [
        ("/api/experiments/{experiment_id}", scoped(API, 200))
    ],
    "api/experiments/<int:experiment_id>/evaluation": [
        ("/api/experiments/{experiment_id}/evaluation", scoped(API, 200))
    ],
    "api/experiments/<int:experiment_id>/comments": [
        ("/api/experiments/{experiment_id}/comments", scoped(API, 200))
    ],
    "api/experiments/<int:experiment_id>/cancel": [
        ("/api/experiments/{experiment_id}/cancel", everyone(405))
    ],
    "api/experiments/<int:experiment_id>/evaluate-test": [
        ("/api/experiments/{experiment_id}/evaluate-test", everyone(405))
    ],
    "api/experiments/<int:experiment_id>/threshold": [
        ("/api/experiments/{experiment_id}/threshold", everyone(405))
    ],
    # The search space needs ?algorithm=: without it, 422 for members.
    "api/projects/<int:project_id>/search-space": [
        ("/api/projects/{project_id}/search-space?algorithm=svm", scoped(API, 200))
    ],
    "api/projects/<int:project_id>/studies": [
        ("/api/projects/{project_id}/studies", scoped(API, 200))
    ],
    "api/studies/<int:study_id>": [("/api/studies/{study_id}", scoped(API, 200))],
    "api/studies/<int:study_id>/cancel": [
        ("/api/studies/{study_id}/cancel", everyone(405))
    ],
}


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith(SKIPPED_PREFIXES):
            continue
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield route


def test_it_declares_every_route():
    walked = set(_walk(get_resolver().url_patterns))
    assert walked - set(ROUTES) == set(), "routes without a declared status"
    assert set(ROUTES) - walked == set(), "declared routes that no longer exist"


def test_it_declares_every_principal_for_every_url():
    for checks in ROUTES.values():
        for url, expected in checks:
            assert set(expected) == set(PRINCIPALS), url


@pytest.fixture
def world(project, owner, member, outsider, tmp_path):
    users = {role: member(role) for role in ("viewer", "scientist", "approver")}
    users.update(owner=owner, outsider=outsider)
    dataset, job = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "data.csv", rows=30),
        filename="data.csv",
    )
    token, _raw = token_create(user=owner, name="routes")
    experiment = Experiment.objects.create(
        project=project, dataset=dataset, algorithm="baseline"
    )
    study = Study.objects.create(
        project=project,
        dataset=dataset,
        algorithm="svm",
        strategy="random",
        metric="f1_macro",
        optuna_name="routes",
    )
    ids = {
        "study_id": study.pk,
        "experiment_id": experiment.pk,
        "slug": project.slug,
        "project_id": project.pk,
        "dataset_id": dataset.pk,
        "job_id": job.id,
        "token_id": token.pk,
    }
    return users, ids


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_it_answers_get_as_declared_for(world, principal):
    users, ids = world
    client = Client()
    if principal != "anonymous":
        client.force_login(users[principal])
    wrong = []
    for checks in ROUTES.values():
        for template, expected in checks:
            url = template.format(**ids)
            status = client.get(url).status_code
            if status != expected[principal]:
                wrong.append(f"GET {url}: {status}, declared {expected[principal]}")
    assert wrong == []
