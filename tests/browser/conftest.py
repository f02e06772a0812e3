"""Browser fixtures: Debian's Chromium driven by Playwright's sync API.

- ``browser``: one Chromium for the whole session (no browser is ever downloaded).
- ``ui``: a fresh context and page per test that records console errors, page errors
  and dialogs (any dialog fails the test, R19), takes full-page screenshots into
  ``tmp_path`` (and into $BROWSER_SHOTS_DIR when set), and logs in through the real
  login form.
- ``worker``: a real ``manage.py rqworker`` against the live server's test database.
- ``write_mixed_csv``: the ~2,000-row table the walkthrough uploads.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Long enough for a cold worker to import pandas and profile 2,000 rows.
JOB_TIMEOUT_MS = 30_000
DRAWN_CHART = ".chart .main-svg"
FORM_REFUSED = re.compile(r"status of 400 \(Bad Request\)")


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class UI:
    """One page plus what the test needs around it."""

    def __init__(self, page: Page, base_url: str, shots_dir: Path, name: str):
        self.page = page
        self.base_url = base_url
        self.shots_dir = shots_dir
        self.name = name
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.bad_responses: list[str] = []
        self._shots = 0
        extra = os.environ.get("BROWSER_SHOTS_DIR")
        self.extra_dir = Path(extra) / name if extra else None
        if self.extra_dir:
            shutil.rmtree(self.extra_dir, ignore_errors=True)
            self.extra_dir.mkdir(parents=True, exist_ok=True)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("dialog", self._on_dialog)
        page.on("response", self._on_response)

    def _on_console(self, msg) -> None:
        # Invalid forms answer 400 on purpose; Chromium logs that as an error.
        if msg.type == "error" and not FORM_REFUSED.search(msg.text):
            self.console_errors.append(f"{msg.text} @ {msg.location.get('url', '')}")

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _on_response(self, response) -> None:
        # 4xx are expected for invalid forms; a 5xx never is.
        if response.status >= 500:
            self.bad_responses.append(f"{response.status} {response.url}")

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str):
        return self.page.goto(self.url(path))

    def shot(self, label: str) -> Path:
        """A full-page screenshot of what the page shows now."""
        self._shots += 1
        name = f"{self._shots:02d}-{re.sub(r'[^a-z0-9]+', '-', label.lower())}.png"
        path = self.shots_dir / name
        self.page.screenshot(path=str(path), full_page=True)
        if self.extra_dir:
            shutil.copy(path, self.extra_dir / name)
        return path

    def login(self, username: str, password: str) -> None:
        """Log in through the real form and land on the project list."""
        self.goto("/accounts/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.shot("login")
        self.page.get_by_role("button", name="Log in").click()
        expect(
            self.page.get_by_role("heading", name="Projects", exact=True)
        ).to_be_visible()

    def wait_for_charts(self, scope: str = "body", at_least: int = 1) -> int:
        """Wait until plotly has drawn `at_least` charts inside `scope`."""
        charts = self.page.locator(f"{scope} {DRAWN_CHART}")
        # plotly.js draws after load; on a busy 2-core machine a page of charts
        # can take longer than expect()'s default 5 s.
        expect(charts.nth(at_least - 1)).to_be_attached(timeout=20_000)
        return charts.count()

    def assert_clean(self) -> None:
        assert not self.dialogs, f"dialogs opened: {self.dialogs}"
        assert not self.page_errors, f"page errors: {self.page_errors}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        assert not self.bad_responses, f"server errors: {self.bad_responses}"


@pytest.fixture
def ui(browser, live_server, tmp_path, request) -> UI:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    shots = tmp_path / "shots"
    shots.mkdir()
    helper = UI(page, live_server.url, shots, request.node.name)
    yield helper
    try:
        helper.assert_clean()
    finally:
        context.close()


@pytest.fixture
def worker(live_server, start_worker, worker_env):
    """Start one real rqworker on the live server's test database."""
    test_db = connection.settings_dict["NAME"]
    assert str(test_db) in worker_env["DATABASE_URL"], (
        "the worker would not use the test database",
        worker_env["DATABASE_URL"],
        test_db,
    )
    return start_worker


def mixed_frame(rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Numeric, categorical, a date, missing values and "N/A" / "?" placeholders."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows).astype(float)
    age[rng.random(rows) < 0.05] = np.nan
    income = rng.lognormal(10, 0.6, rows).round(2)
    income[rng.random(rows) < 0.08] = np.nan
    score = rng.normal(600, 80, rows).round(0).astype(int).astype(str).astype(object)
    placeholders = rng.random(rows)
    score[placeholders < 0.07] = "N/A"
    score[(placeholders >= 0.07) & (placeholders < 0.12)] = "?"
    signup = pd.Timestamp("2021-01-01") + pd.to_timedelta(
        rng.integers(0, 1000, rows), unit="D"
    )
    plan = rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1])
    region = rng.choice(
        ["north", "south", "east", "west"], rows, p=[0.4, 0.3, 0.25, 0.05]
    )
    churn_p = 0.15 + 0.25 * (plan == "basic") + 0.1 * (np.nan_to_num(age, nan=50) < 30)
    churned = np.where(rng.random(rows) < churn_p, "yes", "no")
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, rows + 1),
            "age": age,
            "income": income,
            "plan": plan,
            "region": region,
            "signup_date": signup.strftime("%Y-%m-%d"),
            "credit_score": score,
            "churned": churned,
        }
    )


@pytest.fixture
def write_mixed_csv(tmp_path):
    def write(name: str = "customers.csv", rename: dict | None = None, **kw) -> Path:
        path = tmp_path / name
        frame = mixed_frame(**kw)
        if rename:
            frame = frame.rename(columns=rename)
        frame.to_csv(path, index=False)
        return path

    return write
