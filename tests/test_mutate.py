"""The mutation runner (scripts/mutate.py): its mutants are the defects it says, one at a time."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "mutate.py"
SOURCE = '''
def allowed(status, blocked):
    """Docstrings are no mutation point."""
    if status == "referenced" and not blocked:
        return True
    log("refused")
    raise PermissionError(status)
'''


def _runner():
    spec = importlib.util.spec_from_file_location("mutate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through it
    spec.loader.exec_module(module)
    return module


def _function(source: str):
    calls = []
    namespace = {"log": calls.append}
    exec(compile(source, "<mutant>", "exec"), namespace)
    return namespace["allowed"], calls


def test_each_mutation_point_is_listed_in_source_order():
    runner = _runner()
    found = runner.mutants("m.py", SOURCE)
    assert [(m.line, m.what) for m in found] == [
        (4, "if condition negated"), (4, "Eq -> NotEq"), (4, "not removed"), (4, "And -> Or"),
        (5, "True -> False"), (6, "call removed"), (7, "raise removed")]


def test_a_line_marked_as_equivalent_is_left_alone():
    runner = _runner()
    marked = SOURCE.replace('log("refused")', 'log("refused")  # pragma: no mutate (only a log)')
    found = runner.mutants("m.py", marked)
    assert "call removed" not in [m.what for m in found] and len(found) == 6
    raised = next(m for m in found if m.what == "raise removed")
    assert "raise" not in runner.mutated(marked, raised).split("log(")[1]  # indices still name the same points


def test_a_mutant_changes_one_thing_and_the_original_is_kept():
    runner = _runner()
    original, _ = _function(SOURCE)
    assert original("referenced", False) is True
    by_what = {m.what: m for m in runner.mutants("m.py", SOURCE)}
    negated, _ = _function(runner.mutated(SOURCE, by_what["if condition negated"]))
    try:
        negated("referenced", False)
        raise AssertionError("the negated condition still allowed")
    except PermissionError:
        pass
    assert negated("suspended", False) is True
    either, _ = _function(runner.mutated(SOURCE, by_what["And -> Or"]))
    assert either("referenced", True) is True  # a blocked caller let through: the defect
    silent, calls = _function(runner.mutated(SOURCE, by_what["call removed"]))
    try:
        silent("suspended", False)
    except PermissionError:
        pass
    assert calls == []
    unchecked, _ = _function(runner.mutated(SOURCE, by_what["raise removed"]))
    assert unchecked("suspended", False) is None


def test_every_target_module_and_test_exists():
    runner = _runner()
    root = SCRIPT.parent.parent
    for module, tests in runner.TARGETS.items():
        assert (root / module).is_file(), module
        assert runner.mutants(module, (root / module).read_text(encoding="utf-8")), module
        assert all((root / test.split("::")[0]).is_file() for test in tests), tests
