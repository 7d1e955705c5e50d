"""Writes the documents of this folder that are rendered from what the code reads.

    .venv/bin/python docs/render.py

raw_contract.md from the entity contracts (render_contracts.py), marts.md from the marts' dbt YAML,
doc blocks and KPI seed (render_marts.py). tests/test_self_contained_docs.py fails when a committed
document differs from its rendering.
"""

from __future__ import annotations

import sys
from pathlib import Path

import render_contracts
import render_marts

DOCS = Path(__file__).resolve().parent
DOCUMENTS = {"raw_contract.md": render_contracts.render, "marts.md": render_marts.render}


def main() -> int:
    for name, render in DOCUMENTS.items():
        (DOCS / name).write_text(render(), encoding="utf-8")
        print(f"wrote docs/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
