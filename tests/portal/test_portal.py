"""The patient's portal, used as a person uses it, in a real browser (headless Chromium): sign in, see the
documents a professional pushed, hide one, block a professional, read the history of their refused access,
choose what to be told, close and reopen the record, switch to a child's record, delete the record for good;
and what a person cannot see: CSRF refusals, the lockout, the pages' protections. Each main screen passes
axe-core without serious or critical violations, and is photographed (.cache/screenshots)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from fhir_server.auth.patients import issue_activation_code
from fhir_server.storage.resources import ResourceStore

from ..access.test_record_rules import professional
from ..api.client import HEADERS, INS
from ..auth.test_representatives import born, link
from .browser import screenshot, serious_violations, start_browser

PASSWORD = "correct horse battery"
RPPS = "urn:oid:1.2.250.1.71.4.2.1"
LOINC = "http://loinc.org"
CDA = (b'<?xml version="1.0"?><ClinicalDocument xmlns="urn:hl7-org:v3"><title>Compte rendu de biologie</title>'
       b'<component><structuredBody><component><section><title>Glyc\xc3\xa9mie</title><text>Glyc\xc3\xa9mie '
       b'\xc3\xa0 jeun : 0,95 g/L (normale)</text></section></component></structuredBody></component>'
       b'</ClinicalDocument>')
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c63f8cf"
                    "c0f01f00050001ff89993d1d0000000049454e44ae426082")  # one red pixel


def person(http, base, db, family: str, given: str, birth: str, ins: str | None = None) -> tuple[str, str]:
    """(Patient id, INS) of a new record whose owner has activated it with PASSWORD."""
    ins = ins or str(uuid.uuid4().int % 10**13)
    created = http.post(f"{base}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}], "birthDate": birth,
        "name": [{"family": family, "given": [given]}]})
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    code = issue_activation_code(ResourceStore(db), patient_id)
    activated = requests.post(f"{base.removesuffix('/fhir')}/patient/activate", data={
        "ins": ins, "code": code, "birth_date": birth, "password": PASSWORD})
    assert activated.status_code == 200, activated.text
    return patient_id, ins


def push(writer, base, patient_id: str, code: str, content: bytes, content_type: str, day: str, title: str) -> str:
    """A document by `writer` (a professional's session, named in `author`), with its content as a Binary."""
    binary = writer.post(f"{base}/Binary", data=content, headers={"Content-Type": content_type})
    assert binary.status_code == 201, binary.text
    created = writer.post(f"{base}/DocumentReference", headers=HEADERS, json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
        "type": {"coding": [{"system": LOINC, "code": code}]}, "date": f"{day}T09:30:00+01:00",
        "description": title,
        "author": [{"type": "Practitioner", "identifier": {"system": RPPS, "value": writer.rpps},
                    "display": writer.display}],
        "content": [{"attachment": {"contentType": content_type, "url": f"Binary/{binary.json()['id']}",
                                    "title": title}}]})
    assert created.status_code == 201, created.text
    return created.json()["id"]


@pytest.fixture(scope="module")
def world(vendor, base, db):
    """A parent with two documents by a physician, a child of theirs with one; a nurse and an emergency
    physician who will try to read."""
    http = requests.Session()
    http.headers.update(vendor.headers())
    physician = professional(db, base, "10")
    physician.display = "Dr Hélène Lefèvre"
    colleague = professional(db, base, "10")
    nurse = professional(db, base, "60")
    urgentist = professional(db, base, "10", "ETREAT")
    parent, parent_ins = person(http, base, db, "Martin", "Camille", "1984-03-02")
    child, _ = person(http, base, db, "Martin", "Léo", born(9))
    link(http, base, child, parent_ins)
    documents = {
        "lab": push(physician, base, parent, "11502-2", CDA, "application/hl7-v3+xml", "2026-11-03", "Bilan sanguin"),
        "consultation": push(physician, base, parent, "11488-4", b"Consultation du 20 novembre: tout va bien.",
                             "text/plain", "2026-11-20", "Consultation de suivi"),
        "child": push(physician, base, child, "11488-4", b"Vaccins a jour.", "text/plain", "2026-10-01",
                      "Visite des 9 ans"),
    }
    return {"base": base, "origin": base.removesuffix("/fhir"), "parent": parent, "ins": parent_ins, "child": child,
            "physician": physician, "colleague": colleague, "nurse": nurse, "urgentist": urgentist,
            "documents": documents}


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


def accessible(driver, name: str | None = None) -> None:
    """No serious or critical axe-core violation; with a name, the page is photographed too."""
    assert serious_violations(driver) == []
    if name:
        screenshot(driver, name)


def submit(driver, form_action: str, button_text: str | None = None) -> None:
    """Clicks the submit button of the form posting to `form_action` (the one whose text is `button_text`)."""
    buttons = driver.find_elements(By.CSS_SELECTOR, f'form[action$="{form_action}"] button[type="submit"]')
    chosen = [b for b in buttons if button_text is None or button_text in b.text]
    assert chosen, f"no button {button_text!r} in a form to {form_action}"
    click_and_wait(driver, chosen[0])


def click_and_wait(driver, element) -> None:
    """Clicks, then waits for the next page to replace this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 10).until(lambda _: _replaced(page))


def _replaced(page) -> bool:
    """Whether the page's root element is gone. Chromium may say so as an inspector error while the next document
    replaces it ("Node with given id does not belong to the document"), not only as a stale element."""
    try:
        return staleness_of(page)(None)
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise


def message(driver) -> str:
    return driver.find_element(By.CSS_SELECTOR, "[role=status]").text


def sign_in(driver, origin: str, ins: str, password: str = PASSWORD) -> None:
    driver.get(f"{origin}/portal/connexion")
    driver.find_element(By.ID, "ins").send_keys(ins)
    driver.find_element(By.ID, "password").send_keys(password)
    submit(driver, "/portal/connexion")


def test_signing_in_shows_the_documents_a_professional_pushed(browser, world):
    browser.get(f"{world['origin']}/portal/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Connexion à mon dossier de santé"
    accessible(browser, "sign-in")
    # By keyboard: the first Tab reaches the skip link, which leads to the page's content.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Aller au contenu"
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "contenu"
    sign_in(browser, world["origin"], world["ins"])
    # A representative chooses whose record to open: their own first.
    assert "Quel dossier" in browser.find_element(By.TAG_NAME, "legend").text
    accessible(browser)
    submit(browser, "/portal/choisir")
    assert "Dossier ouvert : Camille Martin" in browser.find_element(By.CLASS_NAME, "whose").text
    cards = browser.find_elements(By.CSS_SELECTOR, ".cards .card")
    assert [c.find_element(By.TAG_NAME, "h3").text for c in cards] == [
        "Compte rendu de consultation", "Compte rendu de biologie"]  # newest first
    assert "Dr Hélène Lefèvre" in cards[0].text and "20 novembre 2026" in cards[0].text
    accessible(browser, "documents")
    # Filtered by type.
    Select(browser.find_element(By.ID, "type")).select_by_visible_text("Compte rendu de biologie")
    submit(browser, "/portal/documents")
    assert [c.find_element(By.TAG_NAME, "h3").text for c in browser.find_elements(By.CSS_SELECTOR, ".cards .card")] \
        == ["Compte rendu de biologie"]
    # The CDA is shown as its text.
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Compte rendu de biologie"))
    click_and_wait(browser, browser.find_element(By.PARTIAL_LINK_TEXT, "Ouvrir"))
    assert "Glycémie à jeun : 0,95 g/L" in browser.find_element(By.TAG_NAME, "main").text
    accessible(browser)


def test_a_hidden_document_vanishes_for_professionals(browser, world):
    base, colleague, hidden = world["base"], world["colleague"], world["documents"]["consultation"]
    assert colleague.get(f"{base}/DocumentReference/{hidden}").status_code == 200
    browser.get(f"{world['origin']}/portal/documents")
    card = browser.find_elements(By.CSS_SELECTOR, ".cards .card")[0]
    assert "Consultation de suivi" in card.text
    click_and_wait(browser, card.find_element(By.XPATH, ".//button[contains(., 'Masquer aux professionnels')]"))
    assert "masqué aux professionnels" in message(browser)
    assert "Masqué aux professionnels de santé" in browser.find_elements(By.CSS_SELECTOR, ".cards .card")[0].text
    assert colleague.get(f"{base}/DocumentReference/{hidden}").status_code == 404
    found = colleague.get(f"{base}/DocumentReference", params={"patient": world["parent"]}).json()
    assert hidden not in {e["resource"]["id"] for e in found.get("entry", [])}
    assert world["physician"].get(f"{base}/DocumentReference/{hidden}").status_code == 200  # its author still does
    # The page's action is in the activity history like any other.
    browser.get(f"{world['origin']}/portal/historique?action=modifications")
    assert "Vous avez modifié un document" in browser.find_element(By.CSS_SELECTOR, ".history .card").text


def test_a_blocked_professional_is_refused_and_the_history_says_so(browser, world, db):
    base, nurse, lab = world["base"], world["nurse"], world["documents"]["lab"]
    consultations = {"patient": world["parent"], "kind": "consultation"}
    before = db["notifications"].count_documents(consultations)
    assert nurse.get(f"{base}/DocumentReference/{lab}").status_code == 200  # read before, with the patient's agreement
    assert db["notifications"].count_documents(consultations) == before + 1  # the nurse's first consultation
    assert nurse.get(f"{base}/DocumentReference/{lab}").status_code == 200
    assert db["notifications"].count_documents(consultations) == before + 1  # told once
    browser.get(f"{world['origin']}/portal/acces")
    accessible(browser, "who-can-see")
    known = Select(browser.find_element(By.ID, "connu"))
    nurse_option = next(o for o in known.options if nurse.rpps in o.text)
    assert "Infirmier" in nurse_option.text
    known.select_by_value(nurse.rpps)
    submit(browser, "/portal/acces/bloquer")
    assert "n'a plus accès" in message(browser)
    assert nurse.rpps in browser.find_element(By.CSS_SELECTOR, ".cards").text
    assert nurse.get(f"{base}/DocumentReference/{lab}").status_code == 404
    assert nurse.get(f"{base}/DocumentReference", params={"patient": world["parent"]}).json().get("total") == 0
    # The refused access, in the history, in plain words.
    browser.get(f"{world['origin']}/portal/historique?qui=professionnels&refus=1")
    first = browser.find_elements(By.CSS_SELECTOR, ".history .card")[0]
    assert "Infirmier" in first.text and "Refusé" in first.text and "a consulté un document" in first.text
    accessible(browser, "history")
    # A wrong RPPS is an error tied to its field.
    browser.get(f"{world['origin']}/portal/acces")
    browser.find_element(By.ID, "rpps").send_keys("12")
    submit(browser, "/portal/acces/bloquer")
    field = browser.find_element(By.ID, "rpps")
    assert field.get_attribute("aria-invalid") == "true"
    assert "rpps-erreur" in field.get_attribute("aria-describedby")
    accessible(browser)
    # Unblocked: the nurse reads again.
    browser.get(f"{world['origin']}/portal/acces")
    submit(browser, "/portal/acces/debloquer")
    assert nurse.get(f"{base}/DocumentReference/{lab}").status_code == 200


def test_opposing_emergency_access(browser, world):
    base, urgentist, lab = world["base"], world["urgentist"], world["documents"]["lab"]
    browser.get(f"{world['origin']}/portal/acces")
    submit(browser, "/portal/acces/urgence")
    assert "Vous vous opposez" in message(browser)
    assert urgentist.get(f"{base}/DocumentReference/{lab}").status_code == 404
    submit(browser, "/portal/acces/urgence")
    assert "de nouveau possible" in message(browser)
    assert urgentist.get(f"{base}/DocumentReference/{lab}").status_code == 200
    browser.get(f"{world['origin']}/portal/historique?qui=professionnels")
    first = browser.find_element(By.CSS_SELECTOR, ".history .card")
    assert "Accès en urgence" in first.text and "a consulté un document" in first.text


def test_choosing_notices(browser, world, db):
    browser.get(f"{world['origin']}/portal/notifications")
    accessible(browser, "notifications")
    box = browser.find_element(By.ID, "document-changed")
    assert box.is_selected() and not browser.find_element(By.ID, "emergency-access").is_enabled()
    box.click()
    submit(browser, "/portal/notifications")
    assert "enregistrés" in message(browser)
    before = db["notifications"].count_documents({"patient": world["parent"], "kind": "document-changed"})
    push(world["physician"], world["base"], world["parent"], "57833-6", b"Paracetamol", "text/plain", "2026-11-25",
         "Ordonnance")
    assert db["notifications"].count_documents({"patient": world["parent"], "kind": "document-changed"}) == before
    # The address for notices, checked and tied to its field.
    browser.get(f"{world['origin']}/portal/dossier")
    browser.find_element(By.ID, "email").send_keys("pas-une-adresse")
    submit(browser, "/portal/dossier/email")
    assert browser.find_element(By.ID, "email").get_attribute("aria-invalid") == "true"
    accessible(browser)
    email = browser.find_element(By.ID, "email")
    email.clear()
    email.send_keys("camille@example.org")
    submit(browser, "/portal/dossier/email")
    assert "enregistrée" in message(browser)


def test_closing_and_reopening_the_record(browser, world):
    base, physician, lab = world["base"], world["physician"], world["documents"]["lab"]
    browser.get(f"{world['origin']}/portal/dossier")
    accessible(browser, "my-record")
    submit(browser, "/portal/dossier/fermer")
    assert "Le dossier est fermé" in message(browser)
    assert physician.get(f"{base}/DocumentReference", params={"patient": world["parent"]}).json().get("total") == 0
    browser.get(f"{world['origin']}/portal/documents")
    assert "Votre dossier est fermé" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    browser.get(f"{world['origin']}/portal/dossier")
    submit(browser, "/portal/dossier/rouvrir")
    assert "de nouveau ouvert" in message(browser)
    assert physician.get(f"{base}/DocumentReference/{lab}").status_code == 200
    browser.get(f"{world['origin']}/portal/historique?qui=moi")
    assert "Vous avez fermé le dossier" in browser.find_element(By.CSS_SELECTOR, ".history").text


def test_the_history_pages(browser, world):
    browser.get(f"{world['origin']}/portal/historique")
    first_page = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".history .card")]
    assert len(first_page) == 20
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Page suivante"))
    second_page = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".history .card")]
    assert second_page and browser.find_element(By.LINK_TEXT, "Page précédente")
    assert second_page != first_page  # older events (new ones, such as these page views, join the first page)


def test_a_representative_switches_to_the_childs_record(browser, world):
    browser.get(f"{world['origin']}/portal/documents")
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Changer de dossier"))
    browser.find_element(By.XPATH, "//label[contains(., 'Léo Martin')]").click()
    submit(browser, "/portal/choisir")
    assert "Dossier ouvert : Léo Martin" in browser.find_element(By.CLASS_NAME, "whose").text
    assert "représentant légal" in browser.find_element(By.CLASS_NAME, "whose").text
    assert [c.find_element(By.TAG_NAME, "h3").text for c in browser.find_elements(By.CSS_SELECTOR, ".cards .card")] \
        == ["Compte rendu de consultation"]
    assert "Visite des 9 ans" in browser.find_element(By.CSS_SELECTOR, ".cards").text
    accessible(browser, "representative")
    click_and_wait(browser, browser.find_element(By.LINK_TEXT, "Changer de dossier"))
    browser.find_element(By.XPATH, "//label[contains(., 'Mon propre dossier')]").click()
    submit(browser, "/portal/choisir")
    assert "Dossier ouvert : Camille Martin" in browser.find_element(By.CLASS_NAME, "whose").text


def _session_of(browser) -> requests.Session:
    """An HTTP session carrying the browser's portal cookie (a page of another site would make the browser send
    it only if SameSite allowed it: this is the stronger test)."""
    http = requests.Session()
    for cookie in browser.get_cookies():
        http.cookies.set(cookie["name"], cookie["value"], path=cookie.get("path", "/"))
    return http


def test_opening_and_downloading_a_document(browser, world, http):
    portal = _session_of(browser)
    document = world["documents"]["consultation"]
    shown = portal.get(f"{world['origin']}/portal/documents/{document}/contenu/0")
    assert shown.status_code == 200 and shown.headers["Content-Type"].startswith("text/plain")
    assert shown.headers["Content-Disposition"].startswith("inline") and b"tout va bien" in shown.content
    downloaded = portal.get(f"{world['origin']}/portal/documents/{document}/contenu/0", params={"telecharger": "1"})
    assert downloaded.headers["Content-Disposition"].startswith("attachment")
    assert downloaded.headers["Content-Type"] == "application/octet-stream"
    # Another record's document is answered as one that does not exist.
    other = portal.get(f"{world['origin']}/portal/documents/{world['documents']['child']}")
    unknown = portal.get(f"{world['origin']}/portal/documents/{uuid.uuid4()}")
    assert other.status_code == unknown.status_code == 404 and other.text == unknown.text


def test_an_image_is_shown_and_a_document_kept_from_the_patient_is_not(browser, world):
    base, physician, parent = world["base"], world["physician"], world["parent"]
    image = push(physician, base, parent, "18748-4", PNG, "image/png", "2026-11-28", "Radiographie du poignet")
    kept = push(physician, base, parent, "11488-4", b"A announcer en consultation", "text/plain", "2026-11-29",
                "Annonce")
    label = [{"op": "add", "path": "/securityLabel/-", "value": {
        "coding": [{"system": "urn:oid:1.2.250.1.213.1.1.4.13", "code": "INVISIBLE_PATIENT"}]}}]
    assert physician.patch(f"{base}/DocumentReference/{kept}", json=label, headers={
        "Content-Type": "application/json-patch+json"}).status_code == 200
    browser.get(f"{world['origin']}/portal/documents")
    listed = browser.find_element(By.CSS_SELECTOR, ".cards").text
    assert "Radiographie du poignet" in listed and "Annonce" not in listed
    browser.get(f"{world['origin']}/portal/documents/{image}")
    picture = browser.find_element(By.CSS_SELECTOR, "img.preview")
    assert picture.get_attribute("alt") == "Radiographie du poignet"
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", picture) == 1
    accessible(browser)
    hidden = _session_of(browser).get(f"{world['origin']}/portal/documents/{kept}")
    unknown = _session_of(browser).get(f"{world['origin']}/portal/documents/{uuid.uuid4()}")
    assert hidden.status_code == unknown.status_code == 404 and hidden.text == unknown.text


def test_forms_without_the_right_token_are_refused_and_change_nothing(browser, world, db):
    browser.get(f"{world['origin']}/portal/acces")
    http = _session_of(browser)
    consents = db["history"].count_documents({"type": "Consent"})
    for data in ({"rpps": "81000000009"}, {"rpps": "81000000009", "csrf": "forged"}):
        refused = http.post(f"{world['origin']}/portal/acces/bloquer", data=data, allow_redirects=False)
        assert refused.status_code == 403 and "Action refusée" in refused.text
    closing = http.post(f"{world['origin']}/portal/dossier/fermer", data={"csrf": ""}, allow_redirects=False)
    assert closing.status_code == 403
    assert db["history"].count_documents({"type": "Consent"}) == consents
    assert world["physician"].get(f"{world['base']}/DocumentReference/{world['documents']['lab']}").status_code == 200


def test_pages_are_protected(browser, world):
    page = _session_of(browser).get(f"{world['origin']}/portal/documents")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    sign_in_page = requests.get(f"{world['origin']}/portal/connexion")
    cookie = sign_in_page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    session_cookie = next(c for c in browser.get_cookies() if c["name"] == "portal_session")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
    assert requests.get(f"{world['origin']}/portal/documents", allow_redirects=False).status_code == 302


def test_a_representation_that_ends_closes_the_childs_record(browser, world, http, db):
    browser.get(f"{world['origin']}/portal/choisir")
    browser.find_element(By.XPATH, "//label[contains(., 'Léo Martin')]").click()
    submit(browser, "/portal/choisir")
    relation = http.get(f"{world['base']}/RelatedPerson", params={"patient": world["child"]}).json()["entry"][0]
    ended = http.put(f"{world['base']}/RelatedPerson/{relation['resource']['id']}", headers=HEADERS,
                     json={**relation["resource"], "active": False})
    assert ended.status_code == 200, ended.text
    browser.get(f"{world['origin']}/portal/documents")
    assert "ne pouvez plus agir pour ce dossier" in message(browser)
    assert "Camille Martin" in browser.find_element(By.CLASS_NAME, "whose").text


def test_an_idle_session_expires(browser, world, db):
    db["portal_sessions"].update_many({}, {"$set": {"expires": datetime.now(timezone.utc) - timedelta(seconds=1)}})
    browser.get(f"{world['origin']}/portal/documents")
    assert browser.current_url.endswith("/portal/connexion")
    sign_in(browser, world["origin"], world["ins"])
    assert browser.find_element(By.CLASS_NAME, "whose")


def test_signing_out_and_the_lockout(browser, world, http, db):
    browser.get(f"{world['origin']}/portal/documents")
    submit(browser, "/portal/deconnexion")
    assert "déconnecté" in message(browser)
    browser.get(f"{world['origin']}/portal/documents")
    assert browser.current_url.endswith("/portal/connexion")
    _, ins = person(http, world["base"], db, "Durand", "Sam", "1990-06-15")
    for attempt in range(5):
        sign_in(browser, world["origin"], ins, "not the password")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "bloqué pendant 15 minutes" in alert
    field = browser.find_element(By.ID, "password")
    assert field.get_attribute("aria-invalid") == "true"
    accessible(browser)
    sign_in(browser, world["origin"], ins)  # the right password, during the lockout
    assert "bloqué" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text


def test_deleting_the_record_for_good(browser, world):
    sign_in(browser, world["origin"], world["ins"])  # no child to choose any more: their own record opens
    browser.get(f"{world['origin']}/portal/dossier/supprimer")
    assert "ne pourra jamais être récupéré" in browser.find_element(By.TAG_NAME, "main").text
    accessible(browser, "delete")
    submit(browser, "/portal/dossier/supprimer")  # not ticked
    assert browser.find_element(By.ID, "confirme").get_attribute("aria-invalid") == "true"
    browser.find_element(By.ID, "confirme").click()
    submit(browser, "/portal/dossier/supprimer")
    assert "supprimé définitivement" in browser.find_element(By.TAG_NAME, "main").text
    assert world["physician"].get(f"{world['base']}/DocumentReference/{world['documents']['lab']}").status_code \
        in (404, 410)
    sign_in(browser, world["origin"], world["ins"])
    assert "ne correspond pas" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
