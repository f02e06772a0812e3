"""The one error type for a user's recipe, split or feature spec that cannot work.

Recipes, splits and feature specs are data a user writes (in a form or as JSON).
Whatever is wrong with them becomes a :class:`SpecError` that names the offending
field with a dotted path (``steps.2.column``, ``split.train``, ``columns.age.scaler``)
so the page can put the message next to that field and the API can return it.

Pure Python + pydantic: never imports Django.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import ValidationError

__all__ = ["SpecError", "spec_error_from_pydantic"]


class SpecError(ValueError):
    """A user-caused problem with a recipe, split or feature spec.

    Parameters
    ----------
    message : str
        One line for the person who wrote the spec; names the step and field.
    field : str
        Dotted path of the offending field, e.g. ``"steps.2.column"``.
    """

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"SpecError({self.message!r}, field={self.field!r})"


def spec_error_from_pydantic(
    exc: ValidationError, *, prefix: str = "", tags: Collection[str] = ()
) -> SpecError:
    """Turn pydantic's first validation error into a :class:`SpecError`.

    Parameters
    ----------
    exc : pydantic.ValidationError
        What ``Model.model_validate`` raised.
    prefix : str, optional
        Prepended to the error's location, e.g. ``"split"``.
    tags : collection of str, optional
        Discriminator values of tagged unions; pydantic puts the tag in the
        location (``steps.0.impute.strategy``), which is left out here.

    Returns
    -------
    SpecError
        With ``field`` the dotted location and a message that names it.
    """
    first = exc.errors(include_url=False)[0]
    parts = [
        str(p)
        for p in first.get("loc", ())
        if not (isinstance(p, str) and (p in tags or p.startswith("function-")))
    ]
    field = ".".join(([prefix] if prefix else []) + parts) or prefix or "body"
    message = first.get("msg", "Invalid value")
    message = message.removeprefix("Value error, ")
    return SpecError(f"{field}: {message}", field=field)
