"""The keys panel of a deployment's page: predict URL, curl example, keys."""

from __future__ import annotations

import json
import shlex

from django import template

from projects.access import can
from projects.ml.serving import example_row
from projects.models import Deployment, Role
from projects.services.deployments import live_deployment
from projects.services.keys import deployment_keys_of

register = template.Library()


def curl_example(url: str, schema: dict, secret: str | None = None) -> str:
    """A ready-to-paste shell snippet: the key in a variable, then one row."""
    body = json.dumps({"records": [example_row(schema)]})
    key = shlex.quote(secret) if secret else "'<your deployment key>'"
    return (
        f"export LIFECYCLE_KEY={key}\n"
        f"curl -X POST {shlex.quote(url)} \\\n"
        '  -H "Authorization: Bearer $LIFECYCLE_KEY" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )


@register.inclusion_tag("projects/_deployment_keys_panel.html", takes_context=True)
def deployment_keys_panel(context, deployment: Deployment, new_key=None, error=None):
    request = context["request"]
    endpoint = deployment.endpoint
    url = request.build_absolute_uri(endpoint.predict_path)
    live = live_deployment(endpoint)
    schema = (live or deployment).model_version.schema or {}
    new_key = new_key or context.get("new_key")
    return {
        "deployment": deployment,
        "project": deployment.project,
        "endpoint": endpoint,
        "live": live,
        "predict_url": url,
        "curl": curl_example(url, schema, new_key[1] if new_key else None),
        "keys": list(deployment_keys_of(deployment)),
        "new_key": new_key,
        "key_error": error or context.get("key_error"),
        "can_manage": can(request.user, deployment.project, Role.SCIENTIST),
        "csrf_token": context.get("csrf_token"),
    }
