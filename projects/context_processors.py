"""Template context for every page: the approval count in the navigation."""

from __future__ import annotations


def approvals(request) -> dict:
    """``pending_approvals``: requests the user may decide, counted only when a
    template asks (one COUNT query; pages without the navigation pay nothing)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"pending_approvals": 0}

    def count() -> int:
        from projects.services.deployments import pending_for

        return pending_for(user).count()

    return {"pending_approvals": count}
