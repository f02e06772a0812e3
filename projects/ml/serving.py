"""Serving: raw rows in, predictions out.

A registered model version is one :class:`ServingPipeline`: the fitted cleaning
recipes that made the training version from the uploaded file, replayed in serving
mode (``refit=False``: the values learned in training; steps that remove rows are
skipped), then the experiment's fitted scikit-learn pipeline (feature transformer
and estimator). A raw row from the original file therefore gets the prediction the
experiment would give its cleaned row.

Pure pandas + scikit-learn: no Django.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from projects.ml.cleaning import Recipe, apply_recipe

__all__ = ["ServingPipeline"]


class ServingPipeline:
    """The fitted recipes, then the fitted pipeline.

    Parameters
    ----------
    recipes : list of dict
        Fitted recipes (``Recipe.model_dump()``), oldest first: the first made the
        first prepared version from the upload.
    pipeline : sklearn.pipeline.Pipeline
        The experiment's fitted pipeline.
    input_columns : list of str
        The columns the pipeline was fitted on, in order.
    task_type : str
        ``classification``, ``regression`` or ``clustering``.
    classes : list, optional
        The class labels, in the order of ``predict_proba``'s columns.
    """

    def __init__(
        self,
        *,
        recipes: list[dict],
        pipeline: Any,
        input_columns: list[str],
        task_type: str,
        classes: list | None = None,
    ) -> None:
        self.recipes = [Recipe.model_validate(r).model_dump() for r in recipes]
        self.pipeline = pipeline
        self.input_columns = list(input_columns)
        self.task_type = task_type
        self.classes = list(classes) if classes is not None else None

    def prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Replay the recipes on raw rows; the pipeline's input columns, in order."""
        out = X
        for recipe in self.recipes:
            out, _fitted, _report = apply_recipe(
                out, Recipe.model_validate(recipe), refit=False, serving=True
            )
        return out.reindex(columns=self.input_columns)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict(self.prepare(X))

    @property
    def has_proba(self) -> bool:
        return self.task_type == "classification" and hasattr(
            self.pipeline, "predict_proba"
        )

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(self.prepare(X))
