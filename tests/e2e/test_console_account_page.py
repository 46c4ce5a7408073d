"""The account page in a real browser (Chromium through Playwright), with no Asterisk (``support.app``): a user
reaches it from their name in the header and changes their password there, in Arabic; a wrong current password is
refused on the page, and the new password is the one that signs in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from support.app import running_service

from console.app import CONSOLE
from profiles.model import load_profile

pytestmark = pytest.mark.e2e

PROFILE = load_profile(Path(__file__).parents[2] / "profiles" / "moh-151.yaml")
OLD = "e2e account password 1"
NEW = "e2e account password 2"


async def signed_in(chromium: Any, base: str, password: str) -> Any:
    context = await chromium.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(base + "/login")
    await page.fill('input[name="name"]', "مراقب")
    await page.fill('input[name="password"]', password)
    async with page.expect_navigation():
        await page.click('button[type="submit"]')
    return page


async def test_a_viewer_changes_their_password_on_the_account_page(tmp_path, chromium):
    async with running_service(tmp_path, profile=PROFILE) as running:
        await running.app[CONSOLE].store.add_user("مراقب", OLD, "viewer", "ar")
        base = str(running.client.make_url("")).rstrip("/")
        page = await signed_in(chromium, base, OLD)
        async with page.expect_navigation():
            await page.click("#nav-account")
        assert page.url == base + "/account"
        await page.fill('input[name="old_password"]', "not the current one")
        await page.fill('input[name="new_password"]', NEW)
        await page.fill('input[name="new_password_again"]', NEW)
        async with page.expect_navigation():
            await page.click("#password-form button[type=submit]")
        await expect(page.locator("#account-error")).to_have_text("كلمة المرور الحالية غير صحيحة.")
        await page.fill('input[name="old_password"]', OLD)
        await page.fill('input[name="new_password"]', NEW)
        await page.fill('input[name="new_password_again"]', NEW)
        async with page.expect_navigation():
            await page.click("#password-form button[type=submit]")
        await expect(page.locator("#account-changed")).to_be_visible()
        await page.context.close()
        assert await running.app[CONSOLE].store.authenticate("مراقب", NEW) is not None
        assert await running.app[CONSOLE].store.authenticate("مراقب", OLD) is None
