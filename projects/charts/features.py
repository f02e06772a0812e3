"""Figures for step 4: how many model inputs each source column becomes.

Takes the ``by_column`` counts of a feature preview (see
:func:`projects.ml.features.preview_features`), never rows, and returns a small
:class:`plotly.graph_objects.Figure`, or None when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Collection

import plotly.graph_objects as go

from projects.charts.profile import MAX_LABEL, TEMPLATE

__all__ = ["outputs_per_column_figure"]

MAX_BARS = 40
BAR_PX = 22
COLOUR = "#4c78a8"
INTERACTION_COLOUR = "#f58518"


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def outputs_per_column_figure(
    by_column: dict[str, int], interactions: Collection[str] = ()
) -> go.Figure | None:
    """Horizontal bars: model inputs produced by each source column, spec order.

    Parameters
    ----------
    by_column : dict of str to int
        Output columns per spec column; interactions are named ``a*b``. Beyond
        ``MAX_BARS`` entries the smallest are summed into one "other columns" bar.
    interactions : collection of str, optional
        The ``a*b`` names that are interactions, drawn in another colour.

    Returns
    -------
    plotly.graph_objects.Figure or None
        None when ``by_column`` is empty.
    """
    items = [(str(name), int(count)) for name, count in by_column.items()]
    if not items:
        return None
    if len(items) > MAX_BARS:
        keep = sorted(items, key=lambda item: -item[1])[: MAX_BARS - 1]
        kept = {name for name, _ in keep}
        rest = [item for item in items if item[0] not in kept]
        items = [item for item in items if item[0] in kept]
        items.append((f"{len(rest)} other columns", sum(c for _, c in rest)))
    names = [name for name, _ in items]
    counts = [count for _, count in items]
    colours = [INTERACTION_COLOUR if n in interactions else COLOUR for n in names]
    trace = go.Bar(
        x=counts,
        y=[_short(n) for n in names],
        customdata=names,
        orientation="h",
        marker={"color": colours},
        text=counts,
        textposition="outside",
        cliponaxis=False,
        hovertemplate="%{customdata}: %{x} model input(s)<extra></extra>",
    )
    layout = {
        "template": TEMPLATE,
        "height": 70 + BAR_PX * len(items),
        "margin": {"l": 8, "r": 30, "t": 8, "b": 36},
        "showlegend": False,
        "bargap": 0.3,
        "xaxis": {
            "title": {"text": "model inputs"},
            "rangemode": "tozero",
            "tickformat": ",d",
        },
        "yaxis": {"autorange": "reversed", "automargin": True, "type": "category"},
    }
    return go.Figure([trace], layout=layout)
