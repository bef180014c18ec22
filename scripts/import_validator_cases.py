"""Import the R4 standalone cases of the official HL7 validator tests into tests/fixtures/validator/.

    .venv/bin/python scripts/import_validator_cases.py GIT_DIR [--skip-dir ../shared/testdata/validator]

GIT_DIR is a git directory (bare or `.git`) of https://github.com/FHIR/fhir-test-cases (Apache-2.0); its
HEAD is read with `git show`, nothing is checked out. `validator/manifest.json` lists each test: the file,
the FHIR version (none means the current R5), the module, and how to set up the validator; its expected
outcome is `validator/outcomes/java/R4.<name>-base.json` (an OperationOutcome written by the Java
validator; the manifest names it under `java`) or, in older entries, an inline `{"errorCount", "output"}`.

A case is taken when it is R4 (`version` 4.0 or 4.0.1), needs nothing beyond the R4 core package (no
`supporting`, `profiles`, `packages`, `logical`, `matchetype`, and no option that changes the validator's
behaviour: `validateReference`, `security-checks`, `best-practice`, `examples`...; the `standalone` fetcher,
the validator's own, is allowed), is a JSON or XML file
of at most 200 KB, and has an outcome. A `profile` step is allowed: the base outcome is produced before
the profile is loaded (the Java ValidationTests validate against the core spec, then load the profile and
validate again). The first test of each file is kept, and files already in --skip-dir are left out (the
tests read them from there).

expected.json has the shape of ../shared/testdata/validator/expected.json, one entry per file:
{"file", "case" (the manifest's name), "module", "valid" (the outcome has no error or fatal issue),
"errors" (its first five, "location: message", and the first that needs no terminology server when those
five all do)}, plus "needs": "terminology" when every error the
official validator found is about codes of a terminology outside the R4 core package (SNOMED CT, LOINC,
CVX, NCI...: a display, an unknown code, an ECL filter), which only a terminology server can check.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from validator_agreement import needs_terminology  # this folder is sys.path[0]

DEST = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "validator"
R4 = {"4.0", "4.0.1"}
# Manifest keys that do not change how the base validation is set up.
NEUTRAL = {"name", "file", "version", "module", "java", "firely-sdk-current", "firely-sdk-wip", "brianpos",
           "dotnet-brianpos", "description", "explanation", "documentation", "comment", "profile", "fetcher"}
MAX_SIZE = 200_000
FIRST_ERRORS = 5

class Upstream:
    def __init__(self, git_dir: str) -> None:
        self.git_dir = git_dir

    def _git(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", f"--git-dir={self.git_dir}", *args], capture_output=True, check=False)

    def commit(self) -> str:
        return self._git("rev-parse", "HEAD").stdout.decode().strip()

    def read(self, path: str) -> bytes | None:
        done = self._git("show", f"HEAD:{path}")
        return done.stdout if done.returncode == 0 else None

    def size(self, path: str) -> int | None:
        done = self._git("cat-file", "-s", f"HEAD:{path}")
        return int(done.stdout) if done.returncode == 0 else None


def _outcome(upstream: Upstream, test: dict) -> tuple[str, list[dict]] | None:
    """(where it was read, its error and fatal issues as {location, text})."""
    java = test.get("java")
    if isinstance(java, dict):
        errors = [{"location": "", "text": text} for text in java.get("output", [])]
        if java.get("errorCount") and not errors:
            return None
        return "validator/manifest.json", errors[:java.get("errorCount", 0)]
    if not isinstance(java, str):
        return None
    for path in (f"validator/outcomes/{java}", f"validator/outcomes/java/R4.{test['name']}-base.json"):
        raw = upstream.read(path)
        if raw is not None:
            issues = json.loads(raw).get("issue", [])
            return path, [{"location": (issue.get("expression") or issue.get("location") or [""])[0],
                           "text": issue.get("details", {}).get("text", issue.get("diagnostics", ""))}
                          for issue in issues if issue.get("severity") in ("error", "fatal")]
    return None


def select(upstream: Upstream, skip: set[str]) -> tuple[list[dict], dict[str, int]]:
    manifest = json.loads(upstream.read("validator/manifest.json"))
    cases: list[dict] = []
    seen: set[str] = set()
    left_out: dict[str, int] = {}

    def leave(reason: str) -> None:
        left_out[reason] = left_out.get(reason, 0) + 1

    for test in manifest["test-cases"]:
        file = test["file"]
        if test.get("version") not in R4:
            leave("not R4 (no version means R5)")
        elif set(test) - NEUTRAL or test.get("fetcher", "standalone") != "standalone":
            leave("needs more than the core package, or a validator option")
        elif not file.endswith((".json", ".xml")):
            leave("neither JSON nor XML")
        elif file in seen:
            leave("a file already taken, with another profile step")
        elif file in skip:
            leave("in the shared test data")
        elif (size := upstream.size(f"validator/{file}")) is None or size > MAX_SIZE:
            leave("missing or larger than 200 KB")
        elif (outcome := _outcome(upstream, test)) is None:
            leave("no outcome")
        else:
            seen.add(file)
            source, errors = outcome
            shown = errors[:FIRST_ERRORS]
            if all(needs_terminology(e["text"]) for e in shown):  # then show the first that does not, if any
                shown += [e for e in errors[FIRST_ERRORS:] if not needs_terminology(e["text"])][:1]
            case = {"file": file, "case": test["name"], "module": test.get("module", ""), "valid": not errors,
                    "errors": [f"{e['location']}: {e['text']}" if e["location"] else e["text"] for e in shown]}
            if errors and all(needs_terminology(e["text"]) for e in errors):
                case["needs"] = "terminology"
            case["_outcome"] = source
            cases.append(case)
    return cases, left_out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("git_dir", help="a git directory of FHIR/fhir-test-cases")
    parser.add_argument("--skip-dir", type=Path, help="leave out the files this folder already holds")
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args(argv)
    upstream = Upstream(args.git_dir)
    skip = set()
    if args.skip_dir and (args.skip_dir / "expected.json").is_file():
        skip = {case["file"] for case in json.loads((args.skip_dir / "expected.json").read_text(encoding="utf-8"))}
    cases, left_out = select(upstream, skip)
    args.dest.mkdir(parents=True, exist_ok=True)
    for old in args.dest.iterdir():  # everything but our README.md is rewritten
        if old.is_dir():
            shutil.rmtree(old)
        elif old.name != "README.md":
            old.unlink()
    for case in cases:
        target = args.dest / case["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(upstream.read(f"validator/{case['file']}"))
        del case["_outcome"]
    (args.dest / "expected.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
    (args.dest / "LICENSE.txt").write_bytes(upstream.read("LICENSE.txt"))
    print(f"{len(cases)} cases from {upstream.commit()}", file=sys.stderr)
    for reason, count in sorted(left_out.items(), key=lambda item: -item[1]):
        print(f"  left out: {count:4} {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
