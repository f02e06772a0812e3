"""Figures for the comparison page: several experiments' regression results overlaid.

ROC and precision-recall curves overlay with :func:`projects.charts.evaluation.
roc_figure` / ``pr_figure`` (they take curves by experiment name); the regression
figures there draw one experiment, so the overlays are here. Every builder takes
``{experiment name: stored evaluation part}`` and returns a Figure, or None when
no experiment has anything to draw.

Pure plotly + numpy: never imports Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from projects.charts.evaluation import (
    HEIGHT,
    REFERENCE,
    _array,
    _axis,
    _legend,
    _scatter_class,
    _titled,
)

__all__ = [
    "colour_by_name",
    "predicted_vs_actual_overlay_figure",
    "residual_hist_overlay_figure",
]

# Plotly's default colorway, without the reference lines' grey.
COLOURS = (
    "#636efa",
    "#ef553b",
    "#00cc96",
    "#ab63fa",
    "#ffa15a",
    "#19d3f3",
    "#ff6692",
    "#b6e880",
)


def residual_hist_overlay_figure(
    hists_by_name: Mapping[str, Mapping[str, Any] | None],
) -> go.Figure | None:
    """Residual distributions of several experiments as step outlines.

    Parameters
    ----------
    hists_by_name : dict of str to dict
        Experiment name to its ``evaluate_regression(...)["residual_hist"]``.
        Each experiment has its own bins, so each is drawn as the share of its
        rows per bin (a step line), which overlays without bars hiding bars.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One step line per experiment and a zero line; None without bins.
    """
    traces = []
    for name, hist in hists_by_name.items():
        edges = _array((hist or {}).get("edges"))
        counts = np.asarray((hist or {}).get("counts") or [], dtype=float)
        if not len(counts) or len(edges) != len(counts) + 1 or not counts.sum():
            continue
        shares = counts / counts.sum()
        traces.append(
            go.Scatter(
                x=edges,
                y=np.append(shares, shares[-1]),
                mode="lines",
                line={"shape": "hv", "width": 2},
                name=str(name),
                hovertemplate=f"{name}<br>residual from %{{x:.4g}}: "
                "%{y:.1%} of rows<extra></extra>",
            )
        )
    if not traces:
        return None
    layout = _titled(
        HEIGHT,
        "Residual distributions: narrower and centred on 0 is better",
        xaxis=_axis("Residual (actual - predicted)"),
        yaxis=_axis("Share of rows", tickformat=".0%", rangemode="tozero"),
        **_legend(),
    )
    fig = go.Figure(traces, layout=layout)
    fig.add_vline(x=0, line=REFERENCE)
    return fig


def predicted_vs_actual_overlay_figure(
    scatters_by_name: Mapping[str, Mapping[str, Any] | None],
) -> go.Figure | None:
    """Predicted against actual values of several experiments, one colour each.

    Parameters
    ----------
    scatters_by_name : dict of str to dict
        Experiment name to its ``evaluate_regression(...)["scatter"]`` (a seeded
        sample of at most 2,000 validation rows).

    Returns
    -------
    plotly.graph_objects.Figure or None
        The dashed diagonal of perfect predictions, then one marker trace per
        experiment (WebGL above 10,000 points in all); None without points.
    """
    pairs = []
    for name, scatter in scatters_by_name.items():
        actual = _array((scatter or {}).get("actual"))
        predicted = _array((scatter or {}).get("predicted"))
        if len(actual) and len(actual) == len(predicted):
            pairs.append((str(name), actual, predicted))
    if not pairs:
        return None
    both = np.concatenate([np.concatenate([a, p]) for _, a, p in pairs])
    both = both[np.isfinite(both)]
    low, high = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    cls = _scatter_class(sum(len(a) for _, a, _ in pairs))
    traces = [
        go.Scatter(
            x=np.array([low, high]),
            y=np.array([low, high]),
            mode="lines",
            line=REFERENCE,
            name="perfect prediction",
            hoverinfo="skip",
        )
    ]
    for name, actual, predicted in pairs:
        traces.append(
            cls(
                x=actual,
                y=predicted,
                mode="markers",
                name=name,
                marker={"size": 5, "opacity": 0.5},
                hovertemplate=f"{name}<br>actual %{{x:.4g}}, predicted %{{y:.4g}}"
                "<extra></extra>",
            )
        )
    layout = _titled(
        HEIGHT + 40,
        "Predicted vs actual: closer to the dashed line is better",
        xaxis=_axis("Actual value"),
        yaxis=_axis("Predicted value"),
        **_legend(),
    )
    return go.Figure(traces, layout=layout)


def colour_by_name(fig: go.Figure, names: list[str]) -> go.Figure:
    """Give each experiment one colour in every overlay of the page.

    Plotly colours traces by position, so a reference line or an experiment
    without a curve would shift the colours from one chart to the next. A trace
    whose name starts with an experiment's name gets that experiment's colour
    (lines and markers); other traces are left as they are.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
    names : list of str
        The experiments' names, in the page's order.

    Returns
    -------
    plotly.graph_objects.Figure
        The same figure, changed in place.
    """
    for trace in fig.data:
        name = str(trace.name or "")
        for i, experiment in enumerate(names):
            # One curve per experiment only: a multiclass experiment's
            # one-vs-rest curves ("name: class") keep their own colours.
            if name == experiment or name.startswith(f"{experiment} ("):
                colour = COLOURS[i % len(COLOURS)]
                if trace.mode and "markers" in trace.mode:
                    trace.marker.color = colour
                if trace.mode is None or "lines" in trace.mode:
                    trace.line.color = colour
                break
    return fig
