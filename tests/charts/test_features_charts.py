"""The step 4 figure: model inputs per source column."""

from __future__ import annotations

from projects.charts.features import (
    COLOUR,
    INTERACTION_COLOUR,
    MAX_BARS,
    outputs_per_column_figure,
)


def test_it_draws_one_bar_per_source_column_in_spec_order():
    fig = outputs_per_column_figure(
        {"age": 1, "city": 3, "age*income": 1}, interactions={"age*income"}
    )
    bar = fig.data[0]
    assert list(bar.y) == ["age", "city", "age*income"]
    assert list(bar.x) == [1, 3, 1]
    assert list(bar.marker.color) == [COLOUR, COLOUR, INTERACTION_COLOUR]


def test_it_sums_the_smallest_columns_beyond_the_bar_limit():
    by_column = {f"c{i}": 1 for i in range(MAX_BARS + 10)}
    by_column["wide"] = 50
    bar = outputs_per_column_figure(by_column).data[0]
    assert len(bar.y) == MAX_BARS
    assert "wide" in bar.y
    assert bar.y[-1] == f"{MAX_BARS + 11 - (MAX_BARS - 1)} other columns"
    assert sum(bar.x) == sum(by_column.values())


def test_it_draws_nothing_without_columns():
    assert outputs_per_column_figure({}) is None
