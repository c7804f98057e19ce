"""Container health check without curl: exit 0 when the URL answers 2xx within 4 s.

Usage: python healthcheck.py http://127.0.0.1:5005/   (Docker's HEALTHCHECK, compose)
"""

import sys
import urllib.request

try:
    with urllib.request.urlopen(sys.argv[1], timeout=4) as answer:
        sys.exit(0 if 200 <= answer.status < 300 else 1)
except Exception as exc:  # any failure is "unhealthy"; say why in `docker inspect`
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
