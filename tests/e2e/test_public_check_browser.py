"""A phone opens the QR: the demo's share code, decoded from its PNG by a real decoder, opened
in a real browser (headless Chromium from Debian, driven by Playwright) — «Действует» and the
masked name; after the citizen revokes the code, «Код недействителен». Screenshots of both go
under ``$EMK_VAR_DIR/screenshots``.

Chromium is installed by ``make`` (``deploy/local/install-chromium.sh``); without it this test
fails saying what to install — it is never skipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.async_api import async_playwright

from emk_devstack.stack import Stack

CHROMIUM = os.environ.get("EMK_CHROMIUM", "/usr/bin/chromium")


async def test_a_phone_opens_the_qr_and_sees_the_book_valid_then_the_code_revoked(
    platform: Stack, demo: tuple[dict[str, Any], list[str]]
) -> None:
    record, said = demo
    assert any(line.startswith("16.") for line in said)
    assert any(line.startswith("18.") for line in said)
    share = record["share"]
    # The demo printed the page and HR's list: the worker is there, valid, with a position.
    assert "Действует" in record["check_page"]
    [listed] = record["employer_books"]["items"]
    assert listed["valid"] is True
    assert listed["holder"] == "Иванова М. С."

    decoded = zxingcpp.read_barcodes(Image.open(record["qr_png"]))
    assert [d.text for d in decoded] == [share["url"]]
    url = decoded[0].text
    assert url.startswith(platform.gateway_url + "/check/")  # the phone goes through the gateway

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `make install` (Debian's chromium package), "
            "or set EMK_CHROMIUM to a Chromium binary"
        )
    shots = platform.var_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            phone = await browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, java_script_enabled=False
            )
            page = await phone.new_page()
            shown = await page.goto(url)
            assert shown is not None
            assert shown.status == 200
            text = await page.inner_text("main")
            assert "Действует" in text
            assert "Иванова М. С." in text
            assert record["book"]["number"] in text
            assert "Мария" not in text  # the name is masked
            await page.screenshot(path=str(shots / "check-valid.png"), full_page=True)

            async with httpx.AsyncClient(timeout=30) as http:
                revoked = await http.delete(
                    f"{platform.service_url('records')}/api/v1/records/book/shares/{share['code']}",
                    headers={"Authorization": f"Bearer {record['citizen_token']}"},
                )
            assert revoked.status_code == 204

            again = await page.reload()
            assert again is not None
            assert again.status == 404
            text = await page.inner_text("main")
            assert "Код недействителен" in text
            assert "Иванова" not in text
            await page.screenshot(path=str(shots / "check-revoked.png"), full_page=True)
        finally:
            await browser.close()
    assert (shots / "check-valid.png").stat().st_size > 1000
    assert (shots / "check-revoked.png").stat().st_size > 1000
