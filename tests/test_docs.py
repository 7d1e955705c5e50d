"""`make docs`: the dbt documentation site as one self-contained HTML file that renders offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bi_fixtures import _fail_or_skip

REPO = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).parent / "dbt")


def test_the_dbt_docs_site_is_one_file_that_renders_offline(small_company_snapshot, tmp_path):
    # the command of `make docs`, into a folder of this test
    subprocess.run(
        [DBT, "docs", "generate", "--static", "--project-dir", "dbt", "--profiles-dir", "dbt",
         "--target-path", str(tmp_path / "target")],
        cwd=REPO, env={**os.environ, "S2S_WAREHOUSE": str(small_company_snapshot["warehouse"])},
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    site = tmp_path / "target" / "static_index.html"
    assert site.stat().st_size > 1_000_000  # manifest and catalog inside

    chromium = shutil.which("chromium")
    if not chromium:
        _fail_or_skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{site.as_uri()}#!/model/model.s2s_warehouse.ingest_audit")
            page.get_by_text("Ingestion accounting per drop (file) from meta.ingest_audit").first.wait_for(
                timeout=60_000
            )
            text = page.inner_text("body")
        finally:
            browser.close()
    assert "rows_quarantined" in text  # the columns with their descriptions
    assert [u for u in requested if not u.startswith(("file:", "data:", "about:", "blob:"))] == []
