"""Figures for step 3: the class balance of each split of a prepared version.

Takes the aggregated split report stored on a prepared version (never rows, see
:func:`projects.ml.splitting.split_frame`) and returns a small
:class:`plotly.graph_objects.Figure`, or None when there is nothing to draw.
"""

from __future__ import annotations

import plotly.graph_objects as go

from projects.charts.profile import MAX_LABEL, TEMPLATE

__all__ = ["split_balance_figure"]

SPLITS = ("train", "validation", "test")
SPLIT_COLOURS = {"train": "#4c78a8", "validation": "#f58518", "test": "#54a24b"}
MAX_CLASSES = 30


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def split_balance_figure(report: dict) -> go.Figure | None:
    """Grouped bars: for each class, its share of the rows of each split.

    Parameters
    ----------
    report : dict
        A split report: ``counts`` per split and ``class_balance``, a list of
        ``{"value", "counts": {split: rows}, "shares": {split: share}}``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        None without a class balance (regression, clustering).
    """
    balance = (report.get("class_balance") or [])[:MAX_CLASSES]
    if not balance:
        return None
    counts = report.get("counts") or {}
    labels = [_short(str(item["value"])) for item in balance]
    traces = [
        go.Bar(
            name=split,
            x=labels,
            y=[item["shares"].get(split, 0.0) for item in balance],
            customdata=[item["counts"].get(split, 0) for item in balance],
            marker={"color": SPLIT_COLOURS[split]},
            hovertemplate=(
                f"{split}: %{{x}} %{{y:.1%}} (%{{customdata:,}} rows)<extra></extra>"
            ),
        )
        for split in SPLITS
        if counts.get(split)
    ]
    layout = {
        "template": TEMPLATE,
        "height": 260,
        "margin": {"l": 8, "r": 8, "t": 30, "b": 8},
        "barmode": "group",
        "bargap": 0.25,
        "showlegend": True,
        "legend": {"orientation": "h", "y": 1.15, "x": 0},
        "yaxis": {"tickformat": ".0%", "title": {"text": "share of the split"}},
        "xaxis": {"type": "category", "automargin": True},
    }
    return go.Figure(traces, layout=layout)
