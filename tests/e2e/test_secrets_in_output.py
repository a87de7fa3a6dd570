"""No password in output: every ``stayaway`` command, run with a broker URL and a database URL holding passwords
this test made up, prints neither (stdout, stderr, log lines, error messages, tracebacks, and serve's
``/healthz``, ``/metrics`` and API answers). Commands that exist to hand out a new credential (``tokens add``,
``accounts add``, ``mqtt credentials``) print that one; never the URLs' passwords.

The broker URL's password is a working one on an open broker (serve and demo run normally with it) and a
refused one on the deployment kit's broker (serve logs the refusal). The database URL's password is tried
against a loopback port where nothing listens, and with a malformed port: every command that takes
``--db`` fails, and says so without it. With PostgreSQL configured, the whole run also uses its URL.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa

from service.cli import main
from simulators import SimDevice
from tests.conftest import skip_or_fail
from tests.e2e.conftest import write_json
from tests.support import builders
from tests.support.brokers import BrokerInfo, KitMosquitto, free_port
from tests.support.serve import STAYAWAY, Serve
from tests.support.tls import CertAuthority

MQTT_SECRET = f"mqttpw{uuid.uuid4().hex}"
DB_SECRET = f"dbpw{uuid.uuid4().hex}"
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def leaf_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out |= leaf_commands(command, (*prefix, name))
        else:
            out.add((*prefix, name))
    return out


class Runs:
    """Runs commands and checks everything they print for the secrets; remembers which commands ran."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s for s in secrets if s]
        self.covered: set[tuple[str, ...]] = set()

    def check(self, what: str, text: str) -> None:
        for secret in self.secrets:
            assert secret not in text, f"{what} printed a password:\n{text[-4000:]}"

    def cli(self, env: dict[str, str], *args: str, ok: bool = True, stdin: str | None = None,
            path: tuple[str, ...] | None = None) -> Any:
        done = subprocess.run(STAYAWAY + list(args), env=env, input=stdin, capture_output=True, text=True,
                              timeout=240, check=False)
        self.check(" ".join(args), done.stdout + done.stderr)
        assert (done.returncode == 0) == ok, f"{' '.join(args)}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        self.covered.add(path or tuple(a for a in args[:2] if not a.startswith("-")))
        return done


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    pki, certs = tmp_path / "pki", tmp_path / "certs"
    certs.mkdir()
    ca, clients = CertAuthority.create(pki, "ca"), CertAuthority.create(pki, "clients-ca")
    server = ca.issue(pki, "broker", dns=("localhost",), ips=("127.0.0.1",))
    client = clients.issue(pki, "stayaway", client=True)
    shutil.copy(server.cert, certs / "server.crt")
    shutil.copy(server.key, certs / "server.key")
    shutil.copy(clients.cert, certs / "clients-ca.crt")
    return {"certs": certs, "ca": ca.cert, "client_cert": client.cert, "client_key": client.key}


PG_SECRET = f"pgpw{uuid.uuid4().hex}"


def own_login(db_url: str) -> tuple[str, str]:
    """For PostgreSQL, the same database and schema through a login role made here with a made-up password
    (the configured URL's password may be a plain word, such as "postgres", that appears all over a log);
    for SQLite, the URL as it is and no password."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() != "postgresql":
        return db_url, ""
    schema = db_url.rsplit("search_path%3D", 1)[1].split("&")[0]  # tests/support/databases.py's throw-away schema
    role = f"secrets_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{PG_SECRET}'")
        conn.exec_driver_sql(f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {role}")
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {url.database} TO {role}")
    admin.dispose()
    _ROLES.append((db_url, role))
    return url.set(username=role, password=PG_SECRET).render_as_string(hide_password=False), PG_SECRET


_ROLES: list[tuple[str, str]] = []


@pytest.fixture(autouse=True)
def _drop_roles():  # type: ignore[no-untyped-def]
    yield
    while _ROLES:
        db_url, role = _ROLES.pop()
        admin = sa.create_engine(db_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def test_no_command_prints_a_broker_or_database_password(broker: BrokerInfo, db_url: str, tmp_path: Path,
                                                         pki: dict[str, Path]) -> None:
    if MOSQUITTO is None:
        skip_or_fail("mosquitto is not installed (the deployment kit's broker)")
    db_url, real_db_secret = own_login(db_url)  # PostgreSQL: a role of this test's with a password it made up
    runs = Runs([MQTT_SECRET, DB_SECRET, real_db_secret])
    mqtt_url = f"mqtt://stayaway:{MQTT_SECRET}@{broker.host}:{broker.port}"  # an open broker: any password works
    serve = Serve(BrokerInfo(mqtt_url, broker.host, broker.port, broker.kind, broker.protocol), db_url, tmp_path)
    env = serve.env
    closed = free_port()
    bad_dbs = [f"postgresql://stayaway:{DB_SECRET}@127.0.0.1:{closed}/stayaway",
               f"postgresql+psycopg://stayaway:{DB_SECRET}@127.0.0.1:{closed}/stayaway?sslmode=disable",
               f"postgresql://stayaway:{DB_SECRET}@127.0.0.1:notaport/stayaway"]
    agencies = write_json(tmp_path / "agencies.geojson", builders.AGENCIES)
    orders = write_json(tmp_path / "orders.json", [builders.order(**builders.ZONES_ONLY)])
    bundle = str(tmp_path / "evidence.zip")
    out_dir = tmp_path / "mqtt"

    db_commands: list[tuple[tuple[str, ...], str | None]] = [
        (("agencies", "import", agencies), None),
        (("orders", "import", orders), None),
        (("accounts", "add", "officer-secrets", "--role", "police", "--agency", "police-west", "--password-stdin"),
         "a long enough password\n"),
        (("tokens", "add", "scraper", "--role", "supervisor", "--agency", "police-west"), None),
        (("mqtt", "credentials", "--out", str(out_dir)), None),
        (("retention", "apply", "--dry-run"), None),
        (("evidence", "export", "PSO-2026-0001", "--out", bundle, "--reason", "secrets test"), None),
    ]
    for args, stdin in db_commands:  # each works with the URLs of the environment, broker password set...
        runs.cli(env, *args, stdin=stdin)
    token = runs.cli(env, "tokens", "add", "scraper-2", "--role", "supervisor", "--agency", "police-west").stdout
    token = token.strip()
    runs.cli(env, "retention", "apply")
    runs.cli(env, "evidence", "verify", bundle)
    runs.cli(env, "evidence", "key")
    for args, stdin in db_commands:  # ...and fails, without the password, with a database URL holding one
        runs.cli(env, *args, "--db", bad_dbs[0], stdin=stdin, ok=False)
    for bad in bad_dbs:
        runs.cli({**env, "STAYAWAY_DATABASE_URL": bad}, *db_commands[0][0], ok=False)
        runs.cli(env, "serve", "--db", bad, ok=False)
    runs.cli(env, "serve", "--mqtt", f"mqtt://stayaway:{MQTT_SECRET}@broker.example:1883", ok=False)  # cleartext
    runs.cli(env, "serve", "--mqtt", f"mqtts://stayaway:{MQTT_SECRET}@127.0.0.1:1/x?y", ok=False)  # malformed

    serve.token = token  # serve runs normally with the broker password: banner, logs and answers
    serve.start()
    tracker = SimDevice("trk-001", broker.host, broker.port, int(time.time() * 1000)).connect()
    try:
        tracker.location(*builders.HOME, acc=5.0)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not serve.counters().get("accepted"):
            time.sleep(0.1)
        assert serve.counters().get("accepted")
        answers = [serve.get("/healthz", token="")]
        for path in ("/api/v1/alerts", "/api/v1/orders", "/api/v1/accountability", "/api/v1/openapi.json"):
            answers.append(serve.get(path))
        req = urllib.request.Request(f"http://127.0.0.1:{serve.port}/metrics",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            metrics = r.read().decode()
        assert "stayaway_alerts_unacknowledged" in metrics
        runs.check("serve's HTTP answers", repr(answers) + metrics)
    finally:
        tracker.close()
        serve.stop()
    log = serve.log()
    assert f"mqtt://stayaway:***@{broker.host}:{broker.port}" in log  # the banner says where, masked
    runs.check("serve", log)
    runs.covered.add(("serve",))

    # the deployment kit's broker refuses the made-up password (over TLS): serve says so, without it
    kit = KitMosquitto(out_dir, pki["certs"])
    try:
        refused = Serve(BrokerInfo(f"mqtts://stayaway:{MQTT_SECRET}@localhost:{kit.ports[8884]}", "localhost",
                                   kit.ports[8884], "mosquitto", "3.1.1"), db_url, tmp_path)
        refused.env.update(STAYAWAY_MQTT_CA_FILE=str(pki["ca"]), STAYAWAY_MQTT_CERT_FILE=str(pki["client_cert"]),
                           STAYAWAY_MQTT_KEY_FILE=str(pki["client_key"]))
        with pytest.raises(TimeoutError):
            refused.start(timeout=4)
        refused.stop()
        assert "refused the ingest connection" in refused.log() and "mqtts://stayaway:***@localhost" in refused.log()
        runs.check("serve refused by the broker", refused.log())
    finally:
        kit.stop()

    demo_env = {**env, "STAYAWAY_DATA_DIR": str(tmp_path / "demo"), "STAYAWAY_DATABASE_URL": bad_dbs[0]}
    demo = runs.cli(demo_env, "demo", "--once", "--step-s", "0.05", "--http", "127.0.0.1:0", "--mqtt", mqtt_url)
    assert f"broker mqtt://stayaway:***@{broker.host}:{broker.port}" in demo.stdout

    assert runs.covered == leaf_commands(), "a command this test does not run: add it"
