"""The database schema (SQLAlchemy Core). Alembic migrations create it.

Append-only tables (evidence): location_reports, status_reports, panic_presses,
rejected_messages, order_versions, alert_log. Times are aware UTC datetimes.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, MetaData, Table
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(TypeDecorator[sa.DateTime]):
    """Aware UTC datetimes in and out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        from datetime import UTC

        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(name: str, nullable: bool = False, **kw) -> Column:  # type: ignore[no-untyped-def]
    return Column(name, UtcDateTime(), nullable=nullable, **kw)


agencies = Table(
    "agencies", metadata,
    Column("agency_id", sa.String(64), primary_key=True),
    Column("name", sa.Text, nullable=False),
    Column("kind", sa.String(16), nullable=False),
    Column("jurisdiction", sa.JSON, nullable=True),
    ts("updated_at"),
    Column("webhook_url", sa.Text),  # alert messages are also POSTed here, signed (channels/webhook.py)
    Column("escalation", sa.JSON),  # {kind or severity: [[seconds, action], ...]} for alerts it must handle
    Column("escalate_to", sa.JSON),  # [agency_id, ...]: added as recipients by a next_agency step
    Column("legal_profile", sa.String(32)),  # a court's legal profile (service.domain.profiles); null: the setting's
    Column("response", sa.JSON),  # {"dispatch_s": s, "on_scene_s": s}: its response deadlines after acknowledging
)

orders = Table(
    "orders", metadata,
    Column("order_id", sa.String(64), primary_key=True),
    Column("type", sa.String(16), nullable=False),
    Column("court_id", sa.String(64), nullable=False),
    ts("issued_at"),
    ts("expires_at", nullable=True),
    Column("status", sa.String(16), nullable=False, server_default="active"),
    Column("version", sa.Integer, nullable=False),
    Column("body", sa.JSON, nullable=False),
    ts("updated_at"),
    Column("warnings", sa.JSON),  # set-up check warnings (service.domain.setup_checks)
    Column("extensions", sa.Integer, nullable=False, server_default="0"),  # an ordinary order: at most 1
    ts("ended_at", nullable=True),  # cancelled, superseded, rejected, withdrawn or expired
    Column("superseded_by", sa.String(64)),  # a temporary order: the ordinary order that replaced it
    ts("grace_until", nullable=True),  # after its end, her panic still reaches police until then (domain.ends)
)

order_versions = Table(
    "order_versions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", sa.String(64), nullable=False),
    Column("version", sa.Integer, nullable=False),
    Column("body", sa.JSON, nullable=False),
    Column("source", sa.Text, nullable=False),
    ts("recorded_at"),
    ts("effective_from", nullable=True),  # when this version took effect (None: recorded_at, older rows)
    Column("actor_id", sa.String(64)),  # who made it (the court officer; None: an import)
    Column("reason", sa.Text),
    sa.UniqueConstraint("order_id", "version"),
)

order_events = Table(  # append-only: the order's legal history (service.domain.law.LegalEvent)
    "order_events", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", sa.String(64), nullable=False, index=True),
    Column("event", sa.String(16), nullable=False),
    ts("at"),
    Column("actor_id", sa.String(64), nullable=False),
    Column("role", sa.String(16), nullable=False),
    Column("reason", sa.Text),
    Column("version", sa.Integer),
    Column("details", sa.JSON),
)

service_records = Table(  # append-only: the order served to a party
    "service_records", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", sa.String(64), nullable=False, index=True),
    Column("party", sa.String(16), nullable=False),  # respondent | victim | police | committee
    ts("served_at"),
    Column("served_by", sa.String(64), nullable=False),
    Column("method", sa.Text),
    ts("recorded_at"),
)

order_parties = Table(
    "order_parties", metadata,
    Column("order_id", sa.String(64), primary_key=True),
    Column("role", sa.String(16), primary_key=True),
    Column("person_id", sa.String(64), nullable=False),
    Column("device_id", sa.String(64), nullable=True, index=True),
    Column("report_interval_s", sa.Integer, nullable=False),
    Column("owntracks_topic", sa.String(140), nullable=True, index=True),  # owntracks/{user}/{device}, if any
)

device_bindings = Table(  # who may name a device or an OwnTracks topic: one holder at a time (bindings_repo.bind)
    "device_bindings", metadata,
    Column("kind", sa.String(16), primary_key=True),  # device | owntracks
    Column("ident", sa.String(140), primary_key=True),  # the device id, or the topic owntracks/{user}/{device}
    Column("court_id", sa.String(64), nullable=False),  # the holder: one person, in one role, in one court's orders
    Column("role", sa.String(16), nullable=False),
    Column("person_id", sa.String(64), nullable=False),
    Column("device_id", sa.String(64), nullable=False),  # a topic: the device it stands for
    ts("bound_at"),
    Column("successor", sa.String(64)),  # a replaced device: held on until its successor's first message
    ts("retired_at", nullable=True),
)

zones = Table(
    "zones", metadata,
    Column("order_id", sa.String(64), primary_key=True),
    Column("zone_id", sa.String(64), primary_key=True),
    Column("kind", sa.String(32), nullable=False),
    Column("name", sa.Text, nullable=False),
    Column("geometry", sa.JSON, nullable=False),
    Column("radius_m", sa.Float, nullable=True),
)

def device_message_table(name: str, *columns: Column, seq_nullable: bool = False) -> Table:
    """A table of what devices sent: every row keeps the device's id and seq, device time, receive
    time, processing time, quality flags and the raw payload as received; (device_id, seq) is unique."""
    return Table(
        name, metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("device_id", sa.String(64), nullable=False),
        Column("seq", sa.BigInteger, nullable=seq_nullable),
        ts("device_ts"),
        ts("received_at"),
        ts("processed_at"),
        *columns,
        Column("flags", sa.String(200), nullable=False, server_default=""),
        Column("raw", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("device_id", "seq", name=f"uq_{name}_device_seq"),
    )


location_reports = device_message_table(
    "location_reports",
    Column("lat", sa.Float, nullable=False),
    Column("lon", sa.Float, nullable=False),
    Column("acc_m", sa.Float, nullable=False),
    Column("spd_mps", sa.Float),
    Column("hdg_deg", sa.Float),
    Column("batt_pct", sa.SmallInteger),
    Column("src", sa.String(8)),
)

status_reports = device_message_table(
    "status_reports",
    Column("batt_pct", sa.SmallInteger),
    Column("charging", sa.Boolean),
    Column("strap", sa.String(8)),
    Column("case_state", sa.String(8)),
    Column("gps", sa.String(8)),
)

# seq is NULL when the phone sent a bad one: such a press is never deduplicated away
panic_presses = device_message_table(
    "panic_presses",
    Column("lat", sa.Float),
    Column("lon", sa.Float),
    Column("acc_m", sa.Float),
    Column("silent", sa.Boolean, nullable=False),
    seq_nullable=True,
)

rejected_messages = Table(
    "rejected_messages", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("topic", sa.Text, nullable=False),
    Column("device_id", sa.String(64)),
    ts("received_at"),
    ts("processed_at"),
    Column("reason", sa.String(40), nullable=False),
    Column("field", sa.String(64)),
    Column("item_index", sa.Integer),
    Column("detail", sa.Text, nullable=False),
    Column("payload", sa.LargeBinary, nullable=False),
)

zone_membership = Table(
    "zone_membership", metadata,
    Column("order_id", sa.String(64), primary_key=True),
    Column("zone_id", sa.String(64), primary_key=True),
    Column("inside", sa.Boolean, nullable=False),
    ts("since", nullable=True),
    Column("alert_id", sa.String(36)),
    Column("warned", sa.Boolean, nullable=False, server_default=sa.false()),
    Column("possibles", sa.Integer, nullable=False, server_default="0"),
    ts("updated_at"),
)

alerts = Table(
    "alerts", metadata,
    Column("alert_id", sa.String(36), primary_key=True),
    Column("order_id", sa.String(64), nullable=False, index=True),
    Column("kind", sa.String(32), nullable=False),
    Column("severity", sa.String(16), nullable=False),
    Column("status", sa.String(16), nullable=False, index=True),
    Column("zone_id", sa.String(64)),
    Column("device_id", sa.String(64)),  # device-health kinds: the device the condition is about
    Column("retroactive", sa.Boolean, nullable=False),
    Column("condition_active", sa.Boolean, nullable=False),
    Column("event_seq", sa.Integer, nullable=False),
    Column("recipients", sa.JSON, nullable=False),
    ts("occurred_at"),
    ts("raised_at"),
    ts("last_event_at"),
    ts("last_report_ts", nullable=True),
    ts("acknowledged_at", nullable=True),
    Column("acknowledged_by", sa.String(100)),
    ts("dispatched_at", nullable=True),
    ts("on_scene_at", nullable=True),
    ts("resolved_at", nullable=True),
    Column("resolved_by", sa.String(100)),
    Column("outcome", sa.String(32)),
    Column("escalation", sa.JSON),  # the policy copied at raise: [[seconds, action], ...]
    Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    ts("next_escalation_at", nullable=True),
    Column("owner", sa.String(64)),  # the agency that must act: only its steps move the clock (alerts.lifecycle)
    Column("response", sa.JSON),  # [dispatch_s, on_scene_s] after the owner's acknowledgement, copied at raise
    ts("dispatch_due_at", nullable=True),
    ts("on_scene_due_at", nullable=True),
    Column("missed", sa.JSON),  # [[deadline, agency_id], ...]: each deadline missed (acknowledge, dispatch, on_scene)
)

webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("agency_id", sa.String(64), nullable=False),
    Column("event_id", sa.String(80), nullable=False),
    Column("priority", sa.SmallInteger, nullable=False),
    Column("payload", sa.LargeBinary, nullable=False),  # the alert message as published (may hold positions)
    Column("channel", sa.String(16), nullable=False, server_default="webhook"),  # webhook | apprise
    ts("created_at"),
    ts("delivered_at", nullable=True),
    Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_webhook_deliveries_undelivered", "delivered_at", "priority", "id"),
)

webhook_attempts = Table(
    "webhook_attempts", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("delivery_id", sa.BigInteger, nullable=False),
    Column("attempt_no", sa.Integer, nullable=False),
    ts("at"),
    Column("status_code", sa.Integer),
    Column("error", sa.Text),
    Column("duration_ms", sa.Float, nullable=False),
    Column("target", sa.Text),  # Apprise: the service, secrets masked
    sa.Index("ix_webhook_attempts_delivery", "delivery_id"),
)

alert_log = Table(
    "alert_log", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", sa.String(36), nullable=False, index=True),
    Column("event_seq", sa.Integer, nullable=False),
    Column("event", sa.String(16), nullable=False),
    Column("status", sa.String(16), nullable=False),
    Column("actor", sa.String(64), nullable=False),
    Column("source", sa.String(32), nullable=False),
    ts("at"),
    Column("message", sa.JSON, nullable=False),  # the full message as published (may hold coordinates)
    Column("note", sa.Text),  # what the officer wrote with the step (a resolution says what happened)
    sa.UniqueConstraint("alert_id", "event_seq", name="uq_alert_log_alert_event"),
)

outbox = Table(
    "outbox", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", sa.String(36), nullable=False),
    Column("event_seq", sa.Integer, nullable=False),
    Column("agency_id", sa.String(64), nullable=False),
    Column("priority", sa.SmallInteger, nullable=False),  # 0 = most urgent
    Column("topic", sa.Text, nullable=False),
    Column("payload", sa.LargeBinary, nullable=False),
    ts("created_at"),
    ts("sent_at", nullable=True),
    Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_outbox_unsent", "sent_at", "priority", "id"),
)


# -- who may do what (service.domain.access, service.auth) -------------------------------------------------------

accounts = Table(  # officers and admins; they sign in with a password (Argon2) and a TOTP code
    "accounts", metadata,
    Column("account_id", sa.String(64), primary_key=True),
    Column("role", sa.String(16), nullable=False),  # police | court | supervisor | admin
    Column("agency_id", sa.String(64)),
    Column("password_hash", sa.Text, nullable=False),  # Argon2id (argon2-cffi), never the password
    Column("totp_secret", sa.String(64), nullable=False),  # base32, RFC 6238
    Column("totp_last_step", sa.BigInteger, nullable=False, server_default="0"),  # a code is used once
    ts("created_at"),
    ts("disabled_at", nullable=True),
    Column("locale", sa.String(16)),  # the web app's language (zh-CN | en); None: the browser's choice
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 of the 256-bit session token
    Column("account_id", sa.String(64), nullable=False, index=True),
    ts("created_at"),
    ts("last_seen_at"),
    ts("ended_at", nullable=True),
    Column("from_addr", sa.String(64)),
)

api_tokens = Table(  # integrations: a role and an agency, like an account, without a person
    "api_tokens", metadata,
    Column("token_hash", sa.String(64), primary_key=True),
    Column("name", sa.String(64), nullable=False, unique=True),
    Column("role", sa.String(16), nullable=False),
    Column("agency_id", sa.String(64)),
    ts("created_at"),
    ts("revoked_at", nullable=True),
)

access_audit = Table(  # append-only, kept at least a year: who, what, when (UTC), from where, why
    "access_audit", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    ts("at"),
    Column("actor", sa.String(64), nullable=False),
    Column("role", sa.String(16)),
    Column("action", sa.String(32), nullable=False),
    Column("object_type", sa.String(32)),
    Column("object_id", sa.String(80)),
    Column("from_addr", sa.String(64)),
    Column("reason", sa.Text),
    Column("outcome", sa.String(16), nullable=False),  # ok | denied | failed
    Column("details", sa.JSON),
    sa.Index("ix_access_audit_actor_action_at", "actor", "action", "at"),
)

mqtt_credentials = Table(  # the broker's accounts: one per device, per agency console, and the service
    "mqtt_credentials", metadata,
    Column("username", sa.String(64), primary_key=True),
    Column("kind", sa.String(16), nullable=False),  # device | agency | service
    Column("password_hash", sa.Text, nullable=False),  # Mosquitto's $7$ (PBKDF2-SHA512), never the password
    ts("created_at"),
)
