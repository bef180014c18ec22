"""The README's quick start, run as it is written against a server on a data folder of its own, and the commands
that use that running server's database (its DATA/server.json) instead of starting a FerretDB of their own."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from fhir_server.auth.backend_client import BackendClient
from fhir_server.storage.ferretdb import SERVER_RECORD, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
# What the server and the commands read of the caller's environment is left out: these tests choose.
NOT_INHERITED = ("MONGODB_URI", "FHIR_DATABASE", "FHIR_BASE_URL", "FHIR_HOST", "FHIR_PORT", "FHIR_DATA_DIR",
                 "FERRETDB_SQLITE_DIR")


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    return {**env, **extra}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    """`fhir-server serve` as `make run` starts it: no MONGODB_URI, FerretDB on its data folder."""
    folder = tmp_path_factory.mktemp("quickstart")
    data, port = folder / "data", free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    with open(folder / "serve.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port),
                                    "--workers", "1", "--data", str(data)],
                                   env=environment(), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()
            try:
                if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            assert time.monotonic() < deadline, (folder / "serve.log").read_text()
            time.sleep(0.2)
        yield SimpleNamespace(process=process, data=data, port=port, base=base, folder=folder)
    finally:
        process.terminate()
        process.wait(timeout=30)


def readme_quickstart() -> str:
    """The fenced shell blocks between the README's quick start markers."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- quickstart -->"):text.index("<!-- /quickstart -->")]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, re.S | re.M)
    assert blocks, "no ```sh block between the README's quick start markers"
    return "\n".join(blocks)


def untracked() -> set[str] | None:
    listed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    return set(listed.stdout.splitlines()) if listed.returncode == 0 else None


@pytest.mark.parametrize("port_in_environment", [True, False], ids=["FHIR_PORT set", "FHIR_PORT unset"])
def test_the_readme_quick_start_runs_as_written(local_server, tmp_path, port_in_environment):
    """The README's block, in a shell at the repository's root, gets a token and reads Patients, on a port that
    is not the default one, whether or not FHIR_PORT says it (the server's record does); the private key is
    written outside the repository and nothing new shows in `git status`."""
    if not (REPO_ROOT / ".venv" / "bin" / "fhir-server").exists():
        pytest.skip("the quick start calls .venv/bin/fhir-server: run scripts/setup.sh (make test does)")
    config = tmp_path / "config"
    env = environment(FHIR_DATA_DIR=str(local_server.data), XDG_CONFIG_HOME=str(config),
                      # .venv's editable install may point at another checkout: the code under test comes first
                      PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    if port_in_environment:
        env["FHIR_PORT"] = str(local_server.port)
    before = untracked()
    script = readme_quickstart() + '\nprintf "\\ntoken length: %s\\n" "${#TOKEN}"\n'
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    answer, _, length = run.stdout.rpartition("\ntoken length: ")
    assert int(length) > 100, run.stdout + run.stderr
    bundle = json.loads(answer)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    keys = list((config / "fhir-server" / "clients").glob("*.key.json"))
    assert len(keys) == 1 and stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert untracked() == before


def test_a_command_uses_the_running_servers_database(local_server, tmp_path):
    """`clients add` beside a running server starts no FerretDB (none could start: its binary is made missing)
    and says whose database it used; the server takes the client it registered at once."""
    env = environment(FERRETDB_BINARY=str(tmp_path / "no-ferretdb"))
    added = cli("clients", "add", "--data", str(local_server.data), "--name", "Beside the server",
                "--generate-key", str(tmp_path / "keys"), "--scope", "system/*.cruds", env=env)
    assert added.returncode == 0, added.stderr
    record = json.loads((local_server.data / SERVER_RECORD).read_text())
    assert record["pid"] == local_server.process.pid and record["fhir_base"] == local_server.base
    assert f"database: the running server's (pid {local_server.process.pid}" in added.stderr
    assert record["mongodb_uri"] in added.stderr and "starting FerretDB" not in added.stderr
    client = json.loads(added.stdout)
    assert Path(client["key_file"]).parent == tmp_path / "keys"
    assert stat.S_IMODE(Path(client["key_file"]).stat().st_mode) == 0o600
    software = BackendClient.from_key_file(local_server.base, client["client_id"], client["key_file"])
    assert requests.get(f"{local_server.base}/Patient", headers=software.headers(), timeout=30).status_code == 200


def test_a_stale_record_is_not_used(local_server, tmp_path):
    """A record whose server is gone (its pid dead; here naming a database that still answers) is ignored:
    the command starts its own FerretDB on the folder."""
    data = tmp_path / "data"
    data.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    record = json.loads((local_server.data / SERVER_RECORD).read_text())
    (data / SERVER_RECORD).write_text(json.dumps({**record, "pid": gone.pid}))
    listed = cli("clients", "list", "--data", str(data), env=environment())
    assert listed.returncode == 0, listed.stderr
    assert f"no server running on {data}, starting FerretDB" in listed.stderr
    assert listed.stdout == ""  # its own, empty, database: not the server's


def test_a_second_server_on_the_same_data_folder_is_refused(local_server):
    second = cli("serve", "--port", str(free_port()), "--data", str(local_server.data), env=environment())
    assert second.returncode == 1
    assert f"a server (pid {local_server.process.pid}) already serves the data folder" in second.stderr


def test_quickstart_needs_a_running_server(tmp_path):
    refused = cli("quickstart", "--data", str(tmp_path / "data"), "--keys", str(tmp_path / "keys"),
                  env=environment())
    assert refused.returncode == 1 and "no server is running on the data folder" in refused.stderr
    assert refused.stdout == "" and not (tmp_path / "keys").exists()
