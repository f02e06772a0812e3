"""Prediction protocols: thin translators of bodies and errors around the one
predict path (projects.services.serving.deployment_predict).

- native.py: ``POST /deployments/<endpoint slug>/predict`` (docs/deployment.md,
  "Predictions").
"""
