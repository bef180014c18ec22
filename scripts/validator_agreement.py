"""How often our validator agrees with the official HL7 (Java) validator on its own test cases.

    .venv/bin/python scripts/validator_agreement.py [--markdown] [--list] [--update-readme]

Two case sets, each a folder with an expected.json ([{"file", "module", "valid", "errors", "needs"?}]):
../shared/testdata/validator (when present) and tests/fixtures/validator (see its README.md). Each file is
read, JSON with `json` (not JSON: we reject it), XML with `xml_to_json` (a `FhirFormatError`: we reject
it), then given to `validation.validate_resource`; "we reject" means at least one issue
of severity error or fatal. That is compared with the official verdict `valid`: a false accept is a case the
official validator finds an error in and we do not, a false reject the reverse. A case whose `needs` is
"terminology" is one whose official errors all need a terminology server (SNOMED CT, LOINC... codes and
displays); it is counted, and the agreement without those cases is printed as well.

Prints the counts by source and format, by module and by resource type, and the overall agreement;
`--markdown` prints the same tables in Markdown, `--update-readme` writes them into the section "Agreement
with the official validator" of validation/README.md (between its two markers); `--list` adds every
disagreement with the official validator's first message and our first issue. `run_cases(folder, source)`
and `summary(outcomes)` are what tests/validation/test_validator_agreement.py uses.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from validation import validate_resource  # noqa: E402

README = ROOT / "validation" / "README.md"
TABLES_START = "<!-- agreement tables: written by scripts/validator_agreement.py --update-readme -->\n"
TABLES_END = "\n<!-- end of agreement tables -->"
SHARED_CASES = ROOT.parent / "shared" / "testdata" / "validator"
FIXTURE_CASES = ROOT / "tests" / "fixtures" / "validator"
CASE_SETS = (("shared", SHARED_CASES), ("fixtures", FIXTURE_CASES))
UNPARSED = "(not parsed)"

# A message of the official validator about a code of a terminology the R4 core package does not hold
# (SNOMED CT, LOINC, CVX, NCI...): only a terminology server can check it.
_EXTERNAL_SYSTEM = re.compile(r"snomed\.info|loinc\.org|hl7\.org/fhir/sid/|nci\.nih\.gov|unitsofmeasure\.org"
                              r"|nlm\.nih\.gov|urn:oid:|urn:iso:")
_CODE_CHECK = re.compile(r"Wrong (whitespace in )?Display Name|Unknown code|is not valid in the system"
                         r"|not declared in the base CodeSystem|filter based on property|not allowed for property"
                         r"|not found in the value set|None of the codings")


def needs_terminology(message: str) -> bool:
    return "Invalid ECL" in message or bool(_EXTERNAL_SYSTEM.search(message) and _CODE_CHECK.search(message))


# The shared cases whose test in FHIR/fhir-test-cases validator/manifest.json (commit 2dee8a0f) has no
# version: the official validator judged them as R5 (the manifest's default). Their verdict usually holds
# for R4 too; where it does not, that is the cause of a disagreement.
SHARED_JUDGED_AS_R5 = frozenset({
    "bundle-conditional-reference-bad.json", "bundle-good.xml", "bundle-url-dash.json", "group-choice-bad1.xml",
    "group-choice-bad2.json", "group-minimal-tiny.json", "group-minimal.xml", "japanese-utf8.xml",
    "list-contained-bad.json", "list-contained-bad.xml", "list-contained.xml", "list-empty1.xml", "list-empty2.xml",
    "list-text.xml", "list-unknown-attr.xml", "list-unknown-element.xml", "list-wrong-ns1.xml",
    "list-wrong-order.xml", "list-xhtml-element.xml", "list-xhtml-nested.xml", "list-xhtml-syntax.json",
    "list-xhtml-wrongns1.xml", "list-xhtml-wrongns2.xml", "list-xhtml-wrongns3.xml", "list-xhtml-xxe.json",
    "list-xhtml-xxe2.xml", "obs-decimal.json", "observation-bp-validationfails.xml", "org-home-1.xml",
    "org-home-2.xml", "params-ws.json", "patient-url-bad.xml", "primitive-bad.xml", "primitive-good-ws.xml",
    "reference-bad-logical.xml", "reference-bad.xml", "reference-good-logical.xml", "reference-good.xml",
    "specimendefinition-example-serum-plasma.xml", "unicode-problem.json", "unicode-problem.xml", "xml_v10.xml",
})

# What an official error checks, roughly, from its message (without its location): the first that matches.
AS_R5 = "validated as R5"
STRUCTURE = "structure (R4 elements, types, cardinality)"
_CAUSES = (
    ("XML element order", re.compile(r"is out of order")),
    (AS_R5, re.compile(r"\|5\.0\.0")),
    ("vital-signs profiles", re.compile(r"magic LOINC code|Constraint failed: vs-\d|StructureDefinition/(vitalsigns|"
                                        r"bp|bodytemp|heartrate|resprate|oxygensat|bodyheight|bodyweight|bmi|"
                                        r"headcircum)\|")),
    ("FHIRPath invariants", re.compile(r"Constraint failed")),
    ("extension definitions and contexts", re.compile(r"The [Ee]xtension |Sub-extension|Extension\.extension:"
                                                      r"|not allowed to be used at this point")),
    ("Bundle and reference rules", re.compile(r"fullUrl|in the bundle|Search results|link relationship|reachable"
                                              r"|stylesheet|Duplicate id|resolve resource|[Mm]atching reference"
                                              r"|Relative URLs|matching resource type|not an OperationOutcome")),
    ("narrative and markdown content", re.compile(r"Hyperlink|markdown|XHTML|URL is not valid")),
    ("codes of the core terminology", re.compile(r"Unknown code|not found in the value set|No code provided"
                                                 r"|System URI could not be determined|Wrong Display Name")),
    ("digital signatures", re.compile(r"signature")),
    (STRUCTURE, re.compile(r"Undefined element|Unrecognized property|minimum required|max allowed|must be a JSON"
                           r"|is not a valid (?!FHIRPath)|Invalid Resource id|Error parsing|does not meet .*regex")),
)
TERMINOLOGY_SERVER = "codes of external terminologies (terminology server)"
OTHER_RULES = "other rules of the official validator"


def _message(error: str) -> str:
    """An expected.json error without its location ("Patient.gender: message")."""
    location, sep, message = error.partition(": ")
    return message if sep and " " not in location else error


def cause(official_errors: Iterable[str], needs: str = "") -> str:
    """What the official validator checks to find its errors, from their messages (a rough guess)."""
    if needs == "terminology":
        return TERMINOLOGY_SERVER
    for error in map(_message, official_errors):
        if not needs_terminology(error):
            return next((name for name, pattern in _CAUSES if pattern.search(error)), OTHER_RULES)
    return OTHER_RULES


@dataclass(frozen=True)
class Outcome:
    """One case: the official verdict and ours (`we_reject` is None when our code raised)."""
    source: str
    file: str
    module: str
    resource_type: str
    official_valid: bool
    we_reject: bool | None
    official_errors: tuple[str, ...]
    our_first: str
    needs: str = ""

    @property
    def judged_as_r5(self) -> bool:
        return self.source == "shared" and self.file in SHARED_JUDGED_AS_R5

    @property
    def official_first(self) -> str:
        return self.official_errors[0] if self.official_errors else ""

    @property
    def format(self) -> str:
        return "XML" if self.file.endswith(".xml") else "JSON"

    @property
    def verdict(self) -> str:
        """agree, false accept, false reject or crash."""
        if self.we_reject is None:
            return "crash"
        if self.we_reject == (not self.official_valid):
            return "agree"
        return "false reject" if self.we_reject else "false accept"

    @property
    def cause(self) -> str:
        """For a disagreement, what the official validator checks that we do not (or the reverse)."""
        if self.verdict == "false accept":
            found = cause(self.official_errors, self.needs)
            return AS_R5 if self.judged_as_r5 and found == STRUCTURE else found
        if self.verdict == "false reject":
            return "we refuse what it accepts"
        return self.verdict


def _parse(path: Path) -> tuple[object, str]:
    """(the resource as JSON, "") or (None, why it is refused before validation, never "")."""
    data = path.read_bytes()
    if path.suffix == ".xml":
        from fhir_server.formats import FhirFormatError
        from fhir_server.formats.xml import xml_to_json
        try:
            return xml_to_json(data), ""
        except FhirFormatError as e:
            return None, f"not FHIR XML: {e}"
    try:
        return json.loads(data.decode("utf-8-sig")), ""
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"not JSON: {e}"


def judge(path: Path) -> tuple[str, bool, str]:
    """(resource type, whether we reject it, our first error) for one file; raises what our code raises."""
    resource, refused = _parse(path)
    if refused:
        return UNPARSED, True, refused
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    errors = [issue for issue in validate_resource(resource, invariants=True) if issue.severity in ("error", "fatal")]
    first = f"{errors[0].path}: {errors[0].message}" if errors else ""
    return resource_type if isinstance(resource_type, str) else "(no resourceType)", bool(errors), first


def run_cases(folder: Path, source: str) -> list[Outcome]:
    """Every case of `folder`/expected.json, judged by us."""
    cases = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    outcomes = []
    for case in cases:
        try:
            resource_type, we_reject, our_first = judge(folder / case["file"])
        except Exception as e:  # noqa: BLE001 - a crash is a result here, reported as such
            resource_type, we_reject, our_first = "(crashed)", None, f"{type(e).__name__}: {e}"
        outcomes.append(Outcome(source, case["file"], case.get("module") or "(none)", resource_type,
                                bool(case["valid"]), we_reject, tuple(case.get("errors") or ()), our_first,
                                case.get("needs", "")))
    return outcomes


def all_outcomes() -> list[Outcome]:
    """Both case sets, the shared one only where ../shared exists."""
    return [outcome for source, folder in CASE_SETS if (folder / "expected.json").is_file()
            for outcome in run_cases(folder, source)]


@dataclass(frozen=True)
class Counts:
    cases: int
    agree: int
    false_accepts: int
    false_rejects: int
    crashes: int

    @property
    def rate(self) -> float:
        return self.agree / self.cases if self.cases else 1.0


def summary(outcomes: Iterable[Outcome]) -> Counts:
    verdicts = [outcome.verdict for outcome in outcomes]
    return Counts(len(verdicts), verdicts.count("agree"), verdicts.count("false accept"),
                  verdicts.count("false reject"), verdicts.count("crash"))


def _groups(outcomes: list[Outcome], key: Callable[[Outcome], str], min_cases: int = 1) -> list[tuple[str, Counts]]:
    names: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        names.setdefault(key(outcome), []).append(outcome)
    small = [o for name, group in names.items() if len(group) < min_cases for o in group]
    rows = sorted(((name, summary(group)) for name, group in names.items() if len(group) >= min_cases),
                  key=lambda row: (-row[1].cases, row[0]))
    if small:
        rows.append((f"other ({len({key(o) for o in small})} with fewer than {min_cases} cases)", summary(small)))
    return rows


def tables(outcomes: list[Outcome]) -> list[tuple[str, list[tuple[str, Counts]]]]:
    return [
        ("source and format", _groups(outcomes, lambda o: f"{o.source} {o.format}")),
        ("module", _groups(outcomes, lambda o: o.module)),
        ("resource type", _groups(outcomes, lambda o: o.resource_type, min_cases=3)),
    ]


def _percent(counts: Counts) -> str:
    return f"{100 * counts.rate:.1f} %"


def render(outcomes: list[Outcome], markdown: bool) -> str:
    lines: list[str] = []
    total = summary(outcomes)
    without = summary(o for o in outcomes if not o.needs)
    headline = (f"{total.agree} of {total.cases} cases agree ({_percent(total)}); without the "
                f"{total.cases - without.cases} that need a terminology server: {without.agree} of {without.cases} "
                f"({_percent(without)}). {total.false_accepts} false accepts, {total.false_rejects} false rejects"
                + (f", {total.crashes} crashes" if total.crashes else "") + ".")
    lines.append(headline)
    for title, rows in tables(outcomes):
        lines.append("")
        rows = rows + [("all", total)]
        if markdown:
            lines.append(f"| {title} | cases | agree | false accepts | false rejects | agreement |")
            lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
            for name, c in rows:
                bold = "**" if name == "all" else ""
                lines.append(f"| {bold}{name}{bold} | {c.cases} | {c.agree} | {c.false_accepts} | "
                             f"{c.false_rejects} | {_percent(c)} |" + (f" {c.crashes} crashed |" if c.crashes else ""))
        else:
            width = max(len(title), *(len(name) for name, _ in rows))
            lines.append(f"{title:<{width}}  cases  agree  false-acc  false-rej  agreement")
            for name, c in rows:
                lines.append(f"{name:<{width}}  {c.cases:5}  {c.agree:5}  {c.false_accepts:9}  {c.false_rejects:9}  "
                             f"{_percent(c):>9}" + (f"  {c.crashes} crashed" if c.crashes else ""))
    causes = _groups([o for o in outcomes if o.verdict != "agree"], lambda o: o.cause)
    lines.append("")
    if markdown:
        lines.append("| disagreements by cause (from the official messages) | cases | fixtures | shared |")
        lines.append("| --- | ---: | ---: | ---: |")
    else:
        width = max([len("disagreements by cause")] + [len(name) for name, _ in causes])
        lines.append(f"{'disagreements by cause':<{width}}  cases  fixtures  shared")
    for name, c in causes:
        by_source = [sum(1 for o in outcomes if o.verdict != "agree" and o.cause == name and o.source == source)
                     for source in ("fixtures", "shared")]
        if markdown:
            lines.append(f"| {name} | {c.cases} | {by_source[0]} | {by_source[1]} |")
        else:
            lines.append(f"{name:<{width}}  {c.cases:5}  {by_source[0]:8}  {by_source[1]:6}")
    return "\n".join(lines)


def render_list(outcomes: list[Outcome]) -> str:
    lines = ["", "Disagreements:"]
    for o in outcomes:
        if o.verdict == "agree":
            continue
        needs = (f" [needs {o.needs}]" if o.needs else "") + (" [judged as R5]" if o.judged_as_r5 else "")
        lines.append(f"- {o.verdict}: {o.source}/{o.file} ({o.module}, {o.resource_type}){needs}: {o.cause}")
        if not o.official_valid:
            lines.append(f"    official: {o.official_first}")
        if o.our_first:
            lines.append(f"    ours:     {o.our_first}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="Markdown tables, for validation/README.md")
    parser.add_argument("--list", action="store_true", help="also list every disagreement")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the Markdown tables of validation/README.md (between its two markers)")
    args = parser.parse_args(argv)
    outcomes = all_outcomes()
    if args.update_readme:
        text = README.read_text(encoding="utf-8")
        start = text.index(TABLES_START) + len(TABLES_START)
        README.write_text(text[:start] + render(outcomes, markdown=True) + text[text.index(TABLES_END, start):],
                          encoding="utf-8")
    print(render(outcomes, args.markdown))
    if args.list:
        print(render_list(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
