"""Export the audit trail as JSON lines (oldest first): ``make audit-export > audit.jsonl``.

Reads the database the bot is configured with (``CHATOPS_DB_URL`` / ``CHATOPS_DB``, as
chatops/settings.py). ``--since`` takes an ISO date or time (in the catalog's timezone).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import List, Optional

from chatops.catalog import load_catalog
from chatops.settings import from_env
from chatops.state import AuditLog, Database


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--since", help="only events from this date/time, e.g. 2026-11-01")
    args = parser.parse_args(argv)
    settings = from_env(dict(os.environ))
    since = None
    if args.since:
        tz = load_catalog(settings.catalog_path).timezone
        since = datetime.fromisoformat(args.since).replace(tzinfo=tz).timestamp()
    db = Database.open(settings.db_url)
    try:
        for event in AuditLog(db).events(since=since):
            sys.stdout.write(json.dumps(event.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
