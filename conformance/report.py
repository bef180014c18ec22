"""The results as a JUnit XML file (one testsuite per tag) or a self-contained HTML page a person reads: the
summary first (passed, failed, skipped per tag), then every failure with the rule it breaks, the request and the
server's answer, then the skips with their reasons, then what passed. Each check names the rule it tests."""
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
            properties = etree.SubElement(case, "properties")
            etree.SubElement(properties, "property", name="rule", value=result.rule)
            if result.status == "fail":
                failure = etree.SubElement(case, "failure", message=result.reason)
                failure.text = f"rule: {result.rule}\n\n{result.exchange}"
            elif result.status == "skip":
                etree.SubElement(case, "skipped", message=result.reason)
    return etree.tostring(suites, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _item(result: Result) -> str:
    reason = f"<p class='reason'>{escape(result.reason)}</p>" if result.reason else ""
    answer = f"<pre class='exchange'>{escape(result.exchange)}</pre>" if result.exchange else ""
    return (f"<li class='{result.status}'><strong>{result.status.upper()}</strong> "
            f"<span class='tag'>[{escape(result.tag)}]</span> <span class='check'>{escape(result.scenario)}: "
            f"{escape(result.check)}</span>{reason}<p class='rule'>Rule: {escape(result.rule)}</p>{answer}</li>")


def html(results: list[Result], base: str) -> bytes:
    total = Counter(r.status for r in results)
    rows = []
    for tag, group in _by_tag(results):
        counts = Counter(r.status for r in group)
        rows.append(f"<tr><td>{escape(tag)}</td><td>{counts['pass']}</td><td>{counts['fail']}</td>"
                    f"<td>{counts['skip']}</td></tr>")
    sections = []
    for status, title in (("fail", "Failures"), ("skip", "Skipped"), ("pass", "Passed")):
        chosen = [r for r in results if r.status == status]
        items = "".join(_item(result) for _, group in _by_tag(chosen) for result in group)
        sections.append(f"<section id='{status}'><h2>{title} ({len(chosen)})</h2>"
                        + (f"<ul>{items}</ul>" if items else "<p>None.</p>") + "</section>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FHIR conformance: {escape(base)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;
padding:.3em .8em}}.pass strong{{color:#060}}.fail strong{{color:#b00}}.skip strong{{color:#666}}
pre{{white-space:pre-wrap;background:#f4f4f4;padding:.5em}}li{{margin:.5em 0}}p{{margin:.2em 0}}
.rule{{color:#444;font-size:90%}}</style></head><body>
<h1>FHIR conformance of {escape(base)}</h1>
<section id="summary"><h2>Summary</h2>
<p>{total['pass']} passed, {total['fail']} failed, {total['skip']} skipped.</p>
<table><thead><tr><th>tag</th><th>passed</th><th>failed</th><th>skipped</th></tr></thead>
<tbody>{''.join(rows)}</tbody>
<tfoot><tr><th>all</th><th>{total['pass']}</th><th>{total['fail']}</th><th>{total['skip']}</th></tr></tfoot></table>
</section>
{''.join(sections)}
</body></html>
"""
    return page.encode("utf-8")
