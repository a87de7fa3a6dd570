"""The ``stayaway`` command line (contract section 5). Thin: parse, build, run."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import click

from service.errors import StayawayError
from service.redact import masked_url
from service.settings import Settings

log = logging.getLogger("stayaway")


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**overrides)


class _MaskingFormatter(logging.Formatter):
    """Log lines (tracebacks included) with the password of any ``scheme://user:password@`` masked."""

    def format(self, record: logging.LogRecord) -> str:
        return masked_url(super().format(record))


def _setup_logging(level: str) -> None:
    logging.Formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s",
                                           datefmt="%Y-%m-%dT%H:%M:%S"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StayawayError as exc:
            field = getattr(exc, "field", None)
            click.echo(f"error: {masked_url(str(exc))}" + (f" (field: {field})" if field else ""), err=True)
            sys.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception:  # noqa: BLE001 - the traceback Python would print, with URL passwords masked
            click.echo(masked_url(traceback.format_exc()), err=True)
            sys.exit(1)


@click.group(cls=_Group)
def main() -> None:
    """stayaway: real-time enforcement of protection orders."""


@main.command()
@click.option("--mqtt", "mqtt_url", help="Broker URL, e.g. mqtt://127.0.0.1:1883 (default: embedded broker).")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: SQLite in STAYAWAY_DATA_DIR).")
@click.option("--http", help="HOST:PORT for the web app (default 127.0.0.1:8080).")
def serve(mqtt_url: str | None, database_url: str | None, http: str | None) -> None:
    """Run ingest, alerting and the web app in one process."""
    settings = _settings(mqtt_url=mqtt_url, database_url=database_url, http=http)
    _setup_logging(settings.log_level)
    from service.bootstrap import Runtime

    runtime = Runtime(settings)
    runtime.start()
    click.echo(f"stayaway serving: mqtt {runtime.mqtt}  web {runtime.http_url}", err=True)  # password masked
    _wait_for_signal()
    runtime.stop()


@main.group()
def agencies() -> None:
    """Police, courts and support agencies."""


@agencies.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
def agencies_import(file: Path, database_url: str | None) -> None:
    """Load or update agencies from a GeoJSON FeatureCollection."""
    from service.bootstrap import utc_now
    from service.importing import import_agencies, read_json

    settings = _settings(database_url=database_url)
    engine = _migrated_engine(settings)
    n = import_agencies(engine, read_json(file), utc_now, settings.legal_profile)
    click.echo(f"imported {n} agencies from {file}")


@main.group()
def orders() -> None:
    """Protection orders."""


@orders.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
@click.option("--reason", help="Why (on record, with the file's name, for every order the import changes).")
def orders_import(files: tuple[Path, ...], database_url: str | None, reason: str | None) -> None:
    """Load or update orders; each file holds one order object or an array of them. A new order is held to
    its court's legal profile; a file for an order in force changes only its content (zones, devices,
    intervals, distances): its type, court and dates change only through the court's steps (the API)."""
    from service.bootstrap import utc_now
    from service.importing import import_orders, read_json

    settings = _settings(database_url=database_url)
    engine = _migrated_engine(settings)
    done = import_orders(engine, [(read_json(f), str(f)) for f in files], utc_now, settings.legal_profile, reason)
    for o in done:
        click.echo(f"order {o.order_id}: version {o.version} ({o.source})")
        for w in o.warnings:
            click.echo(f"  warning [{w.code}] {w.message}")
    click.echo(f"imported {len(done)} orders")


@main.group()
def accounts() -> None:
    """Officer and admin accounts (password + TOTP)."""


@accounts.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["police", "court", "supervisor", "admin"]))
@click.option("--agency", "agency_id", help="The officer's agency id (required but for admin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
def accounts_add(name: str, role: str, agency_id: str | None, password_stdin: bool, database_url: str | None) -> None:
    """Create an account; prints its TOTP secret once, to load into the officer's authenticator app."""
    from service.auth import Auth
    from service.bootstrap import utc_now

    password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(
        "password", hide_input=True, confirmation_prompt=True)
    new = Auth(_migrated_engine(_settings(database_url=database_url)), utc_now).create_account(
        name, password, role, agency_id)
    click.echo(f"account {new.account_id} created ({role}{', ' + agency_id if agency_id else ''})")
    click.echo(f"TOTP secret (shown once): {new.totp_secret}")
    click.echo(f"authenticator URI: {new.provisioning_uri}")


@main.group()
def mqtt() -> None:
    """The broker's accounts and ACL."""


@mqtt.command("credentials")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for passwd, acl and new-credentials.json.")
@click.option("--service-user", default="stayaway", show_default=True, help="The account stayaway serve uses.")
@click.option("--rotate", multiple=True, help="Give this account a new password (repeatable).")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
def mqtt_credentials(out_dir: Path, service_user: str, rotate: tuple[str, ...], database_url: str | None) -> None:
    """Accounts for every enrolled device, agency and the service, and a Mosquitto ACL (%u patterns)."""
    from service.bootstrap import utc_now
    from service.mqtt_credentials import AccountsSkipped, generate

    skipped = None
    try:
        issued = generate(_migrated_engine(_settings(database_url=database_url)), utc_now, out_dir, service_user,
                          rotate)
    except AccountsSkipped as exc:  # everything else is written: say so, then name the skipped ones (exit 2)
        issued, skipped = exc.issued, exc
    click.echo(f"wrote {out_dir / 'passwd'} and {out_dir / 'acl'}")
    if issued:
        click.echo(f"{len(issued)} new passwords in {out_dir / 'new-credentials.json'} (shown once; mode 0600)")
    click.echo("in mosquitto.conf: allow_anonymous false, password_file <passwd>, acl_file <acl>")
    if skipped is not None:
        raise skipped


@main.group()
def evidence() -> None:
    """Court evidence bundles: export an order's records, signed; verify a bundle on its own."""


def _evidence_key(s: Settings) -> Any:
    from service.evidence.bundle import load_or_create_key

    return load_or_create_key(Path(s.evidence_key).expanduser() if s.evidence_key else s.data_path() / "evidence-key.pem")


@evidence.command("export")
@click.argument("order_id")
@click.option("--out", "out_file", required=True, type=click.Path(path_type=Path), help="The zip file to write.")
@click.option("--reason", required=True, help="Why (it holds the victim's positions): recorded in the access audit.")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
@click.option("--edition", type=click.Choice(["full", "redacted"]), default="full", show_default=True,
              help="redacted: for the respondent's side, without the victim's data.")
@click.option("--locale", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True,
              help="The report's language.")
def evidence_export(order_id: str, out_file: Path, reason: str, database_url: str | None, edition: str,
                    locale: str) -> None:
    """Write ORDER_ID's evidence bundle (records, timeline as JSON, GeoJSON and CSV, a PDF report, hashes,
    Merkle root and the server's signature). The export is an access-audit record."""
    import getpass
    import hashlib

    from service.auth import Auth
    from service.bootstrap import utc_now
    from service.evidence.bundle import export, key_id

    s = _settings(database_url=database_url)
    engine = _migrated_engine(s)
    key = _evidence_key(s)
    who = f"cli:{getpass.getuser()}"[:64]
    data = export(engine, order_id, key, utc_now, who, locale, edition)
    out_file.write_bytes(data)
    Auth(engine, utc_now).audit_as(who, None, "export", "order", order_id,
                                   {"file": out_file.name, "sha256": hashlib.sha256(data).hexdigest(), "reason": reason,
                                    "edition": edition})
    click.echo(f"wrote {out_file} ({len(data):,} bytes), signed with key {key_id(key.public_key())}")


@evidence.command("verify")
@click.argument("file", type=click.Path(path_type=Path, exists=True))
@click.option("--key-id", help="Fail unless the bundle is signed with this key (`stayaway evidence key`).")
def evidence_verify(file: Path, key_id: str | None) -> None:
    """Check a bundle with nothing but the file: signature, file hashes, every record, Merkle root, chain."""
    from service.evidence.bundle import verify

    v = verify(file.read_bytes(), key_id)
    if v.ok:
        click.echo(f"OK: order {v.order_id}, {v.edition} edition, {v.records} records, signed with key {v.key_id}")
        return
    for problem in v.problems:
        click.echo(f"FAIL: {problem}", err=True)
    sys.exit(1)


@evidence.command("key")
def evidence_key() -> None:
    """The id and public key of this server's evidence key (publish them for verifiers)."""
    from cryptography.hazmat.primitives import serialization

    from service.evidence.bundle import key_id

    public = _evidence_key(_settings()).public_key()
    click.echo(f"key id {key_id(public)}")
    click.echo(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


@main.group()
def retention() -> None:
    """The retention policy (docs/operations.md)."""


@retention.command("apply")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
def retention_apply(dry_run: bool, database_url: str | None) -> None:
    """Delete what the retention policy no longer keeps: ended orders' case data, old rejections and audit."""
    from service import retention as policy
    from service.bootstrap import utc_now

    s = _settings(database_url=database_url)
    done = policy.apply(_migrated_engine(s), utc_now, s.retention_days, s.audit_retention_days, dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{len(done.orders)} ended orders past {s.retention_days} days" + (f": {', '.join(done.orders)}"
                                                                                   if done.orders else ""))
    for table, n in sorted(done.deleted.items()):
        if n:
            click.echo(f"  {verb} {n} rows of {table}")


@main.group()
def tokens() -> None:
    """API tokens for integrations (a role and an agency, no person)."""


@tokens.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["police", "court", "supervisor"]))
@click.option("--agency", "agency_id", required=True, help="The agency the token acts for.")
@click.option("--db", "database_url", help="SQLAlchemy URL (default: STAYAWAY_DATABASE_URL or SQLite).")
def tokens_add(name: str, role: str, agency_id: str, database_url: str | None) -> None:
    """Create a token and print it (only its hash is stored: keep it now)."""
    from service.auth import Auth
    from service.bootstrap import utc_now

    click.echo(Auth(_migrated_engine(_settings(database_url=database_url)), utc_now).create_token(name, role, agency_id))


@main.command()
@click.option("--mqtt", "mqtt_url", help="Use this broker instead of the embedded one.")
@click.option("--http", default="127.0.0.1:8080", show_default=True, help="HOST:PORT for the web app (port 0: any).")
@click.option("--step-s", default=1.0, show_default=True, help="Seconds between simulated reports.")
@click.option("--once", is_flag=True, help="Run the scenario once, then exit (0 when every expected alert arrived).")
@click.option("--scenario", type=click.Choice(["approach_and_enter", "loiter_edge", "drive_through", "follow_victim",
                                               "go_dark", "late_buffer_upload", "cell_only"]),
              help="Run one scenario of the library instead of the tour (it ends by itself).")
@click.option("--speedup", default=1.0, show_default=True,
              help="With --scenario: play it this many times faster (its ground truth assumes 1).")
def demo(mqtt_url: str | None, http: str, step_s: float, once: bool, scenario: str | None, speedup: float) -> None:
    """Everything on embedded defaults, with simulators driving a live scenario."""
    settings = _settings(mqtt_url=mqtt_url, http=http)
    _setup_logging("WARNING")
    from service.demo import run_demo

    sys.exit(run_demo(settings, step_s=step_s, once=once, scenario=scenario, speedup=speedup))


def _migrated_engine(settings: Settings) -> Any:
    from service.adapters.db.engine import make_engine, migrate

    settings.data_path().mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.effective_database_url(), settings.sqlite_synchronous)
    migrate(engine)
    return engine


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1.0):
        pass


if __name__ == "__main__":
    main()
