"""Step 3 in a real browser: edit the recipe, preview, split, apply (a real worker)."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from projects.models import Dataset, Job
from projects.services.datasets import dataset_upload
from projects.services.projects import project_update
from tests.browser.conftest import JOB_TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _prepare_path(project) -> str:
    return f"/projects/{project.slug}/steps/prepare/"


@pytest.fixture
def profiled(project, owner, run_jobs, write_mixed_csv):
    """Version 1 (2,000 mixed rows) profiled, target "churned" analysed."""
    dataset_upload(
        project=project, user=owner, path=write_mixed_csv(), filename="customers.csv"
    )
    run_jobs()
    project_update(project=project, user=owner, target_column="churned")
    run_jobs()
    return project


def _step(page, op: str, nth: int = 0):
    return page.locator(f"#recipe-editor .recipe-steps > li[data-op={op}]").nth(nth)


def _sent_recipe(page) -> dict:
    return json.loads(page.locator("input[name=recipe]").input_value())


def test_it_walks_a_user_through_cleaning_and_splitting(
    ui, worker, profiled, owner, password
):
    page = ui.page
    ui.login(owner.username, password)
    ui.goto(_prepare_path(profiled))
    expect(
        page.get_by_role("heading", name="Step 3: Cleaning & preparation")
    ).to_be_visible()
    steps = page.locator(".stepper li")
    expect(steps.nth(2)).to_have_class(re.compile(r"\bst-current\b"))
    expect(steps.nth(3)).to_contain_text("waits for step 3, Cleaning & preparation")
    expect(page.get_by_label("Input version")).to_have_value("1")

    # The suggested recipe, one step per problem the profile found.
    items = page.locator("#recipe-editor .recipe-steps > li")
    expect(items.first).to_contain_text("Drop columns")
    expect(items.first).to_contain_text("customer_id: identifier-like")
    age = _step(page, "impute", 0)
    credit = _step(page, "impute", 2)
    expect(age).to_contain_text("age: 4% missing")
    expect(credit).to_contain_text("credit_score: 12% missing")
    n_steps = items.count()
    assert n_steps >= 5
    ui.shot("suggested recipe")

    # Switch one step off, edit a parameter of another: the JSON follows.
    age.get_by_role("checkbox", name="Use step: Missing values").uncheck()
    expect(age).to_have_class(re.compile(r"\boff\b"))
    credit.locator("[data-param=strategy]").select_option("median")
    sent = _sent_recipe(page)["steps"]
    assert [s.get("enabled") for s in sent].count(False) == 1
    assert (
        next(
            s for s in sent if s.get("column") == "credit_score" and s["op"] == "impute"
        )["strategy"]
        == "median"
    )

    # A step that cannot work: the error sits on that step, nothing else moves.
    page.locator("[data-add-op]").select_option("filter_rows")
    page.locator("[data-add-column]").select_option("plan")
    page.get_by_role("button", name="+ Add step").click()
    added = items.nth(n_steps)
    expect(added).to_contain_text("Filter rows")
    added.locator("[data-param=operator]").select_option("lt")
    added.locator("[data-param=value]").fill("pro")
    page.get_by_role("button", name=re.compile("Preview on the first")).click()
    added = items.nth(n_steps)
    expect(added).to_have_class(re.compile(r"\bhas-error\b"))
    expect(added.locator(".rs-param.has-error .error")).to_contain_text(
        f"Step {n_steps + 1} (Filter rows): 'lt' compares numbers or dates"
    )
    expect(page.locator("#preview-result")).to_have_count(0)
    expect(_step(page, "impute", 0)).to_have_class(re.compile(r"\boff\b"))
    ui.shot("inline recipe error")
    added.get_by_role("button", name="Remove Filter rows").click()
    expect(items).to_have_count(n_steps)

    # Preview: rows before and after each step, changed cells highlighted.
    page.get_by_role("button", name=re.compile("Preview on the first")).click()
    preview = page.locator("#preview-result")
    expect(preview).to_contain_text("This preview ran on all 2,000 rows.")
    report = preview.locator("table.report tbody tr")
    expect(report).to_have_count(n_steps)
    age_row = report.filter(has_text="Switched off.")
    expect(age_row).to_have_count(1)
    credit_row = report.nth(n_steps - 1)
    expect(credit_row).to_contain_text("Filled")
    expect(credit_row.locator(".values-changed")).not_to_have_text("0")
    expect(preview.locator("table.sample td.cell-changed").first).to_be_visible()
    expect(
        preview.locator("table.sample th").filter(has_text="customer_id")
    ).to_have_count(0)
    expect(_step(page, "impute", 2).locator("[data-param=strategy]")).to_have_value(
        "median"
    )
    ui.shot("preview")

    # The split, then apply: a job with a progress bar, then the new version.
    split = page.locator("#split")
    split.get_by_label(re.compile(r"^Train")).fill("0.6")
    split.get_by_label(re.compile(r"^Validation")).fill("0.2")
    split.get_by_label(re.compile(r"^Test")).fill("0.2")
    expect(page.get_by_label("Stratify by the target")).to_be_checked()
    page.get_by_role("button", name="Apply recipe and split").click()
    expect(page.locator(".msg-success")).to_contain_text(
        "Preparing version 2 from version 1"
    )
    result = page.locator("#result")
    job_box = result.locator(".job")
    expect(job_box).to_be_visible()
    expect(job_box.locator("progress")).to_be_attached()
    expect(job_box).to_contain_text("Cleaning, splitting and profiling")
    ui.shot("apply waits for a worker")

    worker()
    stats = result.locator(".stats")
    expect(stats).to_be_visible(timeout=JOB_TIMEOUT_MS)
    expect(result.locator(".job")).to_have_count(0)
    expect(result.get_by_role("heading", name=re.compile("Version 2"))).to_contain_text(
        "prepared from version 1"
    )
    expect(stats.locator(".stat.split-train .v")).to_have_text("1,200")
    expect(stats.locator(".stat.split-validation .v")).to_have_text("400")
    expect(stats.locator(".stat.split-test .v")).to_have_text("400")
    expect(result.locator("table.balance tbody tr")).to_have_count(2)
    ui.wait_for_charts("#result")
    expect(result.locator("table.report tbody tr")).to_have_count(n_steps)
    versions = page.locator("#prepared tbody tr")
    expect(versions).to_have_count(1)
    expect(versions).to_contain_text("1,200 / 400 / 400")
    expect(steps.nth(2)).to_have_class(re.compile(r"\bst-done\b"))
    # The editor now holds the recipe just applied, ready for another round.
    expect(_step(page, "impute", 0)).to_have_class(re.compile(r"\boff\b"))
    expect(page.locator("#split").get_by_label(re.compile(r"^Train"))).to_have_value(
        "0.6"
    )
    ui.shot("prepared version")

    prepared = Dataset.objects.get(project=profiled, version=2)
    assert prepared.parent.version == 1
    assert prepared.n_rows == 2000
    steps_run = prepared.recipe["steps"]
    assert [s["enabled"] for s in steps_run].count(False) == 1
    assert Job.objects.get(kind="prepare").status == "succeeded"


def test_a_viewer_sees_the_recipe_and_versions_without_controls(
    ui, profiled, member, password
):
    viewer = member("viewer")
    page = ui.page
    ui.login(viewer.username, password)
    ui.goto(_prepare_path(profiled))
    expect(page.locator(".contract .role")).to_have_text("you: viewer")
    expect(
        page.get_by_role("heading", name="Suggested cleaning recipe")
    ).to_be_visible()
    expect(page.locator(".recipe-steps > li").first).to_contain_text("Drop columns")
    expect(page.get_by_role("button", name=re.compile("Preview"))).to_have_count(0)
    expect(page.get_by_role("button", name="Apply recipe and split")).to_have_count(0)
    expect(page.locator("#prepared")).to_contain_text("None yet.")
    ui.shot("viewer prepare page")
