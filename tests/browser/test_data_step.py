"""Steps 1 and 2 in a real browser, with a real worker running the jobs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from projects.models import Dataset, Job, Project
from projects.services.datasets import dataset_upload
from projects.services.projects import project_update
from tests.browser.conftest import DRAWN_CHART, JOB_TIMEOUT_MS
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.helpers import write_dictionary_bomb_parquet

pytestmark = [pytest.mark.browser, pytest.mark.slow]

XSS_IMG = "<img src=x onerror=alert(1)>"
XSS_SCRIPT = "<script>alert(1)</script>"


def _data_path(project) -> str:
    return f"/projects/{project.slug}/steps/data/"


def _upload(ui, path) -> None:
    ui.page.locator("input[name=file]").set_input_files(str(path))
    ui.page.get_by_role("button", name="Upload and profile").click()


def _wait_for_profile(ui) -> None:
    """The page polls the job and reloads itself when it ends."""
    expect(ui.page.locator("#profile .stats")).to_be_visible(timeout=JOB_TIMEOUT_MS)


def test_it_walks_a_new_user_through_problem_and_data(
    ui, worker, password, write_mixed_csv
):
    page = ui.page
    UserFactory(username="nadia")
    csv_path = write_mixed_csv()

    ui.login("nadia", password)
    expect(page.get_by_role("heading", name="No projects yet")).to_be_visible()
    ui.shot("empty project list")

    # Step 1: a threshold out of range is refused inline.
    page.get_by_role("link", name="Define your first problem").click()
    expect(page.get_by_role("heading", name=re.compile("Step 1"))).to_be_visible()
    page.get_by_label("Name").fill("Customer churn")
    page.get_by_label("Classification").check()
    page.get_by_label("Business goal").fill("Call customers before they leave.")
    page.get_by_label("Primary metric").select_option("f1_macro")
    page.get_by_label("Success threshold").fill("1.5")
    ui.shot("new project form")
    page.get_by_role("button", name="Create project").click()
    error = page.locator(".field.has-error .error")
    expect(error).to_have_text(
        re.compile(r"threshold for f1_macro must be between 0 and 1")
    )
    expect(page.get_by_label("Success threshold")).to_have_value("1.5")
    assert Project.objects.count() == 0
    ui.shot("new project inline error")

    page.get_by_label("Success threshold").fill("0.8")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/customer-churn/steps/data/$"))
    expect(page.get_by_role("heading", name="Step 2: Data collection")).to_be_visible()
    expect(page.locator(".contract")).to_contain_text("f1_macro ≥ 0.8")

    # The stepper: 11 steps, 1 done, 2 current, the rest waiting for data.
    steps = page.locator(".stepper li")
    expect(steps).to_have_count(11)
    expect(steps.nth(0)).to_have_class(re.compile(r"\bst-done\b"))
    expect(steps.nth(1)).to_have_class(re.compile(r"\bst-current\b.*\bst-active\b"))
    expect(steps.nth(1).locator("a")).to_have_attribute("aria-current", "step")
    expect(steps.nth(2)).to_contain_text("waits for a data set (step 2)")
    for i in range(2, 11):
        expect(steps.nth(i)).to_have_class(re.compile(r"\bst-waiting\b"))
    expect(steps.nth(10)).to_contain_text("Maintenance")
    expect(page.get_by_role("heading", name="Upload your data")).to_be_visible()
    ui.shot("data step empty")

    # Upload: the request only stores the file; the page shows the ingest job
    # waiting, then its progress, then the profile.
    _upload(ui, csv_path)
    expect(page.locator(".msg-success")).to_contain_text(
        "Received customers.csv as version 1. It is being read, checked and "
        "profiled; it can be used when that ends."
    )
    expect(page.locator("#versions tbody tr")).to_have_count(1)
    expect(page.locator("#versions .badge")).to_have_text("Ingesting")
    job_box = page.locator("#profile .job")
    expect(job_box).to_be_visible()
    expect(job_box.locator("progress")).to_be_attached()
    expect(job_box).to_contain_text("Reading, checking and profiling the upload")
    expect(job_box).to_contain_text("Waiting for a worker")
    expect(page.locator("#target")).to_have_count(0)  # nothing to choose from yet
    ui.shot("ingest waits for a worker")

    worker()
    _wait_for_profile(ui)
    expect(page.locator("#profile .job")).to_have_count(0)
    stats = page.locator("#profile .stats")
    expect(stats.locator(".stat:has(.k:text-is('rows')) .v")).to_have_text("2,000")
    expect(stats.locator(".stat:has(.k:text-is('columns')) .v")).to_have_text("8")
    expect(page.locator("details.warnings li").first).to_be_visible()
    cards = page.locator("#columns .col-card")
    expect(cards).to_have_count(8)
    for name in ("age", "plan", "signup_date", "credit_score", "churned"):
        expect(cards.locator("h3", has_text=name).first).to_be_visible()
    assert ui.wait_for_charts("#columns", at_least=6) >= 6
    expect(page.locator("#versions .badge")).to_have_text("Ready")
    ui.shot("profile")

    # The target: its distribution and the association of each column with it.
    expect(page.locator("#target .chart")).to_have_count(0)
    page.get_by_label("Target column").select_option("churned")
    page.get_by_role("button", name="Use as target").click()
    expect(page.locator(".msg-success")).to_contain_text("Target set to 'churned'")
    target = page.locator("#target")
    expect(target.get_by_role("heading", name="Distribution of churned")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    expect(
        target.get_by_role("heading", name="Association with the target")
    ).to_be_visible()
    ui.wait_for_charts("#target", at_least=2)
    expect(page.locator(".contract")).to_contain_text("target: churned")
    expect(steps.nth(1)).to_have_class(re.compile(r"\bst-done\b"))
    expect(steps.nth(2)).to_have_class(re.compile(r"\bst-current\b"))
    ui.shot("target analysed")

    # Step 1: a sensitive attribute; its group sizes appear on step 2.
    steps.nth(0).locator("a").click()
    expect(
        page.get_by_role("heading", name="Step 1: Problem definition")
    ).to_be_visible()
    sensitive = page.locator("#sensitive")
    sensitive.get_by_label("region").check()
    ui.shot("problem step sensitive")
    sensitive.get_by_role("button", name="Save sensitive attributes").click()
    expect(page.locator(".msg-success")).to_contain_text("Sensitive attributes saved")
    expect(page.locator("#sensitive").get_by_label("region")).to_be_checked()

    page.locator(".stepper li").nth(1).locator("a").click()
    groups = page.locator("#groups")
    expect(groups.get_by_role("heading", name="region")).to_be_visible(
        timeout=JOB_TIMEOUT_MS
    )
    ui.wait_for_charts("#groups")
    expect(groups).to_contain_text("Under-represented: west")
    ui.shot("group sizes")

    page.get_by_role("link", name="Projects", exact=True).first.click()
    row = page.locator("table.table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Customer churn")
    expect(row).to_contain_text("1 (latest v1)")
    expect(row).to_contain_text("churned")
    ui.shot("project list")


def test_it_shows_bad_uploads_where_the_user_acted(
    ui, worker, project, owner, password, tmp_path
):
    page = ui.page
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    ui.login(owner.username, password)
    ui.goto(_data_path(project))
    # An empty file is refused by the request itself, inline.
    _upload(ui, empty)
    error = page.locator("#upload .field.has-error .error")
    expect(error).to_contain_text("empty")
    expect(page.locator("#versions")).to_have_count(0)
    ui.shot("empty file refused")

    # A file that is only found bad when read: its job fails, and the reason shows
    # under the upload form, with nothing stored and nothing to retry.
    _upload(ui, ragged)
    expect(page.locator("#profile .job progress")).to_be_attached()
    worker()
    failed = page.locator("#upload .job-failed")
    expect(failed).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(failed.locator(".error")).to_contain_text(
        "Row 3 has 2 fields but the header has 3 columns"
    )
    expect(failed).to_contain_text("Nothing was stored.")
    expect(failed.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator("#versions")).to_have_count(0)
    ui.shot("ragged csv refused by its job")
    assert Dataset.objects.count() == 0
    assert Job.objects.get().status == "failed"


def test_it_escapes_html_in_names(ui, worker, owner, password, write_mixed_csv):
    page = ui.page
    name = f"Churn {XSS_IMG} {XSS_SCRIPT}"
    project = ProjectFactory(name=name, slug="xss", created_by=owner)
    MembershipFactory(project=project, user=owner, role="owner")
    csv_path = write_mixed_csv(
        name="evil.csv",
        rows=300,
        rename={"plan": XSS_IMG, "region": XSS_SCRIPT},
    )

    ui.login(owner.username, password)
    expect(page.get_by_role("link", name=name)).to_be_visible()
    ui.shot("list with html name")

    response = ui.goto(_data_path(project))
    script_src = re.search(
        r"script-src ([^;]*)", response.headers["content-security-policy"]
    )
    assert script_src and "unsafe-inline" not in script_src.group(1)
    expect(page.locator(".crumbs")).to_contain_text(name)
    ui.shot("data step with html name")
    _upload(ui, csv_path)
    worker()
    _wait_for_profile(ui)
    cards = page.locator("#columns .col-card h3")
    expect(cards.filter(has_text=XSS_IMG)).to_have_count(1)
    expect(cards.filter(has_text=XSS_SCRIPT)).to_have_count(1)
    ui.wait_for_charts("#columns", at_least=6)

    page.get_by_label("Target column").select_option(XSS_IMG)
    page.get_by_role("button", name="Use as target").click()
    expect(
        page.locator("#target").get_by_role(
            "heading", name=f"Distribution of {XSS_IMG}"
        )
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    ui.wait_for_charts("#target", at_least=2)
    expect(page.locator(".contract")).to_contain_text(f"target: {XSS_IMG}")

    ui.goto(f"/projects/{project.slug}/steps/problem/")
    page.locator("#sensitive").get_by_label(XSS_SCRIPT).check()
    ui.shot("problem step with html names")
    page.get_by_role("button", name="Save sensitive attributes").click()
    expect(page.locator(".msg-success")).to_be_visible()
    ui.goto(_data_path(project))
    expect(
        page.locator("#groups").get_by_role("heading", name=XSS_SCRIPT)
    ).to_be_visible(timeout=JOB_TIMEOUT_MS)
    ui.wait_for_charts("#groups")
    ui.shot("data page with html names")

    # Nothing the user typed became markup: no <img src=x>, no script with alert.
    assert page.locator("img[src=x]").count() == 0
    scripts = page.eval_on_selector_all(
        "script:not([type='application/json'])", "els => els.map(e => e.textContent)"
    )
    assert not any("alert(1)" in text for text in scripts)
    assert page.evaluate("document.title").startswith("Data collection · Churn <img")
    ui.assert_clean()


def test_it_refuses_a_parquet_bomb_then_profiles_a_good_file(
    ui, worker, project, owner, password, tmp_path, write_mixed_csv
):
    page = ui.page
    ui.login(owner.username, password)
    ui.goto(_data_path(project))
    _upload(ui, write_dictionary_bomb_parquet(tmp_path / "small.parquet"))
    expect(page.locator("#profile .job progress")).to_be_attached()
    ui.shot("bomb queued")
    worker()

    failed = page.locator("#upload .job-failed")
    expect(failed).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(failed.locator(".badge")).to_have_text("Failed")
    expect(failed.locator(".error")).to_have_text(
        "The file would take 2.8 GB in memory (column 'note' alone repeats its "
        "values to 2.8 GB); the limit is 2.0 GB (DATASET_MAX_BYTES)."
    )
    expect(page.locator("#versions")).to_have_count(0)
    ui.shot("bomb refused")

    # The same worker takes the next upload to a profile.
    _upload(ui, write_mixed_csv(rows=500))
    _wait_for_profile(ui)
    expect(page.locator("#upload .job-failed")).to_have_count(0)
    expect(page.locator("#versions .badge")).to_have_text("Ready")
    expect(page.locator("#versions tbody tr")).to_contain_text("v1")
    ui.wait_for_charts("#columns")
    ui.shot("profile after the bomb")


def test_a_viewer_sees_the_data_without_upload_or_target_forms(
    ui, live_server, project, owner, member, password, run_jobs, write_mixed_csv
):
    dataset, _ = dataset_upload(
        project=project, user=owner, path=write_mixed_csv(rows=300), filename="c.csv"
    )
    run_jobs()
    project_update(project=project, user=owner, target_column="churned")
    run_jobs()
    viewer = member("viewer")
    page = ui.page

    ui.login(viewer.username, password)
    ui.goto(_data_path(project))
    expect(page.locator(".contract .role")).to_have_text("you: viewer")
    expect(page.locator("#profile .stats")).to_be_visible()
    expect(page.locator("#upload")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)
    expect(page.locator("#target form")).to_have_count(0)
    expect(page.get_by_role("button", name="Use as target")).to_have_count(0)
    expect(
        page.locator("#target").get_by_role("heading", name="Distribution of churned")
    ).to_be_visible()
    ui.wait_for_charts("#target", at_least=2)
    ui.wait_for_charts("#columns")
    assert page.locator(DRAWN_CHART).count() >= 3
    ui.shot("viewer data page")
    assert dataset.version == 1
