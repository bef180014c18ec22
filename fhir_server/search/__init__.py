"""Search: the parameter registry, index values computed on write, query parsing and filters."""

# Database indexes for the most common searches (field names as search/values.py writes them). Never two
# list-valued fields in one index: MongoDB cannot index parallel arrays.
INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    # identity by traits (birthdate= bounds dl:birthdate to the day, family= is a prefix range); name= and given=
    "Patient": [[("t:identifier", 1)], [("s:family", 1)], [("dl:birthdate", 1), ("s:family", 1)], [("s:name", 1)],
                [("s:given", 1)]],
    "DocumentReference": [[("r:patient", 1), ("dl:date", -1)], [("r:subject", 1), ("dl:date", -1)],
                          [("t:identifier", 1)], [("t:type", 1)], [("u:location", 1)],  # a Binary's documents
                          [("r:author", 1), ("dl:date", -1)], [("ri:author", 1), ("dl:date", -1)]],  # an author's
    "List": [[("r:patient", 1), ("dl:date", -1)], [("t:identifier", 1)]],
    "Consent": [[("r:patient", 1)]],
    "Practitioner": [[("t:identifier", 1)]],
    "Organization": [[("t:identifier", 1)]],
    "RelatedPerson": [[("t:identifier", 1)], [("r:patient", 1)]],
    "AuditEvent": [[("r:patient", 1), ("dl:date", -1)], [("r:agent", 1)]],
}
