"""When a browser test fails, the page it was on is kept beside the screenshots (.cache/screenshots/failed-*.html)."""
from __future__ import annotations

import pytest

from .browser import SCREENSHOTS


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    driver = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and driver is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"failed-{item.name}.html").write_text(f"<!-- {driver.current_url} -->\n{driver.page_source}")
