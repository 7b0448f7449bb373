"""Chromium (Debian's, driven by Playwright) in the Airflow UI: logging in, opening a plugin view."""
from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def log_in(page, server, user: str) -> None:
    page.goto(server.url + "/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", server.passwords[user])
    page.click("button[type=submit]")


def open_view(page, name: str):
    """The plugin view ``name``, from Airflow's navigation: there itself, or, when a plugin has
    several, in its Plugins menu. Returns the frame the view is shown in."""
    from playwright.sync_api import expect
    link, menu = page.get_by_role("link", name=name), page.get_by_role("button", name="Plugins")
    expect(link.or_(menu).first).to_be_visible(timeout=60000)
    if not link.is_visible():
        menu.click()
    page.get_by_role("menuitem", name=name).or_(link).first.click()
    frame = page.frame_locator("iframe")
    expect(frame.locator("h2")).to_be_visible(timeout=60000)
    return frame
