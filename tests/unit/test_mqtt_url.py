"""Broker URLs: TLS or loopback only, TLS files checked, the password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.adapters.mqtt.url import parse_mqtt_url
from service.errors import ConfigError
from service.redact import masked_url
from service.settings import Settings
from tests.support.tls import CertAuthority

SECRET = "s3cr%40t-pw"  # URL-encoded: the password is "s3cr@t-pw"


def test_schemes_ports_and_credentials() -> None:
    u = parse_mqtt_url(f"mqtts://stayaway:{SECRET}@broker.example")
    assert (u.host, u.port, u.tls, u.username, u.password) == ("broker.example", 8883, True, "stayaway", "s3cr@t-pw")
    assert parse_mqtt_url("ssl://broker.example:8884").port == 8884
    plain = parse_mqtt_url("mqtt://127.0.0.1")
    assert (plain.port, plain.tls) == (1883, False)
    assert parse_mqtt_url("tcp://localhost:1884").port == 1884


def test_the_password_is_never_shown() -> None:
    u = parse_mqtt_url(f"mqtts://stayaway:{SECRET}@broker.example:8884")
    assert str(u) == "mqtts://stayaway:***@broker.example:8884"
    assert "s3cr@t" not in repr(u) and "s3cr@t" not in f"{u}"
    assert str(parse_mqtt_url("mqtt://[::1]:1883")) == "mqtt://[::1]:1883"
    assert str(parse_mqtt_url("mqtt://dev@127.0.0.1")) == "mqtt://dev@127.0.0.1:1883"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
def test_cleartext_to_this_machine_is_allowed(host: str) -> None:
    assert not parse_mqtt_url(f"mqtt://u:{SECRET}@{host}:1883").tls


@pytest.mark.parametrize("url", [
    f"mqtt://u:{SECRET}@broker.example:1883",  # cleartext over the network
    f"tcp://u:{SECRET}@10.0.0.5",
    f"mqtt://u:{SECRET}@[2001:db8::1]:1883",
    f"http://u:{SECRET}@127.0.0.1",  # not MQTT
    f"mqtts://u:{SECRET}@broker.example:8883/topic",  # no path
    f"mqtts://u:{SECRET}@broker.example:8883?ca=/etc/ca.pem",  # TLS files are settings
    f"mqtts://u:{SECRET}@broker.example:88x3",
    f"mqtts://u:{SECRET}@:8883",
])
def test_refused_urls_never_quote_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mqtt_url(url)
    assert "s3cr" not in str(info.value)


def test_tls_files_need_an_mqtts_url_and_a_key_needs_its_certificate() -> None:
    with pytest.raises(ConfigError, match="mqtts://"):
        parse_mqtt_url("mqtt://127.0.0.1:1883", ca_file="/etc/ca.pem")
    with pytest.raises(ConfigError, match="STAYAWAY_MQTT_CERT_FILE"):
        parse_mqtt_url("mqtts://broker.example", key_file="/etc/client.key")
    with pytest.raises(ConfigError, match="mqtts://"):
        Settings.from_env({"STAYAWAY_MQTT_CA_FILE": "/etc/ca.pem"})  # no URL: the embedded broker, no TLS
    with pytest.raises(ConfigError, match="cleartext"):
        Settings.from_env({"STAYAWAY_MQTT_URL": f"mqtt://u:{SECRET}@broker.example"})


def test_settings_carry_the_tls_files_to_the_url(tmp_path: Path) -> None:
    ca = CertAuthority.create(tmp_path, "ca")
    client = ca.issue(tmp_path, "stayaway", client=True)
    s = Settings.from_env({"STAYAWAY_MQTT_URL": f"mqtts://stayaway:{SECRET}@broker.example",
                           "STAYAWAY_MQTT_CA_FILE": str(ca.cert), "STAYAWAY_MQTT_CERT_FILE": str(client.cert),
                           "STAYAWAY_MQTT_KEY_FILE": str(client.key)})
    u = s.mqtt()
    assert (u.ca_file, u.cert_file, u.key_file) == (str(ca.cert), str(client.cert), str(client.key))
    context = u.ssl_context()
    assert context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    assert context.minimum_version.name == "TLSv1_2"
    assert Settings.from_env({}).mqtt() is None
    assert parse_mqtt_url("mqtt://127.0.0.1").ssl_context() is None


def test_unusable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    ca = CertAuthority.create(tmp_path, "ca")
    with pytest.raises(ConfigError, match="STAYAWAY_MQTT_CA_FILE"):
        parse_mqtt_url("mqtts://broker.example", str(tmp_path / "missing.pem")).ssl_context()
    with pytest.raises(ConfigError, match="STAYAWAY_MQTT_CA_FILE"):
        parse_mqtt_url("mqtts://broker.example", str(ca.key)).ssl_context()  # a key is no certificate
    client = ca.issue(tmp_path, "stayaway", client=True)
    locked = tmp_path / "locked.key"
    key = serialization.load_pem_private_key(client.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"passphrase")))
    with pytest.raises(ConfigError, match="encrypted"):  # never a prompt on the terminal
        parse_mqtt_url("mqtts://broker.example", str(ca.cert), str(client.cert), str(locked)).ssl_context()
    with pytest.raises(ConfigError, match="STAYAWAY_MQTT_CERT_FILE"):
        parse_mqtt_url("mqtts://broker.example", str(ca.cert), str(client.cert), str(ca.key)).ssl_context()


def test_masked_url_masks_every_password_in_a_text() -> None:
    text = ("db postgresql+psycopg://app:pg-secret@127.0.0.1:5432/stayaway, "
            "broker mqtt://stayaway:mq-secret@127.0.0.1:1883 and mqtts://dev@broker.example, http://example.org/a:b@c")
    masked = masked_url(text)
    assert "pg-secret" not in masked and "mq-secret" not in masked
    assert "postgresql+psycopg://app:***@127.0.0.1:5432/stayaway" in masked
    assert "mqtt://stayaway:***@127.0.0.1:1883" in masked
    assert "mqtts://dev@broker.example" in masked and "http://example.org/a:b@c" in masked  # no password: unchanged
