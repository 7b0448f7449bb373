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
    """The hub's page ``name`` through Airflow's navigation: Plugins, Ketenhub, then the page.
    Returns the frame it is shown in."""
    from playwright.sync_api import expect
    menu = page.get_by_role("button", name="Plugins")
    expect(menu).to_be_visible(timeout=60000)
    menu.click()
    page.get_by_role("menuitem", name="Ketenhub").click()
    page.get_by_role("menuitem", name=name).click()
    frame = page.frame_locator("iframe")
    expect(frame.locator("h1")).to_be_visible(timeout=60000)
    return frame
