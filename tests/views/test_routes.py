"""R20: every route answers every method as declared, for every principal.

The test walks Django's URL resolver (and the OpenAPI document for the /api/
operations). A route added without a line in ROUTES fails
`test_it_declares_every_route`; a declared status that is wrong fails the
per-principal test with the list of every mismatch. Each route declares what
each method (GET, POST, PUT, PATCH, DELETE) answers; a method it does not take
answers its `refused` status (405, or the login redirect that comes first).

Principals: anonymous, a viewer, a scientist, an approver, the owner, an outsider
(a member of another project), and a token (the scientist's API token, sent as
`Authorization: Bearer`, no session: it acts as the scientist on /api/ and as
nobody on pages, which take sessions only).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver

from projects.models import Experiment, Job, Study
from projects.selectors import STEPS
from projects.services.datasets import dataset_upload
from projects.services.deployments import deployment_request
from projects.services.keys import deployment_key_create
from projects.services.tokens import token_create
from tests.deploy_support import make_version
from tests.factories import MembershipFactory, ProjectFactory
from tests.helpers import write_csv
from tests.serving_support import make_live

pytestmark = pytest.mark.django_db

PRINCIPALS = (
    "anonymous",
    "viewer",
    "scientist",
    "approver",
    "owner",
    "outsider",
    "token",
)
MEMBERS = ("viewer", "scientist", "approver", "owner")
SESSIONS = ("anonymous", *MEMBERS, "outsider")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Not ours to declare: Django's admin (staff only, tested by Django) and static
# files (served by WhiteNoise as middleware, not through the resolver).
SKIPPED_PREFIXES = ("admin/", "static/", "media/")


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(SESSIONS, status)


def signed_in(anonymous: int, user: int, **by_role: int) -> dict[str, int]:
    """Any logged-in user gets `user`, whatever their projects."""
    return {**dict.fromkeys(SESSIONS, user), "anonymous": anonymous, **by_role}


def scoped(anonymous: int, member: int, **by_role: int) -> dict[str, int]:
    """Inside a project: strangers get 404, members `member` unless overridden."""
    return {
        "anonymous": anonymous,
        "outsider": 404,
        **dict.fromkeys(MEMBERS, member),
        **by_role,
    }


def _with_token(url: str, method: str, statuses: dict[str, int]) -> dict[str, int]:
    """The token acts as the scientist on /api/; pages take sessions only, so on
    a page it is anonymous for a GET and refused by the CSRF check (403) for any
    other method, unless declared otherwise."""
    if "token" in statuses:
        return statuses
    if url.startswith("/api/"):
        return {**statuses, "token": statuses["scientist"]}
    token = statuses["anonymous"] if method == "GET" else 403
    return {**statuses, "token": token}


def route(url: str, refused: dict[str, int], **accepted: dict[str, int]):
    """One URL: what each method it takes answers; every other method `refused`."""
    statuses = {
        method: _with_token(url, method, accepted.get(method, refused))
        for method in METHODS
    }
    return (url, statuses, tuple(accepted))


PAGE, API = 302, 401  # what anonymous gets: the login redirect, or 401 JSON
PAGE_405 = signed_in(PAGE, 405)  # a page's wrong method, after the login check
API_405 = everyone(405)  # an API path's wrong method, before anyone is asked
# What a scientist (and the owner) may do and a viewer or approver may not.
WRITER = {"viewer": 403, "approver": 403}
# Step pages take a POST (the step's form); some steps have none.
STEP_POST = {
    "problem": scoped(PAGE, 200, **WRITER),
    "data": scoped(PAGE, 200, **WRITER),
    # The world's data is not profiled yet: the step says so (409).
    "prepare": scoped(PAGE, 409, **WRITER),
    "features": scoped(PAGE, 409, **WRITER),
    "models": scoped(PAGE, 409, **WRITER),
    "training": scoped(PAGE, 400, **WRITER),
    "evaluation": scoped(PAGE, 405),
    "tuning": scoped(PAGE, 409, **WRITER),
    # An empty request form is refused inline.
    "deployment": scoped(PAGE, 400, **WRITER),
    "monitoring": scoped(PAGE, 405),
    "maintenance": scoped(PAGE, 405),
}
NOT_FOUND = everyone(404)  # any /api/ URL no operation matches: JSON 404
READ_ONLY = {"GET": everyone(200)}  # the OpenAPI document and its docs page

# route (as the resolver spells it) -> [route(url, refused, METHOD=statuses)].
# The request bodies are empty (`{}` to the API): a JSON body the operation's
# schema requires is refused (422) before anyone's access is checked.
ROUTES = {
    "accounts/login/": [
        # An empty login form is shown again with its errors (200).
        route("/accounts/login/", everyone(405), GET=everyone(200), POST=everyone(200))
    ],
    # Checked last (it ends the session).
    "accounts/logout/": [route("/accounts/logout/", everyone(405), POST=everyone(302))],
    "accounts/profile/": [
        route(
            "/accounts/profile/",
            PAGE_405,
            GET=signed_in(PAGE, 200),
            POST=signed_in(PAGE, 400),
        )
    ],
    # The owner's token: only its owner can revoke it.
    "accounts/tokens/<int:token_id>/revoke/": [
        route(
            "/accounts/tokens/{token_id}/revoke/",
            PAGE_405,
            POST=signed_in(PAGE, 404, owner=302),
        )
    ],
    "": [route("/", PAGE_405, GET=signed_in(PAGE, 200))],
    "projects/new/": [
        route(
            "/projects/new/",
            PAGE_405,
            GET=signed_in(PAGE, 200),
            POST=signed_in(PAGE, 400),
        )
    ],
    "projects/<slug:slug>/": [
        route("/projects/{slug}/", PAGE_405, GET=scoped(PAGE, 302))
    ],
    "projects/<slug:slug>/steps/<slug:step_slug>/": [
        *[
            route(
                f"/projects/{{slug}}/steps/{s.slug}/",
                PAGE_405,
                GET=scoped(PAGE, 200),
                POST=STEP_POST[s.slug],
            )
            for s in STEPS
        ],
        route(
            "/projects/{slug}/steps/no-such-step/",
            PAGE_405,
            GET=scoped(PAGE, 404),
            POST=scoped(PAGE, 404),
        ),
    ],
    # Step 6: the table of experiments the page polls.
    "projects/<slug:slug>/steps/training/rows/": [
        route("/projects/{slug}/steps/training/rows/", PAGE_405, GET=scoped(PAGE, 200))
    ],
    # Step 7: the world's experiment is queued (never trained): its dashboard shows
    # that, its analysis fragment says it has not finished (409), and the actions
    # on it are refused (400); comparing one experiment asks for a second.
    "projects/<slug:slug>/experiments/compare/": [
        route(
            "/projects/{slug}/experiments/compare/?ids={experiment_id}",
            PAGE_405,
            GET=scoped(PAGE, 200),
        )
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/": [
        route(
            "/projects/{slug}/experiments/{experiment_id}/",
            PAGE_405,
            GET=scoped(PAGE, 200),
        )
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/analysis/": [
        route(
            "/projects/{slug}/experiments/{experiment_id}/analysis/",
            PAGE_405,
            GET=scoped(PAGE, 409),
        )
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/threshold/": [
        route(
            "/projects/{slug}/experiments/{experiment_id}/threshold/",
            PAGE_405,
            POST=scoped(PAGE, 400, **WRITER),
        )
    ],
    "projects/<slug:slug>/experiments/<int:experiment_id>/evaluate-test/": [
        route(
            "/projects/{slug}/experiments/{experiment_id}/evaluate-test/",
            PAGE_405,
            POST=scoped(PAGE, 400, **WRITER),
        )
    ],
    # Any member may comment; an empty comment is refused (400).
    "projects/<slug:slug>/experiments/<int:experiment_id>/comments/": [
        route(
            "/projects/{slug}/experiments/{experiment_id}/comments/",
            PAGE_405,
            POST=scoped(PAGE, 400),
        )
    ],
    # Step 9: the world's experiment is queued: registering it is refused (400);
    # the world's version (a bare row) has a page, and an empty card form is
    # refused (the intended use is required).
    "projects/<slug:slug>/experiments/<int:experiment_id>/register/": [
        route(
            "/projects/{slug}/experiments/{experiment_id}/register/",
            PAGE_405,
            POST=scoped(PAGE, 400, **WRITER),
        )
    ],
    "projects/<slug:slug>/models/<int:version>/": [
        route(
            "/projects/{slug}/models/{model_version}/", PAGE_405, GET=scoped(PAGE, 200)
        )
    ],
    "projects/<slug:slug>/models/<int:version>/card/": [
        route(
            "/projects/{slug}/models/{model_version}/card/",
            PAGE_405,
            POST=scoped(PAGE, 400, **WRITER),
        )
    ],
    # Step 8: the world's study is queued (no worker runs): its page, the live
    # part it polls, and its form (an empty one is refused: 400). The method is
    # checked before the login here.
    "projects/<slug:slug>/studies/<int:study_id>/": [
        route(
            "/projects/{slug}/studies/{study_id}/",
            everyone(405),
            GET=scoped(PAGE, 200),
            POST=scoped(PAGE, 400, **WRITER),
        )
    ],
    "projects/<slug:slug>/studies/<int:study_id>/live/": [
        route(
            "/projects/{slug}/studies/{study_id}/live/", PAGE_405, GET=scoped(PAGE, 200)
        )
    ],
    # Step 9's pages act on their own pending request (see the API's below).
    "projects/<slug:slug>/deployments/<int:deployment_id>/": [
        route(
            "/projects/{slug}/deployments/{page_deployment_id}/",
            PAGE_405,
            GET=scoped(PAGE, 200),
        )
    ],
    "projects/<slug:slug>/deployments/<int:deployment_id>/approve/": [
        route(
            "/projects/{slug}/deployments/{page_deployment_id}/approve/",
            PAGE_405,
            POST=scoped(PAGE, 403, approver=302, owner=302),
        )
    ],
    # Approved by then; an empty rejection (no reason) is refused first.
    "projects/<slug:slug>/deployments/<int:deployment_id>/reject/": [
        route(
            "/projects/{slug}/deployments/{page_deployment_id}/reject/",
            PAGE_405,
            POST=scoped(PAGE, 403, approver=400, owner=400),
        )
    ],
    "projects/<slug:slug>/deployments/<int:deployment_id>/rollback/": [
        route(
            "/projects/{slug}/deployments/{page_deployment_id}/rollback/",
            PAGE_405,
            POST=scoped(PAGE, 409, **WRITER),
        )
    ],
    "projects/<slug:slug>/audit/": [
        route("/projects/{slug}/audit/", PAGE_405, GET=scoped(PAGE, 200))
    ],
    "projects/<slug:slug>/members/": [
        route(
            "/projects/{slug}/members/",
            PAGE_405,
            GET=scoped(PAGE, 200),
            POST=scoped(PAGE, 403, owner=400),
        )
    ],
    # The approver's membership: only the owner removes it.
    "projects/<slug:slug>/members/<int:user_id>/remove/": [
        route(
            "/projects/{slug}/members/{page_user_id}/remove/",
            PAGE_405,
            POST=scoped(PAGE, 403, owner=302),
        )
    ],
    "approvals/": [route("/approvals/", PAGE_405, GET=signed_in(PAGE, 200))],
    # A live deployment's keys page (any member) and its forms (scientist, owner):
    # an empty name is refused (400); the world's key is revoked (302).
    "projects/<slug:slug>/deployments/<int:deployment_id>/keys/": [
        route(
            "/projects/{slug}/deployments/{live_deployment_id}/keys/",
            PAGE_405,
            GET=scoped(PAGE, 200),
            POST=scoped(PAGE, 400, **WRITER),
        )
    ],
    "projects/<slug:slug>/deployments/<int:deployment_id>/keys/<int:key_id>/revoke/": [
        route(
            "/projects/{slug}/deployments/{live_deployment_id}/keys/{page_key_id}/revoke/",
            PAGE_405,
            POST=scoped(PAGE, 302, **WRITER),
        )
    ],
    # The predict URL takes deployment keys only: no session, no user token (401).
    "deployments/<slug:slug>/predict": [
        route(
            "/deployments/{endpoint_slug}/predict",
            {**everyone(405), "token": 405},
            POST={**everyone(401), "token": 401},
        )
    ],
    "jobs/<uuid:job_id>/status/": [
        route("/jobs/{page_job_id}/status/", PAGE_405, GET=scoped(PAGE, 200))
    ],
    # The world's profile job is queued: cancelled, then retried (back to the page).
    "jobs/<uuid:job_id>/cancel/": [
        route("/jobs/{page_job_id}/cancel/", PAGE_405, POST=scoped(PAGE, 302, **WRITER))
    ],
    "jobs/<uuid:job_id>/retry/": [
        route("/jobs/{page_job_id}/retry/", PAGE_405, POST=scoped(PAGE, 302, **WRITER))
    ],
    # django-ninja's root ("api/") is shadowed by ours ("^api/$"): JSON 404.
    "^api/$": [route("/api/", NOT_FOUND)],
    "api/": [route("/api/", NOT_FOUND)],
    "^api/": [
        route("/api/no-such-thing", NOT_FOUND),
        route("/api/datasets/abc", NOT_FOUND),
        route("/api/jobs/not-a-uuid", NOT_FOUND),
        route("/api/projects/{project_id}/no-such-thing", NOT_FOUND),
    ],
    # django-ninja's document and docs views are shadowed by read-only ones.
    "^api/openapi\\.json$": [route("/api/openapi.json", everyone(405), **READ_ONLY)],
    "api/openapi.json": [route("/api/openapi.json", everyone(405), **READ_ONLY)],
    "^api/docs$": [route("/api/docs", everyone(405), **READ_ONLY)],
    "api/docs": [route("/api/docs", everyone(405), **READ_ONLY)],
    "api/health": [route("/api/health", API_405, GET=everyone(200))],
    "api/projects": [
        route(
            "/api/projects",
            API_405,
            GET=signed_in(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    "api/projects/<int:project_id>": [
        route(
            "/api/projects/{project_id}",
            API_405,
            GET=scoped(API, 200),
            PATCH=scoped(API, 200, **WRITER),
        )
    ],
    "api/projects/<int:project_id>/datasets": [
        route(
            "/api/projects/{project_id}/datasets",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    "api/datasets/<int:dataset_id>": [
        route("/api/datasets/{dataset_id}", API_405, GET=scoped(API, 200))
    ],
    # The world's data set is not profiled yet: members are told so (400).
    "api/datasets/<int:dataset_id>/suggested-recipe": [
        route(
            "/api/datasets/{dataset_id}/suggested-recipe",
            API_405,
            GET=scoped(API, 400),
        )
    ],
    "api/datasets/<int:dataset_id>/suggested-features": [
        route(
            "/api/datasets/{dataset_id}/suggested-features",
            API_405,
            GET=scoped(API, 400),
        )
    ],
    "api/projects/<int:project_id>/feature-spec": [
        route(
            "/api/projects/{project_id}/feature-spec",
            API_405,
            GET=scoped(API, 200),
            PUT=signed_in(API, 422),
        )
    ],
    "api/jobs/<uuidstr:job_id>": [
        route("/api/jobs/{job_id}", API_405, GET=scoped(API, 200))
    ],
    # The world's profile job is queued: cancelled (200), then retried (202).
    "api/jobs/<uuidstr:job_id>/cancel": [
        route("/api/jobs/{job_id}/cancel", API_405, POST=scoped(API, 200, **WRITER))
    ],
    "api/jobs/<uuidstr:job_id>/retry": [
        route("/api/jobs/{job_id}/retry", API_405, POST=scoped(API, 202, **WRITER))
    ],
    "api/datasets/<int:dataset_id>/preview": [
        route("/api/datasets/{dataset_id}/preview", API_405, POST=signed_in(API, 422))
    ],
    "api/datasets/<int:dataset_id>/prepare": [
        route("/api/datasets/{dataset_id}/prepare", API_405, POST=signed_in(API, 422))
    ],
    "api/datasets/<int:dataset_id>/features/preview": [
        route(
            "/api/datasets/{dataset_id}/features/preview",
            API_405,
            POST=signed_in(API, 422),
        )
    ],
    "api/projects/<int:project_id>/catalog": [
        route("/api/projects/{project_id}/catalog", API_405, GET=scoped(API, 200))
    ],
    "api/projects/<int:project_id>/experiments": [
        route(
            "/api/projects/{project_id}/experiments",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    "api/experiments/<int:experiment_id>": [
        route("/api/experiments/{experiment_id}", API_405, GET=scoped(API, 200))
    ],
    "api/experiments/<int:experiment_id>/evaluation": [
        route(
            "/api/experiments/{experiment_id}/evaluation",
            API_405,
            GET=scoped(API, 200),
        )
    ],
    "api/experiments/<int:experiment_id>/comments": [
        route(
            "/api/experiments/{experiment_id}/comments",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    # The world's experiment is queued with no job: nothing to cancel, and not
    # trained, so not evaluated (400).
    "api/experiments/<int:experiment_id>/cancel": [
        route(
            "/api/experiments/{experiment_id}/cancel",
            API_405,
            POST=scoped(API, 400, **WRITER),
        )
    ],
    "api/experiments/<int:experiment_id>/evaluate-test": [
        route(
            "/api/experiments/{experiment_id}/evaluate-test",
            API_405,
            POST=scoped(API, 400, **WRITER),
        )
    ],
    "api/experiments/<int:experiment_id>/threshold": [
        route(
            "/api/experiments/{experiment_id}/threshold",
            API_405,
            POST=signed_in(API, 422),
        )
    ],
    "api/experiments/<int:experiment_id>/register": [
        route(
            "/api/experiments/{experiment_id}/register",
            API_405,
            POST=scoped(API, 400, **WRITER),
        )
    ],
    "api/projects/<int:project_id>/model-versions": [
        route(
            "/api/projects/{project_id}/model-versions", API_405, GET=scoped(API, 200)
        )
    ],
    "api/model-versions/<int:version_id>": [
        route("/api/model-versions/{version_id}", API_405, GET=scoped(API, 200))
    ],
    # An empty PATCH changes nothing (200).
    "api/model-versions/<int:version_id>/card": [
        route(
            "/api/model-versions/{version_id}/card",
            API_405,
            PATCH=scoped(API, 200, **WRITER),
        )
    ],
    "api/projects/<int:project_id>/search-space": [
        route(
            "/api/projects/{project_id}/search-space?algorithm=svm",
            API_405,
            GET=scoped(API, 200),
        )
    ],
    "api/projects/<int:project_id>/studies": [
        route(
            "/api/projects/{project_id}/studies",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    "api/deployments/<int:deployment_id>/keys": [
        route(
            "/api/deployments/{deployment_id}/keys",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    "api/deployments/<int:deployment_id>/keys/<int:key_id>": [
        route(
            "/api/deployments/{deployment_id}/keys/{key_id}",
            API_405,
            DELETE=scoped(API, 200, **WRITER),
        )
    ],
    "api/studies/<int:study_id>": [
        route("/api/studies/{study_id}", API_405, GET=scoped(API, 200))
    ],
    "api/studies/<int:study_id>/cancel": [
        route(
            "/api/studies/{study_id}/cancel", API_405, POST=scoped(API, 200, **WRITER)
        )
    ],
    # Step 9: the world has two pending requests by the scientist, one for the
    # API's actions and one for the pages'. An approver or the owner approves it;
    # a scientist rolls back only a live one (409 while pending).
    "api/projects/<int:project_id>/deployments": [
        route(
            "/api/projects/{project_id}/deployments",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    "api/deployments/<int:deployment_id>": [
        route("/api/deployments/{deployment_id}", API_405, GET=scoped(API, 200))
    ],
    "api/deployments/<int:deployment_id>/approve": [
        route(
            "/api/deployments/{deployment_id}/approve",
            API_405,
            POST=scoped(API, 403, approver=200, owner=200),
        )
    ],
    "api/deployments/<int:deployment_id>/reject": [
        route(
            "/api/deployments/{deployment_id}/reject",
            API_405,
            POST=signed_in(API, 422),
        )
    ],
    # The owner's run approved the pages' request first, so the API's replaced
    # it: rolling back returns to it (200).
    "api/deployments/<int:deployment_id>/rollback": [
        route(
            "/api/deployments/{deployment_id}/rollback",
            API_405,
            POST=scoped(API, 409, owner=200, **WRITER),
        )
    ],
    "api/projects/<int:project_id>/members": [
        route(
            "/api/projects/{project_id}/members",
            API_405,
            GET=scoped(API, 200),
            POST=signed_in(API, 422),
        )
    ],
    # The viewer's membership: only the owner removes it.
    "api/projects/<int:project_id>/members/<int:user_id>": [
        route(
            "/api/projects/{project_id}/members/{user_id}",
            API_405,
            DELETE=scoped(API, 403, owner=204),
        )
    ],
    "api/projects/<int:project_id>/audit": [
        route("/api/projects/{project_id}/audit", API_405, GET=scoped(API, 200))
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


def test_it_declares_every_api_operation(client):
    """Every operation of the OpenAPI document has a URL in ROUTES that takes
    its method (so its answers are checked for every principal)."""
    document = client.get("/api/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
    }
    declared = {
        (method, _path_of(url))
        for checks in ROUTES.values()
        for url, _statuses, accepted in checks
        for method in accepted
    }
    assert operations - declared == set(), "API operations without a declaration"


def test_it_declares_every_principal_for_every_method():
    for checks in ROUTES.values():
        for url, statuses, _accepted in checks:
            assert set(statuses) == set(METHODS), url
            for method, expected in statuses.items():
                assert set(expected) == set(PRINCIPALS), (method, url)


def _path_of(url: str) -> str:
    """The OpenAPI path of a ROUTES URL: /api/projects/{project_id}?x=1 ->
    /api/projects/{project_id}."""
    return url.split("?")[0]


@pytest.fixture
def world(project, owner, member, outsider, tmp_path, run_jobs):
    users = {role: member(role) for role in ("viewer", "scientist", "approver")}
    users.update(owner=owner, outsider=outsider)
    # The outsider is a member elsewhere: membership of one project opens no other.
    MembershipFactory(project=ProjectFactory(), user=outsider, role="owner")
    dataset, _ingest = dataset_upload(
        project=project,
        user=owner,
        path=write_csv(tmp_path / "data.csv", rows=30),
        filename="data.csv",
    )
    run_jobs()  # the version is ingested and ready
    # The pages and the API each cancel and retry a failed job of their own, on
    # subjects of their own: a retry is of a latest attempt (an older one is
    # refused, 400), and one subject has one active job of a kind (409).
    job = Job.objects.create(
        kind="analyze",
        project=project,
        subject_type="dataset",
        subject_id=dataset.pk,
        status="failed",
        error="for the routes test",
    )
    token, _raw = token_create(user=owner, name="routes")
    _token, scientist_raw = token_create(user=users["scientist"], name="routes")
    experiment = Experiment.objects.create(
        project=project, dataset=dataset, algorithm="baseline"
    )
    api_job = Job.objects.create(
        kind="analyze_experiment",
        project=project,
        subject_type="experiment",
        subject_id=experiment.pk,
        status="failed",
        error="for the routes test",
    )
    study = Study.objects.create(
        project=project,
        dataset=dataset,
        algorithm="svm",
        strategy="random",
        metric="f1_macro",
        optuna_name="routes",
    )
    model_version = make_version(project, users["scientist"])
    api_deployment, page_deployment = (
        deployment_request(
            version=model_version, environment="staging", user=users["scientist"]
        )
        for _ in range(2)
    )
    # Another version live in production, with keys.
    live = make_live(make_version(project, owner), owner, environment="production")
    page_key, _secret = deployment_key_create(deployment=live, user=owner, name="page")
    # Any deployment of an endpoint opens its keys: the API's pending request's.
    api_key, _secret = deployment_key_create(
        deployment=api_deployment, user=owner, name="api"
    )
    ids = {
        "model_version": model_version.version,
        "version_id": model_version.pk,
        "live_deployment_id": live.pk,
        "endpoint_slug": live.endpoint.slug,
        "page_key_id": page_key.pk,
        "key_id": api_key.pk,
        "study_id": study.pk,
        "experiment_id": experiment.pk,
        "slug": project.slug,
        "project_id": project.pk,
        "dataset_id": dataset.pk,
        "page_job_id": job.id,
        "job_id": api_job.id,
        "token_id": token.pk,
        "deployment_id": api_deployment.pk,
        "page_deployment_id": page_deployment.pk,
        "user_id": users["viewer"].pk,
        "page_user_id": users["approver"].pk,
    }
    return users, ids, scientist_raw


def _client_for(principal: str, users: dict, raw_token: str) -> Client:
    if principal == "token":
        # No session, and CSRF enforced: a token needs no CSRF token.
        return Client(
            enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw_token}"}
        )
    client = Client()
    if principal != "anonymous":
        client.force_login(users[principal])
    return client


def _send(client: Client, method: str, url: str):
    """An empty body: JSON `{}` to the API, an empty form to pages."""
    if url.startswith("/api/"):
        return client.generic(method, url, b"{}", "application/json")
    return client.generic(method, url, b"", "application/x-www-form-urlencoded")


def answers(world, principal: str) -> list[tuple[str, str, int, int]]:
    """(method, url, status, declared) of every check, in ROUTES order."""
    users, ids, raw_token = world
    client = _client_for(principal, users, raw_token)
    results = []
    checks = [check for checks in ROUTES.values() for check in checks]
    # Logging out ends the session: check it last.
    checks.sort(key=lambda check: check[0] == "/accounts/logout/")
    for template, statuses, _accepted in checks:
        url = template.format(**ids)
        for method in METHODS:
            status = _send(client, method, url).status_code
            results.append((method, url, status, statuses[method][principal]))
    return results


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_it_answers_every_method_as_declared_for(world, principal):
    wrong = [
        f"{method} {url}: {status}, declared {declared}"
        for method, url, status, declared in answers(world, principal)
        if status != declared
    ]
    assert wrong == []
