"""Three `serve` nodes on one database, clients spread over them: what one node does, every node sees.

Each shared state is met by several processes at once: versions (If-Match), transactions, a patient's
audit chain, clients' statuses and revoked tokens (known to each worker for at most
FHIR_TOKEN_RECHECK_SECONDS), patients' failed sign-ins, kept search pages, the notification queue (every
worker of every node delivers), and the jobs run beside the nodes (reindex, retention).
"""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pymongo
import pytest
import requests
from aiosmtpd.controller import Controller

from fhir_server.auth.clients import ClientRegistry
from fhir_server.storage.ferretdb import free_port

from ..api.client import HEADERS, INS, JSON
from ..auth.test_patients import PASSWORD, REDIRECT, code_from, exchange, pkce
from ..notifications.test_notifications import Inbox
from .conftest import Nodes

RECHECK_SECONDS = 1  # FHIR_TOKEN_RECHECK_SECONDS of the nodes: the documented bound the tests wait
MARGIN = 0.5
LEASE_SECONDS = 4  # FHIR_TRANSACTION_LEASE_SECONDS: how soon a crashed node's unfinished writes are settled
SENDER = "record@health.example.org"


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture(scope="module")
def nodes(database, smtp, tmp_path_factory):
    uri, name = database[0], f"{database[1]}_nodes"
    cluster = Nodes(uri, name, tmp_path_factory.mktemp("nodes"), 3, {
        "FHIR_TOKEN_RECHECK_SECONDS": str(RECHECK_SECONDS), "FHIR_NOTIFICATION_INTERVAL": "1",
        "FHIR_SMTP_HOST": "127.0.0.1", "FHIR_SMTP_PORT": str(smtp[0]), "FHIR_SMTP_FROM": SENDER,
        "FHIR_RECORD_RETENTION_YEARS": "0", "FHIR_TRANSACTION_LEASE_SECONDS": str(LEASE_SECONDS)})
    try:
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()
        client = pymongo.MongoClient(uri)
        client.drop_database(name)
        client.close()


@pytest.fixture(scope="module")
def ndb(nodes):
    client = pymongo.MongoClient(nodes.uri, tz_aware=True)
    yield client[nodes.name]
    client.close()


@pytest.fixture(scope="module")
def vendor(nodes, ndb):
    return nodes.software(ndb, "Vendor of every node")


def session(software) -> requests.Session:
    http = requests.Session()
    http.headers.update({**software.headers(), "Accept": JSON})
    return http


def new_patient(http, nodes: Nodes, i: int = 0, **fields) -> tuple[str, str]:
    ins = str(uuid.uuid4().int % 10**13)
    created = http.post(f"{nodes.base(i)}/Patient", headers=HEADERS, json={
        "resourceType": "Patient", "identifier": [{"system": INS, "value": ins}], "birthDate": "1980-04-12",
        **fields})
    assert created.status_code == 201, created.text
    return created.json()["id"], ins


def together(calls: list) -> list:
    """Runs the calls at once (one thread each) and returns their results in order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_if_match_updates_racing_on_every_node_have_one_winner_per_version(nodes, vendor):
    http = session(vendor)
    patient_id, ins = new_patient(http, nodes)
    for version in range(1, 4):
        def update(i: int, version: int = version):
            return requests.put(f"{nodes.base(i)}/Patient/{patient_id}", headers={
                **HEADERS, **vendor.headers(), "If-Match": f'W/"{version}"'}, json={
                "resourceType": "Patient", "id": patient_id, "identifier": [{"system": INS, "value": ins}],
                "birthDate": "1980-04-12", "name": [{"family": f"Writer{i}"}]}, timeout=60)
        answers = together([lambda i=i: update(i) for i in range(6)])  # two writers per node
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(200) == 1 and set(statuses) <= {200, 409, 412}, [(a.status_code, a.text)
                                                                                for a in answers]
        winner = next(a for a in answers if a.status_code == 200)
        assert winner.headers["ETag"] == f'W/"{version + 1}"'
        for i in range(len(nodes)):  # every node reads the winner's version
            read = http.get(f"{nodes.base(i)}/Patient/{patient_id}")
            assert read.headers["ETag"] == f'W/"{version + 1}"' and read.json() == winner.json()
    history = http.get(f"{nodes.base(2)}/Patient/{patient_id}/_history").json()
    assert sorted(int(e["resource"]["meta"]["versionId"]) for e in history["entry"]) == [1, 2, 3, 4]


def test_transactions_racing_on_several_nodes_commit_all_or_nothing(nodes, vendor):
    http = session(vendor)
    patient_id, ins = new_patient(http, nodes)
    marker = uuid.uuid4().hex

    def bundle(i: int) -> dict:
        return {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "id": patient_id, "identifier": [{"system": INS, "value": ins}],
                          "birthDate": "1980-04-12", "name": [{"family": f"Tx{i}"}]},
             "request": {"method": "PUT", "url": f"Patient/{patient_id}", "ifMatch": 'W/"1"'}},
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}",
             "resource": {"resourceType": "DocumentReference", "status": "current",
                          "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{marker}-{i}"}],
                          "subject": {"reference": f"Patient/{patient_id}"},
                          "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]},
             "request": {"method": "POST", "url": "DocumentReference"}}]}
    answers = together([lambda i=i: requests.post(nodes.base(i), json=bundle(i), headers={
        **HEADERS, **vendor.headers()}, timeout=60) for i in range(6)])
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409, 412}, [(a.status_code, a.text[:300])
                                                                            for a in answers]
    winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
    for i in range(len(nodes)):
        found = http.get(f"{nodes.base(i)}/DocumentReference", params={"patient": patient_id}).json()
        assert [e["resource"]["identifier"][0]["value"] for e in found.get("entry", [])] == \
            [f"urn:uuid:{marker}-{winner}"]  # the losers' documents were never visible
        assert http.get(f"{nodes.base(i)}/Patient/{patient_id}").json()["name"][0]["family"] == f"Tx{winner}"


def test_one_patients_audit_chain_written_from_every_node_verifies(nodes, vendor, ndb):
    http = session(vendor)
    patient_id, _ = new_patient(http, nodes)
    reads = together([lambda i=i: requests.get(f"{nodes.base(i)}/Patient/{patient_id}", headers={
        **vendor.headers(), "Accept": JSON}, timeout=60) for i in range(12)])
    assert {r.status_code for r in reads} == {200}
    links = ndb["audit_chain"].count_documents({"key": patient_id, "n": {"$exists": True}})
    assert links >= 13  # the create and the twelve reads, from three audit writers
    verified = nodes.cli("audit", "verify", "--patient", patient_id)
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout + verified.stderr


def test_a_suspension_and_a_revocation_reach_every_node_within_the_bound(nodes, ndb):
    software = nodes.software(ndb, "Soon suspended")
    token = software.token()
    headers = {"Authorization": f"Bearer {token}", "Accept": JSON}

    def answers() -> set[int]:  # several calls per node, so that both workers of each node answer
        return {requests.get(f"{nodes.base(i)}/Patient", params={"_count": 1}, headers=headers,
                             timeout=30).status_code for i in range(len(nodes)) for _ in range(4)}
    assert answers() == {200}
    ClientRegistry(ndb).set_status(software.client_id, "suspended")  # as `fhir-server clients suspend` does
    time.sleep(RECHECK_SECONDS + MARGIN)
    assert answers() == {401}
    ClientRegistry(ndb).set_status(software.client_id, "referenced")
    time.sleep(RECHECK_SECONDS + MARGIN)
    assert answers() == {200}
    # Revoked at node 0: refused there at once, by the others within the bound.
    revoked = requests.post(f"{nodes.origin(0)}/oauth/revoke", data={"token": token, "client_id": software.client_id,
                            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                            "client_assertion": software.assertion()}, timeout=30)
    assert revoked.status_code == 200, revoked.text
    time.sleep(RECHECK_SECONDS + MARGIN)
    assert answers() == {401}


def _activated(nodes: Nodes, http, app_id: str) -> tuple[str, str]:
    """(id, INS) of a record activated with PASSWORD (its code issued by the command, beside the nodes)."""
    patient_id, ins = new_patient(http, nodes)
    code = nodes.cli("patients", "activation-code", patient_id).stdout.strip()
    done = requests.post(f"{nodes.origin(1)}/patient/activate", data={
        "ins": ins, "code": code, "birth_date": "1980-04-12", "password": PASSWORD}, timeout=30)
    assert done.status_code == 200, done.text
    return patient_id, ins


def _sign_in(nodes: Nodes, i: int, app_id: str, ins: str, password: str) -> requests.Response:
    query = {"response_type": "code", "client_id": app_id, "redirect_uri": REDIRECT, "scope": "patient/*.rs",
             "state": "xyz", "code_challenge": pkce()[1], "code_challenge_method": "S256"}
    return requests.post(f"{nodes.origin(i)}/oauth/authorize", params=query, data={"ins": ins, "password": password},
                         allow_redirects=False, timeout=60)


@pytest.fixture(scope="module")
def patient_app(ndb):
    return ClientRegistry(ndb).add_public("Patient app (nodes)", [REDIRECT], ["patient/*.rs"])


def test_wrong_passwords_spread_over_the_nodes_still_lock(nodes, vendor, patient_app):
    http = session(vendor)
    _, ins = _activated(nodes, http, patient_app.client_id)
    for i in range(4):  # one after the other, each on the next node
        assert _sign_in(nodes, i, patient_app.client_id, ins, "not the password at all").status_code == 400
    assert _sign_in(nodes, 4, patient_app.client_id, ins, "not the password at all").status_code == 429
    assert _sign_in(nodes, 5, patient_app.client_id, ins, PASSWORD).status_code == 429  # on every node


def test_wrong_passwords_sent_at_once_to_every_node_are_all_counted(nodes, vendor, patient_app):
    http = session(vendor)
    _, ins = _activated(nodes, http, patient_app.client_id)
    answers = together([lambda i=i: _sign_in(nodes, i, patient_app.client_id, ins, "not the password at all")
                        for i in range(5)])
    # Five wrong attempts, however they raced: each counted, the fifth locks, whichever node is asked next.
    assert sorted(a.status_code for a in answers) == [400] * 4 + [429], [a.status_code for a in answers]
    assert {_sign_in(nodes, i, patient_app.client_id, ins, PASSWORD).status_code for i in range(3)} == {429}


def test_a_search_page_kept_by_one_node_is_read_on_the_others(nodes, vendor, ndb):
    http = session(vendor)
    family = f"Paged{uuid.uuid4().hex[:8]}"
    for i in range(5):
        new_patient(http, nodes, i, name=[{"family": family, "given": [f"G{i}"]}])
    first = http.get(f"{nodes.base(0)}/Patient", params={"family": family, "_count": 2, "_sort": "given"}).json()
    assert first["total"] == 5 and len(first["entry"]) == 2
    seen = [e["resource"]["name"][0]["given"][0] for e in first["entry"]]
    page, node = first, 1
    while any(link["relation"] == "next" for link in page["link"]):
        following = next(link["url"] for link in page["link"] if link["relation"] == "next")
        answer = http.get(nodes.on_node(following, node))
        assert answer.status_code == 200, answer.text
        page, node = answer.json(), node + 1
        seen += [e["resource"]["name"][0]["given"][0] for e in page["entry"]]
    assert seen == ["G0", "G1", "G2", "G3", "G4"]
    # Another caller's page is theirs alone on every node.
    other = session(nodes.software(ndb, "Other caller"))
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert other.get(nodes.on_node(following, 2)).status_code == 410


def test_notifications_are_delivered_once_when_every_node_delivers(nodes, vendor, smtp, ndb):
    _, inbox = smtp
    http = session(vendor)
    marker = uuid.uuid4().hex[:8]
    addresses = [f"patient-{marker}-{n}@example.org" for n in range(6)]
    for n, address in enumerate(addresses):  # each record opened by a document: two notifications each
        patient_id, _ = new_patient(http, nodes, n, telecom=[{"system": "email", "value": address}])
        pushed = http.post(f"{nodes.base(n + 1)}/DocumentReference", headers=HEADERS, json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
        assert pushed.status_code == 201, pushed.text

    def received() -> list[tuple[str, str]]:
        return [(to[0], message["Subject"] + message.get_body(preferencelist=("plain",)).get_content()[:40])
                for _, to, message, _ in inbox.received if to and to[0] in addresses]
    deadline = time.monotonic() + 30
    while len(received()) < 2 * len(addresses) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # two more rounds of every worker of every node: nothing is sent again
    mails = received()
    assert len(mails) == 2 * len(addresses) and len(set(mails)) == len(mails), mails  # each exactly once
    assert sorted({to for to, _ in mails}) == sorted(addresses)
    assert ndb["notifications"].count_documents({"status": "pending"}) == 0


def test_reindex_and_retention_run_beside_the_nodes(nodes, vendor, ndb):
    http = session(vendor)
    owners = ClientRegistry(ndb).add_public("Owner app (nodes)", [REDIRECT], ["patient/*.cruds"])
    patient_id, ins = _activated(nodes, http, owners.client_id)
    for i in range(3):
        document = http.post(f"{nodes.base(i)}/DocumentReference", headers=HEADERS, json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]})
        assert document.status_code == 201, document.text
    # Writes keep arriving on every node while reindex runs beside them.
    stop = threading.Event()
    written: list[int] = []

    def write_while_reindexing(i: int) -> None:
        while not stop.is_set():
            written.append(http.post(f"{nodes.base(i)}/Patient", headers=HEADERS, json={
                "resourceType": "Patient", "name": [{"family": "Busy"}]}).status_code)
    writers = [threading.Thread(target=write_while_reindexing, args=(i,)) for i in range(3)]
    for writer in writers:
        writer.start()
    try:
        reindexed = nodes.cli("reindex", "--type", "Patient", "--type", "DocumentReference")
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert reindexed.returncode == 0, reindexed.stderr
    assert written and set(written) == {201}
    # The owner closes the record on one node; the retention job (0 years here) purges it beside the nodes.
    verifier, challenge = pkce()
    query = {"response_type": "code", "client_id": owners.client_id, "redirect_uri": REDIRECT,
             "scope": "patient/*.cruds", "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256"}
    signed = requests.post(f"{nodes.origin(2)}/oauth/authorize", params=query,
                           data={"ins": ins, "password": PASSWORD}, allow_redirects=False)
    token = exchange(nodes.origin(0), owners.client_id, code_from(signed), verifier).json()["access_token"]
    owner = {"Authorization": f"Bearer {token}", "Accept": JSON}
    assert requests.post(f"{nodes.base(1)}/Patient/{patient_id}/$close-record", headers=owner).status_code == 200
    # Every node has just written to this patient's chain (its writers remember the chain's tail).
    for i in range(3):
        assert http.get(f"{nodes.base(i)}/Patient/{patient_id}").status_code in (403, 404, 410)
    purged = nodes.cli("retention", "run")
    assert purged.returncode == 0 and "records purged: 1" in purged.stdout, purged.stdout + purged.stderr
    # Requests naming the purged patient, on every node, right after the purge.
    for i in range(3):
        assert http.get(f"{nodes.base(i)}/Patient/{patient_id}").status_code in (404, 410)
        assert http.get(f"{nodes.base(i)}/DocumentReference", params={"patient": patient_id}).status_code == 200
    verified = nodes.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr


def test_a_node_crashing_mid_write_leaves_the_others_serving_and_every_write_whole(nodes, vendor, ndb):
    """Writers on every node (updates and transactions into one patient's record); node 2 dies at once (its
    workers and audit writer with it), then starts again. The other nodes answer every request meanwhile; every
    acknowledged write is there, every resource's current version is its latest, every transaction is whole
    or absent, and the patient's audit chain verifies."""
    http = session(vendor)
    patient_id, _ = new_patient(http, nodes)
    marker = uuid.uuid4().hex[:8]
    stop = threading.Event()
    acknowledged: dict[str, int] = {}
    transactions: dict[str, bool] = {}  # each transaction's key: whether it was acknowledged
    answers: dict[int, list] = {0: [], 1: [], 2: []}

    def document(rid: str | None, k: int, identifier: str | None = None) -> dict:
        return {"resourceType": "DocumentReference", **({"id": rid} if rid else {}), "status": "current",
                "description": str(k), "subject": {"reference": f"Patient/{patient_id}"},
                **({"identifier": [{"system": "urn:ietf:rfc:3986", "value": identifier}]} if identifier else {}),
                "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}]}

    def write(node: int, writer: int) -> None:
        with requests.Session() as own:
            own.headers.update({**vendor.headers(), **HEADERS})
            k = 0
            while not stop.is_set():
                k += 1
                rid = f"crash-{marker}-{node}-{writer}-{k % 3}"
                key = f"{marker}-{node}-{writer}-{k}"
                try:
                    if k % 4 == 0:
                        transactions[key] = False
                        answer = own.post(nodes.base(node), timeout=30, json={
                            "resourceType": "Bundle", "type": "transaction", "entry": [
                                {"fullUrl": f"urn:uuid:{uuid.uuid4()}",
                                 "resource": document(None, k, f"urn:uuid:{key}-{half}"),
                                 "request": {"method": "POST", "url": "DocumentReference"}} for half in "ab"]})
                        transactions[key] = answer.status_code == 200
                    else:
                        answer = own.put(f"{nodes.base(node)}/DocumentReference/{rid}", json=document(rid, k),
                                         timeout=30)
                        if answer.status_code in (200, 201):
                            acknowledged[rid] = int(answer.headers["ETag"].split('"')[1])
                    answers[node].append(answer.status_code)
                except requests.RequestException as error:
                    answers[node].append(type(error).__name__)
                    time.sleep(0.05)
    writers = [threading.Thread(target=write, args=(node, n)) for node in range(3) for n in range(2)]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 20
    while sum(a in (200, 201) for a in answers[2]) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)  # node 2 is serving its writers: crash it in the middle of their writes
    nodes.servers[2].crash()
    time.sleep(1.5)
    stop.set()
    for thread in writers:
        thread.join()
    assert answers[0] and answers[1] and set(answers[0]) | set(answers[1]) <= {200, 201}, (answers[0], answers[1])
    assert sum(a in (200, 201) for a in answers[2]) >= 6 and any(isinstance(a, str) for a in answers[2])
    nodes.restart(2)
    time.sleep(LEASE_SECONDS + 1.5)  # the restarted node's second recovery pass; transactions' leases run out
    settle = http.post(nodes.base(2), json={"resourceType": "Bundle", "type": "transaction", "entry": []},
                       headers=HEADERS)  # a transaction sweeps the others first
    assert settle.status_code == 200, settle.text
    for rid in sorted({f"crash-{marker}-{node}-{w}-{k}" for node in range(3) for w in range(2) for k in range(3)}):
        current = http.get(f"{nodes.base(0)}/DocumentReference/{rid}")
        if current.status_code == 404:
            assert rid not in acknowledged
            continue
        version = int(current.json()["meta"]["versionId"])
        history = http.get(f"{nodes.base(1)}/DocumentReference/{rid}/_history").json()
        assert version == max(int(e["resource"]["meta"]["versionId"]) for e in history["entry"]), rid
        assert version >= acknowledged.get(rid, 0), rid
    stored = http.get(f"{nodes.base(2)}/DocumentReference", params={"patient": patient_id, "_count": 1000}).json()
    identifiers = [i["value"] for e in stored.get("entry", []) for i in e["resource"].get("identifier", [])]
    for key, done in transactions.items():
        halves = sum(f"urn:uuid:{key}-{half}" in identifiers for half in "ab")
        assert halves in (0, 2) and (halves == 2 or not done), (key, halves, done)
    verified = nodes.cli("audit", "verify", "--patient", patient_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr
