"""Mutation testing of the modules that carry the record's rules, the audit trail, authentication and the
mappers' ACKs: small realistic defects (a comparison or a condition turned around, a call removed) are put
into a copy of the repository one at a time, and the tests that should catch them are run there.

    .venv/bin/python scripts/mutate.py                 # every module of TARGETS, a sample of its mutants
    .venv/bin/python scripts/mutate.py --module fhir_server/mllp.py --per-module 0   # all of one module's

A mutant is killed when its tests fail (or run over the time limit), survives when they pass. The score
is killed / mutants, per module and overall; survivors are listed with their line, to be read: each is a
missing test or an equivalent mutant. Not part of CI (it runs the tests once per mutant): run it when
these modules change; tests/README.md keeps the last score.
"""
from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> the tests that must catch its defects
TARGETS: dict[str, list[str]] = {
    "fhir_server/access/policy.py": ["tests/access/test_record_rules.py", "tests/security/test_leaks.py",
                                     "tests/ingest/test_import.py::test_rejections_are_grouped_by_reason",
                                     "tests/ingest/test_pushes_for_authors.py"],
    "fhir_server/access/consents.py": ["tests/access/test_record_rules.py", "tests/ingest/test_consent_feeds.py"],
    "fhir_server/access/membership.py": ["tests/access/test_membership.py", "tests/access/test_record_rules.py",
                                         "tests/access/test_search_records.py"],
    "fhir_server/api/audit_trail.py": ["tests/audit/test_trail.py", "tests/auth/test_routes.py",
                                       "tests/access/test_record_rules.py::test_definitive_deletion_purges_everything"],
    "fhir_server/audit/chain.py": ["tests/audit/test_chain.py", "tests/audit/test_trail.py"],
    "fhir_server/audit/events.py": ["tests/audit/test_events.py"],
    "fhir_server/auth/scopes.py": ["tests/auth/test_scopes.py", "tests/auth/test_guard.py",
                                   "tests/auth/test_oauth.py"],
    "fhir_server/auth/clients.py": ["tests/auth/test_clients.py", "tests/auth/test_oauth.py",
                                    "tests/auth/test_guard.py"],
    "fhir_server/auth/recheck.py": ["tests/auth/test_recheck.py", "tests/auth/test_guard.py"],
    "fhir_server/api/guard.py": ["tests/auth/test_guard.py", "tests/auth/test_routes.py",
                                "tests/auth/test_patients.py::test_a_patient_adds_documents_to_their_own_record_only",
                                "tests/auth/test_representatives.py",
                                "tests/access/test_record_rules.py::test_the_patient_reads_their_activity_history_newest_first"],
    "fhir_server/mllp.py": ["tests/ingest/test_hl7_lifecycle.py", "tests/ingest/test_ingest_formats.py"],
    "mappers/hl7v2/ack.py": ["tests/mappers/hl7v2/test_ack.py", "tests/mappers/hl7v2/test_mllp.py"],
}

PRAGMA = "# pragma: no mutate"
_SWAPPED_COMPARISONS = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
                        ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
                        ast.IsNot: ast.Is}


@dataclass(frozen=True)
class Mutant:
    """One defect: the `index`-th mutation point of the module, in source order."""
    module: str
    index: int
    line: int
    what: str


class _Mutator(ast.NodeTransformer):
    """Walks a module in source order, numbering the mutation points; changes the one numbered `target`
    (None: changes nothing, only lists them)."""

    def __init__(self, target: int | None = None) -> None:
        self.target = target
        self.points: list[tuple[int, str]] = []

    def _point(self, node: ast.AST, what: str) -> bool:
        self.points.append((getattr(node, "lineno", 0), what))
        return len(self.points) - 1 == self.target

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        swapped = _SWAPPED_COMPARISONS.get(type(node.ops[0]))
        if swapped and self._point(node, f"{type(node.ops[0]).__name__} -> {swapped.__name__}"):
            node.ops = [swapped(), *node.ops[1:]]
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or if isinstance(node.op, ast.And) else ast.And
        if self._point(node, f"{type(node.op).__name__} -> {other.__name__}"):
            node.op = other()
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._point(node, "not removed"):
            return node.operand
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        if self._point(node, "if condition negated"):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        self.generic_visit(node)
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, bool) and self._point(node, f"{node.value} -> {not node.value}"):
            return ast.Constant(value=not node.value)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if isinstance(node.value, ast.Call) and self._point(node, "call removed"):
            return ast.Pass()
        self.generic_visit(node)
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        if self._point(node, "raise removed"):
            return ast.Pass()
        self.generic_visit(node)
        return node


def mutants(module: str, source: str) -> list[Mutant]:
    """Every mutant of a module's source, in source order, but on lines marked `# pragma: no mutate` (an
    equivalent mutant, whose reason the line's comment gives)."""
    mutator = _Mutator()
    mutator.visit(ast.parse(source))
    lines = source.splitlines()
    return [Mutant(module, i, line, what) for i, (line, what) in enumerate(mutator.points)
            if not (0 < line <= len(lines) and PRAGMA in lines[line - 1])]


def mutated(source: str, mutant: Mutant) -> str:
    """The module's source with this one defect in it."""
    tree = _Mutator(mutant.index).visit(ast.parse(source))
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _copy_of_repository() -> Path:
    """A throwaway copy of the working tree (tracked files and new ones git does not ignore: the tests start
    servers from their own folder), sharing the virtualenv and the caches."""
    folder = Path(tempfile.mkdtemp(prefix="mutate-"))
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout
    for name in filter(None, files.decode("utf-8").split("\0")):
        target = folder / name
        if (ROOT / name).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target)
    for shared in (".venv", ".cache"):
        if (ROOT / shared).exists():
            (folder / shared).symlink_to(ROOT / shared)
    return folder


def _run_tests(copy: Path, tests: list[str], timeout: float) -> str:
    """'passed', 'failed' or 'timeout'."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(command, cwd=copy, capture_output=True, timeout=timeout,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        return "timeout"
    return "passed" if done.returncode == 0 else "failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example: .venv/bin/python scripts/mutate.py --per-module 10 --seed 7")
    parser.add_argument("--module", action="append", choices=sorted(TARGETS),
                        help="only this module (repeatable); default: all of TARGETS")
    parser.add_argument("--per-module", type=int, default=12,
                        help="mutants drawn at random per module, 0 for all (default 12)")
    parser.add_argument("--seed", type=int, default=1, help="the draw's seed, for a run that can be repeated")
    args = parser.parse_args(argv)
    draw = random.Random(args.seed)
    copy = _copy_of_repository()
    total_killed = total = 0
    try:
        for module in args.module or TARGETS:
            tests, original = TARGETS[module], (copy / module).read_text(encoding="utf-8")
            started = time.monotonic()
            if _run_tests(copy, tests, timeout=900) != "passed":
                print(f"{module}: its tests fail without any mutant; fix them first", file=sys.stderr)
                return 2
            limit = max(60.0, 3 * (time.monotonic() - started))
            found = mutants(module, original)
            chosen = found if args.per_module <= 0 else sorted(
                draw.sample(found, min(args.per_module, len(found))), key=lambda m: m.index)
            survivors = []
            try:
                for mutant in chosen:
                    (copy / module).write_text(mutated(original, mutant), encoding="utf-8")
                    if _run_tests(copy, tests, limit) == "passed":
                        survivors.append(mutant)
            finally:
                (copy / module).write_text(original, encoding="utf-8")
            killed = len(chosen) - len(survivors)
            total_killed, total = total_killed + killed, total + len(chosen)
            print(f"{module}: {killed}/{len(chosen)} killed ({len(found)} mutation points)", flush=True)
            for mutant in survivors:
                print(f"  survived: line {mutant.line}: {mutant.what}", flush=True)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    print(f"score: {total_killed}/{total} = {100 * total_killed / max(total, 1):.0f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
