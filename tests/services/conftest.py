from __future__ import annotations

from tests.views.conftest import (  # noqa: F401
    _fast_passwords,
    churn_csv,
    prepared_dataset,
    profile_jobs,
    ready_dataset,
)
