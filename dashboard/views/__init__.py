"""The dashboard's pages (views), one module each. Adding a page is adding one file here that defines

    PAGE = Page(key="customer_health", order=65, requires=("customer_health",), render=render)

`requires` names the marts the page reads: a page shows only when the published snapshot has them,
so a page for a mart another release adds can ship before the mart does. The menu lists pages by
`order`; the title is the label `page_<key>` of labels.yml. (The folder is not called `pages`:
Streamlit would make each file beside app.py in `pages/` a page of its own.)
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from dashboard.data import Snapshot
from dashboard.i18n import label


@dataclass(frozen=True)
class Filters:
    month: str  # YYYY-MM
    region: str  # "*" = all regions
    product_line: str  # "*" = all product lines


@dataclass(frozen=True)
class Context:
    snapshot: Snapshot
    language: str
    filters: Filters

    def t(self, key: str, **values: object) -> str:
        return label(key, self.language, **values)


@dataclass(frozen=True)
class Page:
    key: str
    order: int
    requires: tuple[str, ...]
    render: Callable[[Context], None]
    # filters the page does not apply (said on the page, so nobody reads unfiltered numbers as filtered)
    ignores: tuple[str, ...] = ()

    def title(self, language: str) -> str:
        return label(f"page_{self.key}", language)


def all_pages() -> list[Page]:
    pages = []
    for module in pkgutil.iter_modules(__path__):
        page = getattr(importlib.import_module(f"{__name__}.{module.name}"), "PAGE", None)
        if isinstance(page, Page):
            pages.append(page)
    return sorted(pages, key=lambda p: p.order)
