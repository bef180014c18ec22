"""The SOAP parser refuses any DTD: no external entity (XXE), no entity expansion, whatever the encoding."""
from __future__ import annotations

import pytest

from .support import codes, refused, request

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE soap:Envelope [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&secret;</soap:Body></soap:Envelope>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>&lol3;</soap:Body></soap:Envelope>"""


LOWER_CASE = XXE.replace(b'<?xml version="1.0"?>', b"").replace(b"DOCTYPE", b"doctype")
UTF_16 = XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")


@pytest.mark.parametrize("body", [XXE, LAUGHS, LOWER_CASE, UTF_16],
                         ids=["external entity", "billion laughs", "lower case", "UTF-16"])
def test_a_doctype_is_refused(body):
    error = refused(body)
    assert codes(error) == ["XDSRepositoryMetadataError"]
    assert "DOCTYPE" in error.message and "root:" not in error.message


def test_a_doctype_in_the_mtom_root_part_is_refused():
    body, content_type = request("mtom_two_documents.mime")
    declaration = b'<?xml version="1.0" encoding="UTF-8"?>'
    body = body.replace(declaration, declaration + b'<!DOCTYPE x [<!ENTITY e SYSTEM "http://evil.example/">]>')
    assert codes(refused(body, content_type)) == ["XDSRepositoryMetadataError"]
