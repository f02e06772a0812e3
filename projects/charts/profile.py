"""Figures for the data profile, the target check and group sizes.

Every builder takes the aggregated dicts returned by :mod:`projects.ml.profiling`
(never raw rows) and returns a small :class:`plotly.graph_objects.Figure`, or None
when there is nothing to draw. Pages render them with
``Plotly.newPlot(el, json.data, json.layout, {displaylogo: false, responsive: true})``
from the string :func:`figure_json` returns.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

__all__ = [
    "association_figure",
    "column_figure",
    "correlation_figure",
    "figure_json",
    "groups_figure",
    "target_figure",
]

BAR_COLOUR = "#4c78a8"
WARNING_COLOUR = "#e45756"
CAUTION_COLOUR = "#f58518"
MIN_HEIGHT = 220
MAX_HEIGHT = 320
MAX_LABEL = 40
MAX_ASSOCIATION_BARS = 25

# The parts of plotly_white's layout a 2-D chart uses, registered once as the
# "lifecycle" template. The rest of plotly_white (3-D scenes, maps, per-trace
# defaults) is dead weight in every payload, and plotly deep-copies and validates
# a figure's whole template each time one is built: with the full template that
# was half of a dashboard's server time.
_TEMPLATE_LAYOUT_KEYS = (
    "autotypenumbers",
    "colorway",
    "font",
    "hovermode",
    "hoverlabel",
    "paper_bgcolor",
    "plot_bgcolor",
    "xaxis",
    "yaxis",
    "title",
)
TEMPLATE = "lifecycle"
pio.templates[TEMPLATE] = go.layout.Template(
    layout={
        key: pio.templates["plotly_white"].layout[key] for key in _TEMPLATE_LAYOUT_KEYS
    }
)


def _layout(height: int, **extra: Any) -> dict:
    layout = {
        "template": TEMPLATE,
        "height": int(height),
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "showlegend": False,
        "bargap": 0.08,
    }
    layout.update(extra)
    return layout


def _bars_height(n: int) -> int:
    return max(MIN_HEIGHT, min(MAX_HEIGHT, 40 + 22 * n))


def _labels(values: list[Any]) -> list[str]:
    """Shortened display labels, kept distinct so bars never merge."""
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = str(value)
        if len(text) > MAX_LABEL:
            text = text[: MAX_LABEL - 1] + "…"
        candidate, i = text, 2
        while candidate in seen:
            candidate, i = f"{text} ({i})", i + 1
        seen.add(candidate)
        out.append(candidate)
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _histogram_trace(histogram: dict | None) -> go.Bar | None:
    """Bars over the bin centres, each as wide as its bin."""
    if not histogram:
        return None
    edges, counts = histogram.get("edges") or [], histogram.get("counts") or []
    if len(edges) != len(counts) + 1 or not counts:
        return None
    if all(isinstance(e, str) for e in edges):
        stamps = pd.to_datetime(pd.Series(edges), format="ISO8601", utc=True)
        if stamps.isna().any():
            return None
        tz = pd.Timestamp(edges[0]).tz
        local = stamps.dt.tz_localize(None) if tz is None else stamps.dt.tz_convert(tz)
        stamps = local
        lefts, rights = stamps.iloc[:-1].reset_index(drop=True), stamps.iloc[1:]
        rights = rights.reset_index(drop=True)
        centres = [ts.isoformat() for ts in lefts + (rights - lefts) / 2]
        widths = [max(d.total_seconds() * 1000.0, 1.0) for d in rights - lefts]
        ranges = [
            [a.isoformat(), b.isoformat()] for a, b in zip(lefts, rights, strict=True)
        ]
    elif all(_finite(e) for e in edges):
        pairs = list(itertools.pairwise(edges))
        centres = [(a + b) / 2 for a, b in pairs]
        widths = [b - a for a, b in pairs]
        ranges = [[a, b] for a, b in pairs]
    else:
        return None
    return go.Bar(
        x=centres,
        y=list(counts),
        width=widths,
        customdata=ranges,
        marker={"color": BAR_COLOUR, "line": {"width": 0}},
        hovertemplate="%{customdata[0]} to %{customdata[1]}: %{y:,}<extra></extra>",
    )


def _histogram_figure(histogram: dict | None) -> go.Figure | None:
    trace = _histogram_trace(histogram)
    if trace is None:
        return None
    return go.Figure(
        trace,
        layout=_layout(MIN_HEIGHT, yaxis={"title": {"text": "rows"}}, bargap=0),
    )


def _hbar_figure(
    labels: list[Any],
    values: list[float],
    *,
    colours: list[str] | None = None,
    hover: str,
    customdata: list[Any] | None = None,
    xaxis: dict | None = None,
) -> go.Figure:
    """Horizontal bars, the first item on top."""
    shown = _labels(labels)
    trace = go.Bar(
        x=list(values)[::-1],
        y=shown[::-1],
        orientation="h",
        marker={"color": (colours or [BAR_COLOUR] * len(shown))[::-1]},
        customdata=(customdata[::-1] if customdata is not None else None),
        hovertemplate=hover,
    )
    layout = _layout(
        _bars_height(len(shown)),
        yaxis={"type": "category", "automargin": True},
        xaxis={"automargin": True, **(xaxis or {})},
    )
    return go.Figure(trace, layout=layout)


def column_figure(column: dict) -> go.Figure | None:
    """Draw one profiled column.

    Parameters
    ----------
    column : dict
        One item of ``profile_table(...)["columns"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        A histogram (bars over the bin centres) for numeric and datetime columns,
        horizontal bars of the most frequent values otherwise; None when the column
        has neither.
    """
    if column.get("kind") in ("numeric", "datetime"):
        return _histogram_figure(column.get("histogram"))
    top = column.get("top") or []
    if not top:
        return None
    return _hbar_figure(
        [item["value"] for item in top],
        [item["count"] for item in top],
        customdata=[item.get("share") for item in top],
        hover="%{y}: %{x:,} rows (%{customdata:.1%})<extra></extra>",
    )


def correlation_figure(profile: dict) -> go.Figure | None:
    """Heatmap of the Pearson correlations of a profile.

    Parameters
    ----------
    profile : dict
        The result of ``profile_table``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        A diverging heatmap fixed to -1..1, or None with fewer than two columns.
    """
    correlation = profile.get("correlation") or {}
    columns = correlation.get("columns") or []
    matrix = correlation.get("matrix") or []
    if len(columns) < 2 or len(matrix) != len(columns):
        return None
    labels = _labels(columns)
    trace = go.Heatmap(
        z=matrix,
        x=labels,
        y=labels,
        zmin=-1,
        zmax=1,
        zmid=0,
        colorscale="RdBu",
        xgap=1,
        ygap=1,
        colorbar={"thickness": 10, "len": 0.9},
        hovertemplate="%{y} / %{x}: %{z:.2f}<extra></extra>",
    )
    # More columns need more room to stay legible; the height still stays bounded.
    height = max(260, min(520, 120 + 14 * len(labels)))
    layout = _layout(
        height,
        xaxis={"type": "category", "automargin": True, "tickangle": -45},
        yaxis={"type": "category", "automargin": True, "autorange": "reversed"},
    )
    return go.Figure(trace, layout=layout)


def target_figure(target_analysis: dict) -> go.Figure | None:
    """Class balance or distribution of the target.

    Parameters
    ----------
    target_analysis : dict
        The result of ``analyze_target``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Horizontal bars of class counts (classes under 10% in a caution colour) or a
        histogram of a numeric target; None without a distribution.
    """
    distribution = target_analysis.get("distribution") or {}
    classes = distribution.get("classes")
    if classes:
        return _hbar_figure(
            [c["value"] for c in classes],
            [c["count"] for c in classes],
            colours=[
                CAUTION_COLOUR if (c.get("share") or 0) < 0.10 else BAR_COLOUR
                for c in classes
            ],
            customdata=[c.get("share") for c in classes],
            hover="%{y}: %{x:,} rows (%{customdata:.1%})<extra></extra>",
        )
    return _histogram_figure(distribution.get("histogram"))


def association_figure(target_analysis: dict) -> go.Figure | None:
    """How strongly each feature relates to the target.

    Parameters
    ----------
    target_analysis : dict
        The result of ``analyze_target``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Horizontal bars of the strongest associations (at most 25), possible
        leakage in a warning colour; None when there are no associations.
    """
    associations = (target_analysis.get("associations") or [])[:MAX_ASSOCIATION_BARS]
    if not associations:
        return None
    return _hbar_figure(
        [a["column"] for a in associations],
        [a["score"] for a in associations],
        colours=[
            WARNING_COLOUR if a.get("leakage") else BAR_COLOUR for a in associations
        ],
        customdata=[a.get("method", "").replace("_", " ") for a in associations],
        hover="%{y}: %{x:.2f} (%{customdata})<extra></extra>",
        xaxis={"range": [0, 1]},
    )


def groups_figure(group: dict) -> go.Figure:
    """Share of rows in each group of one column.

    Parameters
    ----------
    group : dict
        One item of ``analyze_groups(...)``.

    Returns
    -------
    plotly.graph_objects.Figure
        Horizontal bars of group shares, under-represented groups in a caution
        colour (an empty figure when there are no groups).
    """
    groups = group.get("groups") or []
    return _hbar_figure(
        [g["value"] for g in groups],
        [g["share"] for g in groups],
        colours=[
            CAUTION_COLOUR if g.get("under_represented") else BAR_COLOUR for g in groups
        ],
        customdata=[g.get("count") for g in groups],
        hover="%{y}: %{x:.1%} (%{customdata:,} rows)<extra></extra>",
        xaxis={"tickformat": ".0%", "rangemode": "tozero"},
    )


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def figure_json(fig: go.Figure) -> str:
    """Serialise a figure for ``Plotly.newPlot`` with a compact layout.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        A figure from this module.

    Returns
    -------
    str
        JSON with ``data`` and ``layout`` (with the compact "lifecycle" template,
        about 1 KB instead of plotly_white's 7 KB); any NaN becomes null.
    """
    payload = json.loads(fig.to_json())
    return json.dumps(_clean(payload), separators=(",", ":"), allow_nan=False)
