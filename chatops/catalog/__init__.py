"""The deployment catalog: what people say in chat -> what Zadig needs.

One YAML file (``catalog.yml``) replaces the article's hard-coded ``zadigInfo`` map. It is the
single source for the NLU synonyms/lookups/jieba dictionary (``scripts/generate_nlu.py``), the
Zadig simulator's world and the actions' validation. Loading validates every field and reports
problems as ``<file>:<line>: <problem>`` so a broken edit is easy to find.

- `chatops.catalog.model`: the dataclasses and name lookups;
- `chatops.catalog.loader`: parsing and validation, writing;
- `chatops.catalog.refresh`: merging what a live Zadig lists into a catalog.
"""

from chatops.catalog.loader import dump_catalog, load_catalog, parse_catalog
from chatops.catalog.model import (
    DEFAULT_PATH,
    KEY_PATTERN,
    Catalog,
    Environment,
    Service,
)
from chatops.catalog.reader import CatalogError

__all__ = [
    "DEFAULT_PATH",
    "KEY_PATTERN",
    "Catalog",
    "CatalogError",
    "Environment",
    "Service",
    "dump_catalog",
    "load_catalog",
    "parse_catalog",
]
