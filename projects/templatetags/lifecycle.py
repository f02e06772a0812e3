from __future__ import annotations

import itertools

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()
_ids = itertools.count(1)

_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


@register.simple_tag
def chart(figure_json: str | None, label: str = "chart"):
    """A plotly figure as inert JSON plus a placeholder that static/js/app.js draws.

    The JSON sits in a ``<template>``: inert, and kept by htmx when a fragment is
    swapped in (htmx 2 removes every ``<script>`` from swapped content while script
    tags are disabled, so charts in polled fragments would never draw). No inline
    script runs (the CSP forbids it); ``<``, ``>`` and ``&`` are escaped so that a
    column name like ``</template>`` cannot close the element.
    """
    if not figure_json:
        return ""
    element_id = f"fig-{next(_ids)}"
    return format_html(
        '<div class="chart" data-figure="{}" role="img" aria-label="{}"></div>'
        '<template class="figure-json" id="{}">{}</template>',
        element_id,
        label,
        element_id,
        mark_safe(figure_json.translate(_JSON_ESCAPES)),  # noqa: S308
    )


@register.filter
def percent(value, digits: int = 1):
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


@register.filter
def filesize(value):
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@register.filter
def num(value):
    """Numbers for people: thousands separators, 4 significant digits for floats."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "—"
        if abs(value) >= 1e6 or (0 < abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


@register.filter
def retryable(job) -> bool:
    """Whether a Retry button belongs on this job (failed or cancelled, and its
    latest attempt: the same rule ``job_retry`` applies)."""
    from projects.services.jobs import job_retry_refusal

    return job is not None and not job_retry_refusal(job)
