#!/usr/bin/env python3
"""Exit 0 if the web server's /api/health answers 200 (Docker/compose healthcheck).

Sends a Host from ALLOWED_HOSTS (Django refuses others) and X-Forwarded-Proto:
https (production mode redirects plain http otherwise). Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.request

port = os.environ.get("PORT", "8000")
hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",")]
host = next((h.lstrip(".") for h in hosts if h and h != "*"), "localhost")
request = urllib.request.Request(
    f"http://127.0.0.1:{port}/api/health",
    headers={"Host": host, "X-Forwarded-Proto": "https"},
)
try:
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:
    print(f"healthcheck: {exc}", file=sys.stderr)
    sys.exit(1)
