"""Figures for step 7: the evaluation dashboards and the team's comparisons.

Every builder takes what :mod:`projects.ml.evaluation` and
:mod:`projects.ml.fairness` returned (stored on the Experiment, already bounded in
size) or a few rows of experiment summaries, and returns a small
:class:`plotly.graph_objects.Figure`, or None when there is nothing to draw.
Titles and axis labels say in plain words what is drawn, for someone who has not
read a textbook. Render with :func:`projects.charts.profile.figure_json`.

Pure plotly + numpy: never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from projects.charts.profile import (
    BAR_COLOUR,
    CAUTION_COLOUR,
    WARNING_COLOUR,
    _histogram_trace,
    _labels,
    _layout,
)

__all__ = [
    "calibration_figure",
    "cluster_sizes_figure",
    "confusion_figure",
    "fairness_figure",
    "importance_figure",
    "leaderboard_figure",
    "learning_curve_figure",
    "parallel_coordinates_figure",
    "pr_figure",
    "predicted_vs_actual_figure",
    "projection_figure",
    "residual_hist_figure",
    "residuals_figure",
    "roc_figure",
    "segment_error_figure",
    "silhouette_figure",
    "threshold_figure",
]

HEIGHT = 360
GREY = "#9d9d9d"
GOOD_COLOUR = "#54a24b"
REFERENCE = {"color": GREY, "dash": "dash", "width": 1}
SCATTERGL_ABOVE = 10_000  # SVG gets slow to draw beyond this many points
POINT_COLOUR = "rgba(76, 120, 168, 0.45)"


def _titled(height: int, title: str, **extra: Any) -> dict:
    """The shared layout with a title and room for it."""
    layout = _layout(
        height,
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 14}},
        margin={"l": 8, "r": 8, "t": 44, "b": 8},
    )
    layout.update(extra)
    return layout


def _axis(title: str, **extra: Any) -> dict:
    return {"title": {"text": title}, "automargin": True, **extra}


def _legend() -> dict:
    return {
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.2, "x": 0, "yanchor": "top"},
    }


def _array(values: Sequence[Any] | None) -> np.ndarray:
    """Floats for a trace; None becomes NaN (a gap)."""
    return np.asarray(
        [math.nan if v is None else v for v in (values or [])], dtype=float
    )


def _scatter_class(n_points: int) -> type:
    return go.Scattergl if n_points > SCATTERGL_ABOVE else go.Scatter


def _sampled_note(sample: Mapping[str, Any], shown: int) -> str:
    total = sample.get("n_total") or shown
    if sample.get("sampled"):
        return f" (a sample of {shown:,} of {total:,} rows)"
    return f" ({total:,} rows)"


# ----------------------------------------------------------- classification


def confusion_figure(conf: Mapping[str, Any], normalized: bool = False) -> go.Figure:
    """Heatmap of the confusion matrix.

    Parameters
    ----------
    conf : dict
        ``evaluate_classification(...)["confusion"]``.
    normalized : bool, default=False
        Draw each true class's shares (rows sum to 1) instead of row counts.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One heatmap, true classes down, predicted classes across, the value in
        each cell; None without labels.
    """
    labels = conf.get("labels") or []
    if not labels:
        return None
    z = _array_matrix(conf["normalized"] if normalized else conf["counts"])
    shown = _labels(labels)
    trace = go.Heatmap(
        z=z,
        x=shown,
        y=shown,
        colorscale="Blues",
        zmin=0,
        zmax=1 if normalized else None,
        texttemplate="%{z:.0%}" if normalized else "%{z:,}",
        hovertemplate=(
            "true %{y}, predicted %{x}: "
            + ("%{z:.1%} of the true class" if normalized else "%{z:,} rows")
            + "<extra></extra>"
        ),
        xgap=1,
        ygap=1,
        colorbar={"thickness": 10},
    )
    title = (
        "Confusion matrix: share of each true class predicted as each class"
        if normalized
        else "Confusion matrix: rows per true and predicted class"
    )
    height = max(300, min(560, 160 + 36 * len(labels)))
    layout = _titled(
        height,
        title,
        xaxis=_axis("Predicted class", type="category", side="bottom"),
        yaxis=_axis("True class", type="category", autorange="reversed"),
    )
    return go.Figure(trace, layout=layout)


def _array_matrix(rows: Sequence[Sequence[Any]]) -> np.ndarray:
    return np.asarray(
        [[math.nan if v is None else v for v in row] for row in rows], dtype=float
    )


def _curves_figure(
    curves_by_name: Mapping[str, Sequence[Mapping[str, Any]] | None],
    *,
    x_key: str,
    y_key: str,
    area_key: str,
    area_name: str,
    title: str,
    xaxis: str,
    yaxis: str,
    diagonal: bool,
) -> go.Figure | None:
    traces = []
    for name, curves in curves_by_name.items():
        for curve in curves or []:
            x, y = _array(curve.get(x_key)), _array(curve.get(y_key))
            if not len(x):
                continue
            label = str(name)
            if len(curves) > 1 or len(curves_by_name) == 1:
                label = (
                    f"{curve['label']}"
                    if len(curves_by_name) == 1
                    else f"{name}: {curve['label']}"
                )
            area = curve.get(area_key)
            if area is not None:
                label += f" ({area_name} {area:.3f})"
            traces.append(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=label,
                    hovertemplate=f"{label}<br>{xaxis}: %{{x:.2f}}<br>"
                    f"{yaxis}: %{{y:.2f}}<extra></extra>",
                )
            )
    if not traces:
        return None
    if diagonal:
        traces.insert(
            0,
            go.Scatter(
                x=np.array([0.0, 1.0]),
                y=np.array([0.0, 1.0]),
                mode="lines",
                line=REFERENCE,
                name="random guessing",
                hoverinfo="skip",
            ),
        )
    layout = _titled(
        HEIGHT + 40,
        title,
        xaxis=_axis(xaxis, range=[0, 1], constrain="domain"),
        yaxis=_axis(yaxis, range=[0, 1.02]),
        **_legend(),
    )
    return go.Figure(traces, layout=layout)


def roc_figure(
    curves_by_name: Mapping[str, Sequence[Mapping[str, Any]] | None],
) -> go.Figure | None:
    """ROC curves, overlaid across experiments, with the random-guess diagonal.

    Parameters
    ----------
    curves_by_name : dict of str to list of dict
        Experiment name to its ``evaluate_classification(...)["roc"]`` (None is
        skipped). With one experiment the curves are named by class.

    Returns
    -------
    plotly.graph_objects.Figure or None
        A dashed diagonal then one line per curve (AUC in the legend); None when
        there is no curve.
    """
    return _curves_figure(
        curves_by_name,
        x_key="fpr",
        y_key="tpr",
        area_key="auc",
        area_name="AUC",
        title="ROC curve: positives found against false alarms, over all thresholds",
        xaxis="False positive rate (share of negatives wrongly flagged)",
        yaxis="True positive rate (share of positives found)",
        diagonal=True,
    )


def pr_figure(
    curves_by_name: Mapping[str, Sequence[Mapping[str, Any]] | None],
) -> go.Figure | None:
    """Precision-recall curves, overlaid across experiments.

    Parameters
    ----------
    curves_by_name : dict of str to list of dict
        Experiment name to its ``evaluate_classification(...)["pr"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One line per curve (average precision in the legend); None when there is
        no curve.
    """
    return _curves_figure(
        curves_by_name,
        x_key="recall",
        y_key="precision",
        area_key="average_precision",
        area_name="AP",
        title="Precision-recall curve: how often a flag is right as more "
        "positives are found",
        xaxis="Recall (share of positives found)",
        yaxis="Precision (share of flagged rows that are positive)",
        diagonal=False,
    )


def calibration_figure(calibration: Mapping[str, Any] | None) -> go.Figure | None:
    """Reliability diagram: predicted probability against what happened.

    Parameters
    ----------
    calibration : dict or None
        ``evaluate_classification(...)["calibration"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Three traces: rows per bin (light bars, right axis), the diagonal of a
        perfectly calibrated model, and the model's line; None without data.
    """
    if not calibration or not calibration.get("prob_pred"):
        return None
    top = calibration.get("kind") == "top_class"
    observed = (
        "Share of rows where the top class was right"
        if top
        else f"Share of rows that were {calibration.get('label')}"
    )
    predicted = (
        "Predicted probability of the top class (confidence)"
        if top
        else f"Predicted probability of {calibration.get('label')}"
    )
    pred = _array(calibration["prob_pred"])
    counts = np.asarray(calibration.get("counts") or [], dtype=int)
    traces = [
        go.Bar(
            x=pred,
            y=counts,
            width=0.08,
            yaxis="y2",
            name="rows in the bin",
            marker={"color": "rgba(157, 157, 157, 0.3)"},
            hovertemplate="%{y:,} rows<extra></extra>",
        ),
        go.Scatter(
            x=np.array([0.0, 1.0]),
            y=np.array([0.0, 1.0]),
            mode="lines",
            line=REFERENCE,
            name="perfectly calibrated",
            hoverinfo="skip",
        ),
        go.Scatter(
            x=pred,
            y=_array(calibration["prob_true"]),
            mode="lines+markers",
            name="this model",
            line={"color": BAR_COLOUR},
            customdata=counts,
            hovertemplate="predicted %{x:.2f}, observed %{y:.2f} "
            "(%{customdata:,} rows)<extra></extra>",
        ),
    ]
    layout = _titled(
        HEIGHT + 40,
        "Calibration: do predicted probabilities match how often it happens?",
        xaxis=_axis(predicted, range=[0, 1]),
        yaxis=_axis(observed, range=[0, 1.02]),
        yaxis2={
            "title": {"text": "rows"},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "rangemode": "tozero",
        },
        **_legend(),
    )
    return go.Figure(traces, layout=layout)


def threshold_figure(
    table: Sequence[Mapping[str, Any]] | None, chosen: float | None = None
) -> go.Figure | None:
    """Precision, recall, F1 and the share flagged over all decision thresholds.

    Parameters
    ----------
    table : list of dict
        ``evaluate_classification(...)["thresholds"]``.
    chosen : float, optional
        A threshold to mark with a vertical line.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Four lines (the share flagged dotted); None without a table.
    """
    if not table:
        return None
    x = _array([row["threshold"] for row in table])
    series = [
        ("precision", "Precision", BAR_COLOUR, "solid"),
        ("recall", "Recall", CAUTION_COLOUR, "solid"),
        ("f1", "F1", GOOD_COLOUR, "solid"),
        ("predicted_positive_rate", "Share flagged positive", GREY, "dot"),
    ]
    traces = [
        go.Scatter(
            x=x,
            y=_array([row[key] for row in table]),
            mode="lines",
            name=name,
            line={"color": colour, "dash": dash},
            hovertemplate=f"threshold %{{x:.2f}}: {name} %{{y:.3f}}<extra></extra>",
        )
        for key, name, colour, dash in series
    ]
    layout = _titled(
        HEIGHT + 40,
        "Decision threshold: a row is flagged positive when its probability is at "
        "least the threshold",
        xaxis=_axis("Threshold", range=[0, 1]),
        yaxis=_axis("Score", range=[0, 1.02]),
        hovermode="x unified",
        **_legend(),
    )
    fig = go.Figure(traces, layout=layout)
    if chosen is not None:
        fig.add_vline(
            x=float(chosen),
            line={"color": WARNING_COLOUR, "dash": "dash", "width": 1},
            annotation_text=f"chosen {float(chosen):.2f}",
            annotation_position="top",
        )
    return fig


# --------------------------------------------------------------- regression


def predicted_vs_actual_figure(scatter: Mapping[str, Any] | None) -> go.Figure | None:
    """Predicted against actual values, with the line of perfect predictions.

    Parameters
    ----------
    scatter : dict
        ``evaluate_regression(...)["scatter"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        The dashed diagonal and one marker trace; None without points.
    """
    if not scatter or not scatter.get("actual"):
        return None
    actual, predicted = _array(scatter["actual"]), _array(scatter["predicted"])
    both = np.concatenate([actual, predicted])
    both = both[np.isfinite(both)]
    low, high = (float(both.min()), float(both.max())) if len(both) else (0.0, 1.0)
    cls = _scatter_class(len(actual))
    traces = [
        go.Scatter(
            x=np.array([low, high]),
            y=np.array([low, high]),
            mode="lines",
            line=REFERENCE,
            name="perfect prediction",
            hoverinfo="skip",
        ),
        cls(
            x=actual,
            y=predicted,
            mode="markers",
            name="rows",
            marker={"color": POINT_COLOUR, "size": 5},
            hovertemplate="actual %{x:.4g}, predicted %{y:.4g}<extra></extra>",
        ),
    ]
    layout = _titled(
        HEIGHT + 40,
        "Predicted vs actual" + _sampled_note(scatter, len(actual)),
        xaxis=_axis("Actual value"),
        yaxis=_axis("Predicted value"),
    )
    return go.Figure(traces, layout=layout)


def residuals_figure(residuals: Mapping[str, Any] | None) -> go.Figure | None:
    """Residuals (actual minus predicted) against the predicted value.

    Parameters
    ----------
    residuals : dict
        ``evaluate_regression(...)["residuals"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One marker trace and a zero line; None without points.
    """
    if not residuals or not residuals.get("predicted"):
        return None
    x, y = _array(residuals["predicted"]), _array(residuals["residual"])
    cls = _scatter_class(len(x))
    trace = cls(
        x=x,
        y=y,
        mode="markers",
        marker={"color": POINT_COLOUR, "size": 5},
        hovertemplate="predicted %{x:.4g}, residual %{y:.4g}<extra></extra>",
    )
    layout = _titled(
        HEIGHT,
        "Residuals: above zero the model predicted too low, below too high"
        + _sampled_note(residuals, len(x)),
        xaxis=_axis("Predicted value"),
        yaxis=_axis("Residual (actual - predicted)", zeroline=False),
    )
    fig = go.Figure(trace, layout=layout)
    fig.add_hline(y=0, line=REFERENCE)
    return fig


def residual_hist_figure(hist: Mapping[str, Any] | None) -> go.Figure | None:
    """Distribution of the residuals.

    Parameters
    ----------
    hist : dict
        ``evaluate_regression(...)["residual_hist"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One bar trace over the bin centres; None without bins.
    """
    trace = _histogram_trace(dict(hist or {}))
    if trace is None:
        return None
    layout = _titled(
        HEIGHT - 60,
        "Residual distribution: how far off predictions are, and in which direction",
        xaxis=_axis("Residual (actual - predicted)"),
        yaxis=_axis("rows"),
        bargap=0,
    )
    fig = go.Figure(trace, layout=layout)
    fig.add_vline(x=0, line=REFERENCE)
    return fig


def segment_error_figure(
    by_segment: Mapping[str, Any] | None, column: str
) -> go.Figure | None:
    """Mean absolute error per group of one segment column.

    Parameters
    ----------
    by_segment : dict
        ``evaluate_regression(...)["by_segment"]``.
    column : str
        Which segment column to draw.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Horizontal bars, largest group on top (rmse and rows in the hover); None
        when the column has no groups.
    """
    groups = ((by_segment or {}).get(column) or {}).get("groups") or []
    if not groups:
        return None
    shown = _labels([g["group"] for g in groups])
    trace = go.Bar(
        x=_array([g["mae"] for g in groups])[::-1],
        y=shown[::-1],
        orientation="h",
        marker={"color": BAR_COLOUR},
        customdata=np.array(
            [[g["n"], _nan(g["rmse"]), _nan(g["mean_residual"])] for g in groups],
            dtype=float,
        )[::-1],
        hovertemplate="%{y}: MAE %{x:.4g}, RMSE %{customdata[1]:.4g}, mean residual "
        "%{customdata[2]:.4g} (%{customdata[0]:,} rows)<extra></extra>",
    )
    layout = _titled(
        max(260, min(560, 90 + 24 * len(groups))),
        f"Error by {column}: average size of the error in each group",
        xaxis=_axis("Mean absolute error", rangemode="tozero"),
        yaxis=_axis(column, type="category"),
    )
    return go.Figure(trace, layout=layout)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


# --------------------------------------------------------------- clustering


def silhouette_figure(silhouette: Mapping[str, Any] | None) -> go.Figure | None:
    """Silhouette per cluster: the sorted values of each cluster stacked up.

    Parameters
    ----------
    silhouette : dict
        ``evaluate_clustering(...)["silhouette"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One filled shape per cluster (its height is its share of the sampled
        rows) and a dashed line at the overall mean; None without clusters
        (e.g. a single cluster).
    """
    clusters = (silhouette or {}).get("clusters") or []
    if not clusters:
        return None
    total = sum(c["n_sampled"] for c in clusters) or 1
    traces = []
    bottom = 0.0
    for cluster in clusters:
        values = _array(cluster["quantiles"])[::-1]  # largest at the bottom
        height = cluster["n_sampled"] / total
        y = bottom + np.linspace(0.0, height, len(values))
        traces.append(
            go.Scatter(
                x=values,
                y=y,
                mode="lines",
                fill="tozerox",
                name=f"cluster {cluster['cluster']}",
                line={"width": 1},
                hovertemplate=f"cluster {cluster['cluster']}: mean "
                f"{_nan(cluster['mean']):.2f}, {cluster['n_sampled']:,} rows"
                "<extra></extra>",
            )
        )
        bottom += height + 0.02
    layout = _titled(
        HEIGHT + 40,
        "Silhouette per cluster: near 1 a row sits well inside its cluster, below 0 "
        "it is closer to another",
        xaxis=_axis("Silhouette value", range=[-1, 1]),
        yaxis=_axis("Rows of each cluster, sorted", showticklabels=False),
        **_legend(),
    )
    fig = go.Figure(traces, layout=layout)
    overall = silhouette.get("overall")
    if overall is not None:
        fig.add_vline(
            x=overall,
            line={"color": WARNING_COLOUR, "dash": "dash", "width": 1},
            annotation_text=f"overall {overall:.2f}",
            annotation_position="top",
        )
    return fig


def cluster_sizes_figure(sizes: Sequence[Mapping[str, Any]] | None) -> go.Figure | None:
    """Rows per cluster, noise in grey.

    Parameters
    ----------
    sizes : list of dict
        ``evaluate_clustering(...)["sizes"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One bar trace; None without clusters.
    """
    if not sizes:
        return None
    names = [str(s["cluster"]) for s in sizes]
    trace = go.Bar(
        x=names,
        y=np.asarray([s["n"] for s in sizes], dtype=int),
        marker={"color": [GREY if n == "noise" else BAR_COLOUR for n in names]},
        customdata=_array([s.get("share") for s in sizes]),
        hovertemplate="cluster %{x}: %{y:,} rows (%{customdata:.1%})<extra></extra>",
    )
    layout = _titled(
        HEIGHT - 60,
        "Cluster sizes: rows in each cluster",
        xaxis=_axis("Cluster", type="category"),
        yaxis=_axis("rows", rangemode="tozero"),
    )
    return go.Figure(trace, layout=layout)


def projection_figure(projection: Mapping[str, Any] | None) -> go.Figure | None:
    """The rows on a 2-D map of the model inputs, coloured by cluster.

    Parameters
    ----------
    projection : dict
        ``evaluate_clustering(...)["projection"]``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One marker trace per cluster (Scattergl above 10,000 points); None
        without points.
    """
    if not projection or not projection.get("x"):
        return None
    x, y = _array(projection["x"]), _array(projection["y"])
    labels = np.asarray(projection["labels"], dtype=object)
    cls = _scatter_class(len(x))
    names = sorted(set(labels.tolist()), key=lambda v: (v == "noise", len(v), v))
    traces = []
    for name in names:
        mask = labels == name
        traces.append(
            cls(
                x=x[mask],
                y=y[mask],
                mode="markers",
                name="noise" if name == "noise" else f"cluster {name}",
                marker={"size": 5, "opacity": 0.6}
                | ({"color": GREY} if name == "noise" else {}),
                hovertemplate=f"cluster {name}<extra></extra>",
            )
        )
    explained = projection.get("explained_variance") or [None, None]

    def axis_title(i: int) -> str:
        share = explained[i] if i < len(explained) else None
        text = f"Component {i + 1}"
        return text + (f" ({share:.0%} of the variance)" if share is not None else "")

    method = "PCA" if projection.get("method") == "pca" else "truncated SVD"
    layout = _titled(
        HEIGHT + 60,
        f"Clusters on a 2-D map of the model inputs ({method})"
        + _sampled_note(projection, len(x)),
        xaxis=_axis(axis_title(0), zeroline=False),
        yaxis=_axis(axis_title(1), zeroline=False),
        **_legend(),
    )
    return go.Figure(traces, layout=layout)


# ------------------------------------------------------ importance, learning


def importance_figure(
    rows: Sequence[Mapping[str, Any]] | None, top: int = 20
) -> go.Figure | None:
    """Permutation importance of the input columns, most important on top.

    Parameters
    ----------
    rows : list of dict
        ``permutation_importance_table(...)``.
    top : int, default=20
        How many columns to draw.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Horizontal bars with the spread over repeats as error bars; None
        without rows.
    """
    rows = list(rows or [])[:top]
    if not rows:
        return None
    shown = _labels([r["feature"] for r in rows])
    means = _array([r["mean"] for r in rows])
    colours = [BAR_COLOUR if (m >= 0) else GREY for m in np.nan_to_num(means)]
    trace = go.Bar(
        x=means[::-1],
        y=shown[::-1],
        orientation="h",
        marker={"color": colours[::-1]},
        error_x={"type": "data", "array": _array([r["std"] for r in rows])[::-1]},
        hovertemplate="%{y}: score drops by %{x:.4f} when shuffled<extra></extra>",
    )
    layout = _titled(
        max(260, min(600, 90 + 24 * len(rows))),
        "Feature importance: how much the score drops when a column is shuffled",
        xaxis=_axis("Drop in validation score"),
        yaxis=_axis("", type="category"),
    )
    return go.Figure(trace, layout=layout)


def learning_curve_figure(data: Mapping[str, Any] | None) -> go.Figure | None:
    """Training and validation score as the training set grows.

    Parameters
    ----------
    data : dict
        ``learning_curve_data(...)``.

    Returns
    -------
    plotly.graph_objects.Figure or None
        For training and validation each a band (mean +/- one standard deviation
        over folds, two traces) and a line; the dummy baseline as a dashed line.
        The verdict is the title. None without sizes.
    """
    if not data or not data.get("sizes"):
        return None
    sizes = np.asarray(data["sizes"], dtype=float)
    traces = []
    for key, name, colour, fill in (
        ("train", "training score", BAR_COLOUR, "rgba(76, 120, 168, 0.15)"),
        ("val", "validation score", CAUTION_COLOUR, "rgba(245, 133, 24, 0.15)"),
    ):
        mean = _array(data[f"{key}_mean"])
        std = np.nan_to_num(_array(data[f"{key}_std"]))
        traces.append(
            go.Scatter(
                x=np.concatenate([sizes, sizes[::-1]]),
                y=np.concatenate([mean + std, (mean - std)[::-1]]),
                fill="toself",
                fillcolor=fill,
                # lines only: plotly's default marks every vertex of the band
                mode="lines",
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                name=f"{name} spread",
            )
        )
        traces.append(
            go.Scatter(
                x=sizes,
                y=mean,
                mode="lines+markers",
                name=name,
                line={"color": colour},
                hovertemplate=f"{name} with %{{x:,}} rows: %{{y:.4g}}<extra></extra>",
            )
        )
    verdict = (data.get("verdict") or {}).get("text") or "Learning curve"
    title = verdict.split(":")[0] if ":" in verdict else verdict
    direction = (
        "higher is better"
        if data.get("higher_is_better", True)
        else ("lower is better")
    )
    layout = _titled(
        HEIGHT + 40,
        f"Learning curve: {title.lower()}",
        xaxis=_axis("Training rows"),
        yaxis=_axis(f"Score ({direction})"),
        **_legend(),
    )
    fig = go.Figure(traces, layout=layout)
    baseline = data.get("baseline")
    if baseline is not None:
        fig.add_hline(
            y=baseline,
            line=REFERENCE,
            annotation_text="dummy model",
            annotation_position="bottom right",
        )
    return fig


# ------------------------------------------------------------------ fairness


def fairness_figure(
    report_for_attribute: Mapping[str, Any] | None, bound: float
) -> go.Figure | None:
    """The metric, selection rate and true positive rate per group.

    Parameters
    ----------
    report_for_attribute : dict
        One value of ``fairness_report(...)``.
    bound : float
        The allowed difference; drawn as a dotted line ``bound`` below the
        highest selection rate (groups under it are past the demographic-parity
        bound) or, without selection rates, below the best metric.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Grouped bars, one trace per measure that has values (regression: the
        metric only); None without groups.
    """
    groups = [g for g in (report_for_attribute or {}).get("groups") or []]
    if not groups:
        return None
    metric = report_for_attribute.get("metric") or "metric"
    names = _labels([g["group"] for g in groups])
    measures = [
        ("metric", metric),
        ("selection_rate", "selection rate (share predicted positive)"),
        ("true_positive_rate", "true positive rate (share of positives found)"),
    ]
    traces = []
    for key, label in measures:
        values = _array([g.get(key) for g in groups])
        if not np.isfinite(values).any():
            continue
        traces.append(
            go.Bar(
                x=names,
                y=values,
                name=label,
                customdata=np.asarray([g["n"] for g in groups], dtype=int),
                hovertemplate=f"%{{x}}: {label} %{{y:.3f}} (%{{customdata:,}} rows)"
                "<extra></extra>",
            )
        )
    if not traces:
        return None
    flagged = report_for_attribute.get("flagged")
    status = "differences beyond the bound" if flagged else "within the bound"
    layout = _titled(
        HEIGHT + 40,
        f"Fairness by group: {status} ({float(bound):.2f})",
        xaxis=_axis("Group", type="category"),
        yaxis=_axis("Value"),
        barmode="group",
        **_legend(),
    )
    fig = go.Figure(traces, layout=layout)
    rates = [g.get("selection_rate") for g in groups if g.get("included", True)]
    rates = [r for r in rates if r is not None]
    if rates:
        fig.add_hline(
            y=max(rates) - float(bound),
            line={"color": WARNING_COLOUR, "dash": "dot", "width": 1},
            annotation_text="highest selection rate minus the bound",
            annotation_position="top left",
        )
    return fig


# --------------------------------------------------------------- team views


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.number)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
    )


def _sort_key(value: Any) -> tuple:
    return (0, float(value), "") if _is_number(value) else (1, 0.0, str(value))


def parallel_coordinates_figure(
    rows: Sequence[Mapping[str, Any]], params: Sequence[str], metric: str
) -> go.Figure | None:
    """Parameters of many experiments against their metric, one line each.

    Parameters
    ----------
    rows : list of dict
        One per experiment: parameter values and the metric under ``metric``
        (rows without a metric value are left out).
    params : list of str
        Which parameters to draw, in order.
    metric : str
        The key of the metric; the last axis, and the line colour.

    Returns
    -------
    plotly.graph_objects.Figure or None
        One parcoords trace. A parameter whose values are all numbers is a
        numeric axis; any other (text, booleans, missing values) is drawn as
        categories coded 0..k-1 with ``tickvals``/``ticktext``. None without rows.
    """
    rows = [r for r in rows if _is_number(r.get(metric))]
    if not rows:
        return None
    dimensions = []
    for param in params:
        values = [r.get(param) for r in rows]
        if all(_is_number(v) for v in values):
            dimensions.append(
                {"label": str(param), "values": np.asarray(values, dtype=float)}
            )
            continue
        categories = sorted(
            {str(v) if not _is_number(v) else v for v in values}, key=_sort_key
        )
        codes = {c: i for i, c in enumerate(categories)}
        dimensions.append(
            {
                "label": str(param),
                "values": np.asarray(
                    [codes[str(v) if not _is_number(v) else v] for v in values],
                    dtype=float,
                ),
                "tickvals": list(range(len(categories))),
                "ticktext": [str(c) for c in categories],
                "range": [-0.5, max(0.5, len(categories) - 0.5)],
            }
        )
    scores = np.asarray([r[metric] for r in rows], dtype=float)
    dimensions.append({"label": str(metric), "values": scores})
    trace = go.Parcoords(
        dimensions=dimensions,
        line={
            "color": scores,
            "colorscale": "Viridis",
            "showscale": True,
            "colorbar": {"title": {"text": str(metric)}, "thickness": 10},
        },
    )
    layout = _titled(
        HEIGHT + 60,
        f"Parameters against {metric}: one line per experiment, coloured by {metric}",
        margin={"l": 48, "r": 48, "t": 80, "b": 24},
    )
    return go.Figure(trace, layout=layout)


def leaderboard_figure(
    rows: Sequence[Mapping[str, Any]],
    metric: str,
    threshold: float | None = None,
    higher_is_better: bool = True,
) -> go.Figure | None:
    """Experiments ranked on the primary metric, with the success threshold.

    Parameters
    ----------
    rows : list of dict
        ``{"name", "score", "baseline"}`` per experiment (``baseline`` True for
        the dummy model); rows without a score are left out.
    metric : str
        The metric's name, for the axis.
    threshold : float, optional
        The success threshold, drawn as a dashed vertical line.
    higher_is_better : bool, default=True
        Ranks best first either way.

    Returns
    -------
    plotly.graph_objects.Figure or None
        Horizontal bars, best on top, the baseline in grey and the rows that
        miss the threshold in a caution colour; None without scores.
    """
    scored = [r for r in rows if _is_number(r.get("score"))]
    if not scored:
        return None
    scored.sort(key=lambda r: -r["score"] if higher_is_better else r["score"])

    def colour(row: Mapping[str, Any]) -> str:
        if row.get("baseline"):
            return GREY
        if threshold is None:
            return BAR_COLOUR
        passes = (
            row["score"] >= threshold if higher_is_better else row["score"] <= threshold
        )
        return BAR_COLOUR if passes else CAUTION_COLOUR

    # Shorten the names first so the baseline mark is never cut off.
    shown = [
        f"{label} (baseline)" if r.get("baseline") else label
        for label, r in zip(_labels([r["name"] for r in scored]), scored, strict=True)
    ]
    trace = go.Bar(
        x=np.asarray([r["score"] for r in scored], dtype=float)[::-1],
        y=shown[::-1],
        orientation="h",
        marker={"color": [colour(r) for r in scored][::-1]},
        hovertemplate="%{y}: %{x:.4g}<extra></extra>",
    )
    direction = "higher is better" if higher_is_better else "lower is better"
    layout = _titled(
        max(260, min(700, 90 + 24 * len(scored))),
        f"Leaderboard on {metric} ({direction}), best on top",
        xaxis=_axis(metric),
        yaxis=_axis("", type="category"),
    )
    fig = go.Figure(trace, layout=layout)
    if threshold is not None:
        fig.add_vline(
            x=float(threshold),
            line={"color": WARNING_COLOUR, "dash": "dash", "width": 1},
            annotation_text=f"success threshold {float(threshold):.4g}",
            annotation_position="top",
        )
    return fig
