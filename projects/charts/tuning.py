"""Figures for step 8: how a tuning study's search went.

Every builder takes plain, already bounded lists the study page reads from the
Trial rows (one mapping per trial: ``number``, ``status``, ``score``, ``elapsed_s``
and ``params``) or Optuna's parameter importance, and returns a small
:class:`plotly.graph_objects.Figure`, or None when there is nothing to draw yet.
Render with :func:`projects.charts.profile.figure_json`.

Pure plotly + numpy: never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from projects.charts.evaluation import GOOD_COLOUR, GREY, HEIGHT, _axis, _titled
from projects.charts.profile import BAR_COLOUR

__all__ = [
    "best_so_far_figure",
    "importance_figure",
    "running_best",
    "slice_figure",
    "top_params",
]

TRIAL_COLOUR = "rgba(76, 120, 168, 0.75)"
PRUNED_COLOUR = "rgba(157, 157, 157, 0.7)"
_X = {
    "number": ("number", "Trial number"),
    "elapsed": ("elapsed_s", "Seconds since the study started"),
}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _scored(trial: Mapping[str, Any], status: str) -> bool:
    return trial.get("status") == status and _finite(trial.get("score"))


def running_best(
    scores: Sequence[float | None], *, higher_is_better: bool
) -> list[float | None]:
    """The best score seen so far after each entry (None until the first).

    Parameters
    ----------
    scores : list of float or None
        Scores in the order they arrived; None (or NaN) for a trial without one.
    higher_is_better : bool
        The metric's direction.

    Returns
    -------
    list of float or None
        Same length as ``scores``.
    """
    out: list[float | None] = []
    best: float | None = None
    for score in scores:
        if _finite(score) and (
            best is None or (score > best if higher_is_better else score < best)
        ):
            best = float(score)
        out.append(best)
    return out


def best_so_far_figure(
    trials: Sequence[Mapping[str, Any]],
    *,
    metric: str,
    higher_is_better: bool,
    by: str = "number",
) -> go.Figure | None:
    """Each trial's score and the best score so far, against trial number or time.

    Parameters
    ----------
    trials : list of dict
        ``{"number", "status", "score", "elapsed_s"}`` per trial. Complete trials
        count for the best; pruned ones (a partial score) are drawn in grey.
    metric : str
        The objective's name, for the axis.
    higher_is_better : bool
        The metric's direction.
    by : {"number", "elapsed"}
        What the x axis shows.

    Returns
    -------
    plotly.graph_objects.Figure or None
        None until a trial completed (with an elapsed time for ``by="elapsed"``).
    """
    key, x_title = _X[by]
    rows = [t for t in trials if _finite(t.get(key))]
    rows.sort(key=lambda t: (t[key], t.get("number", 0)))
    complete = [t for t in rows if _scored(t, "complete")]
    if not complete:
        return None
    x = np.asarray([t[key] for t in complete], dtype=float)
    scores = np.asarray([t["score"] for t in complete], dtype=float)
    best = np.asarray(
        running_best(list(scores), higher_is_better=higher_is_better), dtype=float
    )
    numbers = [t.get("number") for t in complete]
    hover_x = (
        "trial %{customdata}" if by == "number" else "%{x:.0f} s (trial %{customdata})"
    )
    traces = [
        go.Scatter(
            x=x,
            y=scores,
            mode="markers",
            name="trial score",
            marker={"color": TRIAL_COLOUR, "size": 7},
            customdata=numbers,
            hovertemplate=f"{hover_x}: {metric} %{{y:.4f}}<extra></extra>",
        ),
        go.Scatter(
            x=x,
            y=best,
            mode="lines",
            name="best so far",
            line={"color": GOOD_COLOUR, "width": 2, "shape": "hv"},
            hovertemplate=f"best so far: {metric} %{{y:.4f}}<extra></extra>",
        ),
    ]
    pruned = [t for t in rows if _scored(t, "pruned")]
    if pruned:
        traces.append(
            go.Scatter(
                x=np.asarray([t[key] for t in pruned], dtype=float),
                y=np.asarray([t["score"] for t in pruned], dtype=float),
                mode="markers",
                name="stopped early (partial score)",
                marker={"color": PRUNED_COLOUR, "size": 7, "symbol": "x"},
                customdata=[t.get("number") for t in pruned],
                hovertemplate=f"{hover_x}: stopped early at {metric} "
                "%{y:.4f}<extra></extra>",
            )
        )
    direction = "higher" if higher_is_better else "lower"
    against = "trial number" if by == "number" else "time"
    layout = _titled(
        HEIGHT,
        f"Best {metric} so far, by {against} ({direction} is better)",
        xaxis=_axis(x_title, rangemode="tozero" if by == "elapsed" else "normal"),
        yaxis=_axis(metric),
        showlegend=True,
        legend={"orientation": "h", "y": -0.22, "x": 0, "yanchor": "top"},
    )
    return go.Figure(traces, layout=layout)


def importance_figure(importance: Mapping[str, float] | None) -> go.Figure | None:
    """Parameter importance (as Optuna estimates it), most important on top.

    Parameters
    ----------
    importance : dict
        Parameter name to its share of the score's variance (sums to 1).

    Returns
    -------
    plotly.graph_objects.Figure or None
        Horizontal bars; None without importance.
    """
    items = sorted(
        ((k, float(v)) for k, v in (importance or {}).items() if _finite(v)),
        key=lambda kv: -kv[1],
    )
    if not items:
        return None
    names = [k for k, _ in items]
    values = [v for _, v in items]
    trace = go.Bar(
        x=values[::-1],
        y=names[::-1],
        orientation="h",
        marker={"color": BAR_COLOUR},
        hovertemplate="%{y}: %{x:.0%} of the score's variation<extra></extra>",
    )
    layout = _titled(
        max(220, min(480, 110 + 30 * len(items))),
        "Which parameters mattered: share of the score's variation each explains",
        xaxis=_axis("Importance", tickformat=".0%", rangemode="tozero"),
        yaxis=_axis("", type="category"),
    )
    return go.Figure(trace, layout=layout)


def top_params(
    importance: Mapping[str, float] | None, space: Mapping[str, Any], n: int = 2
) -> list[str]:
    """The ``n`` most important parameters of the space (in the space's order
    while importance is not known yet)."""
    names = list(space)
    if importance:
        ranked = sorted(
            (k for k in importance if k in space), key=lambda k: -importance[k]
        )
        names = ranked + [k for k in names if k not in ranked]
    return names[:n]


def slice_figure(
    trials: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    space: Mapping[str, Mapping[str, Any]],
    *,
    metric: str,
) -> go.Figure | None:
    """Score against the value of each given parameter, one panel each.

    Parameters
    ----------
    trials : list of dict
        ``{"number", "status", "score", "params"}``; complete trials are drawn,
        coloured by trial number (late trials darker).
    params : list of str
        The parameters to draw (one or two).
    space : dict
        The study's validated search space (log scale, choices).
    metric : str
        The objective's name, for the axis.

    Returns
    -------
    plotly.graph_objects.Figure or None
        None until a complete trial has one of the parameters.
    """
    complete = [t for t in trials if _scored(t, "complete")]
    params = [p for p in params if any(p in (t.get("params") or {}) for t in complete)]
    if not params:
        return None
    fig = make_subplots(
        rows=1, cols=len(params), shared_yaxes=True, horizontal_spacing=0.06
    )
    last = max(t.get("number", 0) for t in complete) or 1
    for col, name in enumerate(params, start=1):
        rows = [t for t in complete if name in (t.get("params") or {})]
        spec = space.get(name) or {}
        values = [t["params"][name] for t in rows]
        if spec.get("type") == "choice":
            values = [str(v) for v in values]
        fig.add_trace(
            go.Scatter(
                x=values,
                y=np.asarray([t["score"] for t in rows], dtype=float),
                mode="markers",
                name=name,
                customdata=[t.get("number") for t in rows],
                marker={
                    "size": 8,
                    "color": [t.get("number", 0) for t in rows],
                    # Light (early) to dark (late), never white on white.
                    "colorscale": [[0, "#c6dbef"], [1, "#08306b"]],
                    "cmin": 0,
                    "cmax": last,
                    "showscale": col == len(params),
                    "colorbar": {"title": {"text": "trial"}, "thickness": 12},
                    "line": {"width": 0.5, "color": GREY},
                },
                hovertemplate=f"trial %{{customdata}}: {name} = %{{x}}, "
                f"{metric} %{{y:.4f}}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        axis: dict[str, Any] = {"title": {"text": name}, "automargin": True}
        if spec.get("type") == "choice":
            axis["type"] = "category"
        elif spec.get("log"):
            # 1, 2, 5, 10, 20, 50: readable ticks over a few decades.
            axis.update(type="log", dtick="D2")
        fig.update_xaxes(axis, row=1, col=col)
    fig.update_yaxes(title_text=metric, automargin=True, row=1, col=1)
    title = (
        "Score against the two most important parameters"
        if len(params) == 2
        else f"Score against {params[0]}"
    )
    fig.update_layout(_titled(HEIGHT, title))
    return fig
