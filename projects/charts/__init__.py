"""Pure plotly figures built from the aggregated dicts of ``projects.ml``.

Nothing here imports Django or touches raw rows.
"""
