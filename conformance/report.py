"""The results as a JUnit XML file (one testsuite per tag) or a self-contained HTML page a person can read."""
from __future__ import annotations

from collections import Counter
from html import escape
from itertools import groupby

from lxml import etree

from .results import Result


def _by_tag(results: list[Result]) -> list[tuple[str, list[Result]]]:
    ordered = sorted(results, key=lambda r: r.tag)
    return [(tag, list(group)) for tag, group in groupby(ordered, key=lambda r: r.tag)]


def junit(results: list[Result]) -> bytes:
    suites = etree.Element("testsuites", name="fhir-conformance")
    for tag, group in _by_tag(results):
        counts = Counter(r.status for r in group)
        suite = etree.SubElement(suites, "testsuite", name=tag, tests=str(len(group)),
                                 failures=str(counts["fail"]), skipped=str(counts["skip"]))
        for result in group:
            case = etree.SubElement(suite, "testcase", classname=f"{tag}.{result.scenario}", name=result.check)
            if result.status == "fail":
                failure = etree.SubElement(case, "failure", message=result.reason)
                failure.text = result.exchange
            elif result.status == "skip":
                etree.SubElement(case, "skipped", message=result.reason)
    return etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def html(results: list[Result], base: str) -> bytes:
    rows = []
    for tag, group in _by_tag(results):
        counts = Counter(r.status for r in group)
        rows.append(f"<tr><td><a href='#{escape(tag)}'>{escape(tag)}</a></td><td>{counts['pass']}</td>"
                    f"<td>{counts['fail']}</td><td>{counts['skip']}</td></tr>")
    sections = []
    for tag, group in _by_tag(results):
        items = []
        for result in group:
            detail = (f"<details><summary>request and response</summary><pre>{escape(result.exchange)}</pre></details>"
                      if result.exchange else "")
            items.append(f"<li class='{result.status}'><strong>{result.status.upper()}</strong> "
                         f"{escape(result.scenario)}: {escape(result.check)}"
                         f"{' — ' + escape(result.reason) if result.reason else ''}{detail}</li>")
        sections.append(f"<section id='{escape(tag)}'><h2>{escape(tag)}</h2><ul>{''.join(items)}</ul></section>")
    total = Counter(r.status for r in results)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FHIR conformance: {escape(base)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;
padding:.3em .8em}}.pass strong{{color:#060}}.fail strong{{color:#b00}}.skip strong{{color:#666}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:.5em}}li{{margin:.3em 0}}</style></head><body>
<h1>FHIR conformance of {escape(base)}</h1>
<p>{total['pass']} passed, {total['fail']} failed, {total['skip']} skipped.</p>
<table><thead><tr><th>tag</th><th>passed</th><th>failed</th><th>skipped</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table>
{''.join(sections)}
</body></html>
"""
    return page.encode("utf-8")
