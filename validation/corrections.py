"""R4 invariants whose published FHIRPath is wrong, and the expression evaluated instead: the corrections the
HL7 validator applies to R4 (FHIRPathExpressionFixer in hapifhir/org.hl7.fhir.core), keyed by the published
expression. Without them, valid resources fail (que-7, a contained resource's dom-6, ref-1 on '#') or the
check is not the one intended (the name rules' regex matched anywhere in the name).
"""
from __future__ import annotations

_NAME = "name.matches('[A-Z]([A-Za-z0-9_]){0,254}')"  # the *-0 rules of 30 canonical resources
_REF_1 = ("reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
          "%rootResource.contained.id.trace('ids'))")
_ELD_19_STEP = "[^\\\\s\\\\.,:;\\\\\\'\"\\\\/|?!@#$%&*()\\\\[\\\\]{}]{1,64}"  # a path's name
_ELD_19 = f"path.matches('{_ELD_19_STEP}(\\\\.{_ELD_19_STEP}(\\\\[x\\\\])?(\\\\:[^\\\\s\\\\.]+)?)*')"
_ELD_20 = "path.matches('[A-Za-z][A-Za-z0-9]*(\\\\.[a-z][A-Za-z0-9]*(\\\\[x])?)*')"

CORRECTED: dict[str, str] = {
    # dom-6: a contained resource needs no narrative
    "text.`div`.exists()": "(%rootResource != $this) or text.`div`.exists()",
    # ref-1: '#' refers to the container (corrected in R4B)
    _REF_1: f"reference.exists() implies (reference = '#' or ({_REF_1}))",
    # ras-2: no probability, nothing to compare
    "probability is decimal implies (probability as decimal) <= 100":
        "(probability.exists() and (probability is decimal)) implies ((probability as decimal) <= 100)",
    # que-12: "more than one enableWhen" is two or more
    "enableWhen.count() > 2 implies enableBehavior.exists()": "enableWhen.count() >= 2 implies enableBehavior.exists()",
    # que-7: FHIR's boolean, not FHIRPath's Boolean
    "operator = 'exists' implies (answer is Boolean)": "operator = 'exists' implies (answer is boolean)",
    # opd-3: a resource type may carry a target profile too (memberOf: not evaluated here)
    "targetProfile.exists() implies (type = 'Reference' or type = 'canonical')":
        "targetProfile.exists() implies (type = 'Reference' or type = 'canonical' or "
        "type.memberOf('http://hl7.org/fhir/ValueSet/resource-types'))",
    # bdl-8: an entry without fullUrl
    "fullUrl.contains('/_history/').not()": "fullUrl.exists() implies fullUrl.contains('/_history/').not()",
    # the name rules and eld-19/eld-20: the whole value matches, not a part of it
    _NAME: "name.exists() implies name.matches('^[A-Z]([A-Za-z0-9_]){0,254}$')",
    _ELD_19: _ELD_19.replace("matches('", "matches('^").replace(")*')", ")*$')"),
    _ELD_20: _ELD_20.replace("matches('", "matches('^").replace(")*')", ")*$')"),
    # vs-1 (vital-signs profile): "if Observation.effective[x] is dateTime ... precise to the day": a Period is
    # no dateTime (the published expression fails on it, '>= 8' does not count the day)
    "($this as dateTime).toString().length() >= 8": "$this is dateTime implies $this.toString().length() >= 10",
    # tim-9: `when` repeats
    "offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))":
        "offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())",
}


def corrected(expression: str) -> str:
    """The expression to evaluate for a published R4 invariant expression."""
    return CORRECTED.get(expression, expression)
