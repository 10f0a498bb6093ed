"""The catalog page in a real headless Chromium (Debian's ``chromium``, driven by playwright): the API key
entered once, a Chinese search, a row opened with its ways to get it, fill-mask answered by a converted
model. A screenshot is kept as an artifact (``ZHPLM_TEST_ARTIFACTS`` or the test's tmp dir)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="zhplm[serve] is not installed")
sync_api = pytest.importorskip("playwright.sync_api")

import zhplm  # noqa: E402
from helpers_converted import converted_bert  # noqa: E402
from helpers_serve import running  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "page-key-456"


@pytest.mark.oracle
@pytest.mark.skipif(
    CHROMIUM is None, reason="no system chromium (scripts/setup.sh installs Debian's package)"
)
def test_search_open_a_row_and_fill_mask_in_a_real_browser(tmp_path: Path) -> None:
    bert = converted_bert(tmp_path)
    folder = tmp_path / "tiny-bert"
    shutil.move(str(bert), str(folder))
    text = "中国的首都是[MASK]京"
    expected = zhplm.pipeline("fill-mask", folder, top_k=5)(text)[0]
    artifacts = Path(os.environ.get("ZHPLM_TEST_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    with running({"tiny-bert": folder}, api_key=KEY) as (url, _), sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('error').textContent.includes('401')")
            page.fill("#api-key", KEY)
            page.click("#key-form button")
            page.wait_for_selector("#rows tbody tr")
            page.fill("#q", "法律")
            page.click("#search-btn")
            page.wait_for_selector("#rows tbody tr[data-id='legal-electra-base']")
            ids = page.eval_on_selector_all("#rows tbody tr", "rows => rows.map(r => r.dataset.id)")
            legal = [r.id for r in zhplm.search("法律")]
            assert ids[: len(legal)] == legal and "openclap-criminal" in ids
            page.click("#rows tbody tr[data-id='legal-electra-base']")
            page.wait_for_selector("#d-plan li")
            assert "legal-electra-base" in page.text_content("#d-name")
            assert "ELECTRA" in page.text_content("#d-facts")
            record = zhplm.info("legal-electra-base")
            from zhplm.sources.plan import plan

            ways = plan(record)
            shown = page.eval_on_selector_all("#d-plan li", "items => items.map(i => i.textContent)")
            assert [s.split(" — ")[0] for s in shown] == [
                a.describe() for a in (*ways.automatic, *ways.manual)
            ]
            assert "not in the store" in page.text_content("#d-store")
            assert page.input_value("#try-model") == "tiny-bert"
            page.fill("#try-text", text)
            page.click("#try-run")
            page.wait_for_selector("#try-out li")
            answers = page.eval_on_selector_all(
                "#try-out li", "items => items.map(i => i.firstChild.textContent)"
            )
            assert answers == [p.sequence for p in expected]
            page.screenshot(path=str(artifacts / "catalog-page.png"), full_page=True)
        finally:
            browser.close()
    assert (artifacts / "catalog-page.png").stat().st_size > 10_000
