"""The model version page's chart: what the model predicts on its training rows.

Takes ``ModelVersion.reference["predictions"]`` (projects.ml.reference
.prediction_summary: shares of labels, or binned numbers) and returns a small
figure, or None when there is nothing to draw. Pure plotly: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import plotly.graph_objects as go

from projects.charts.profile import BAR_COLOUR, _layout

__all__ = ["prediction_figure"]

HEIGHT = 260


def _title(text: str) -> dict:
    return {"text": text, "x": 0.01, "xanchor": "left", "font": {"size": 14}}


def prediction_figure(predictions: Mapping[str, Any] | None) -> go.Figure | None:
    """Bars of the predicted labels' shares, the positive class's probability
    histogram (binary), or the binned predicted values (regression)."""
    if not predictions:
        return None
    proba = predictions.get("proba")
    if proba and proba.get("counts"):
        edges = np.asarray(proba["edges"], dtype=float)
        trace = go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=np.asarray(proba["counts"], dtype=float),
            width=np.diff(edges),
            marker_color=BAR_COLOUR,
            hovertemplate="p %{x:.2f}: %{y:,} rows<extra></extra>",
        )
        title = (
            f"Predicted probability of {proba['label']!r} on the training rows "
            f"({predictions.get('n', 0):,})"
        )
        xaxis = {"title": {"text": "probability"}, "range": [0, 1]}
    elif predictions.get("kind") == "numeric" and predictions.get("counts"):
        edges = np.asarray(predictions["edges"], dtype=float)
        trace = go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=np.asarray(predictions["counts"], dtype=float),
            width=np.maximum(np.diff(edges), 1e-12),
            marker_color=BAR_COLOUR,
            hovertemplate="%{x:.4g}: %{y:,} rows<extra></extra>",
        )
        title = f"Predicted values on the training rows ({predictions.get('n', 0):,})"
        xaxis = {"title": {"text": "prediction (quantile bins)"}}
    elif predictions.get("frequencies"):
        shares = predictions["frequencies"]
        trace = go.Bar(
            x=[str(k) for k in shares],
            y=np.asarray(list(shares.values()), dtype=float),
            marker_color=BAR_COLOUR,
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
        title = f"Predicted labels on the training rows ({predictions.get('n', 0):,})"
        xaxis = {"title": {"text": "prediction"}, "type": "category"}
    else:
        return None
    layout = _layout(
        HEIGHT,
        title=_title(title),
        margin={"l": 8, "r": 8, "t": 44, "b": 8},
        xaxis={**xaxis, "automargin": True},
        yaxis={"automargin": True},
        bargap=0.05,
    )
    return go.Figure(trace, layout=layout)
