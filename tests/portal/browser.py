"""Headless Chromium for the portal's tests, driven by selenium: Debian's chromium and chromedriver, from PATH or
as scripts/setup_browser.sh unpacked them under .cache/chromium; axe-core (.cache/axe-core) for accessibility."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import REPO_ROOT

UNPACKED = REPO_ROOT / ".cache" / "chromium" / "root"
AXE = REPO_ROOT / ".cache" / "axe-core" / "axe.min.js"
SCREENSHOTS = REPO_ROOT / ".cache" / "screenshots"
PHONE, DESKTOP = (390, 844), (1280, 900)


def _programs() -> tuple[str, str, dict[str, str]] | None:
    """(chromium, chromedriver, environment) or None when neither PATH nor .cache has them."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return shutil.which("chromium"), shutil.which("chromedriver"), dict(os.environ)
    browser, driver = UNPACKED / "usr/lib/chromium/chromium", UNPACKED / "usr/lib/chromium/chromedriver"
    if not (browser.exists() and driver.exists()):
        return None
    libraries = sorted({str(p.parent) for p in UNPACKED.rglob("*.so*")})
    path = ":".join([*libraries, os.environ.get("LD_LIBRARY_PATH", "")]).rstrip(":")
    return str(browser), str(driver), {**os.environ, "LD_LIBRARY_PATH": path}


def start_browser():
    """A headless Chromium session; fails when set-up has not installed it (the README's test command does)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    programs = _programs()
    if programs is None or not AXE.exists():
        pytest.fail("chromium, chromedriver or axe-core missing: run scripts/setup.sh (scripts/setup_browser.sh)")
    browser, driver, env = programs
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    options.add_experimental_option("prefs", {"intl.accept_languages": "fr-FR,fr"})
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--lang=fr-FR", "--hide-scrollbars"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver, env=env))


def serious_violations(driver) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the current page."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    violations = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
           .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.html)}))))
           .catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));""")
    return [f"{v['id']} ({v['impact']}): {v['nodes'][:2]}" for v in violations
            if v["impact"] in ("serious", "critical")]


def screenshot(driver, name: str) -> None:
    """The current page at desktop and phone widths, whole, in .cache/screenshots/NAME-{desktop,phone}.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(width, height)
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(width, min(max(full, height), 2400))
        driver.save_screenshot(str(SCREENSHOTS / f"{name}-{label}.png"))
    driver.set_window_size(*DESKTOP)
