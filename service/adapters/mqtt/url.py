"""Broker URLs: ``mqtt://[user[:password]@]host[:port]`` and ``mqtts://`` (TLS), and the paho clients built on them.

``mqtt://`` (or ``tcp://``, port 1883 by default) is cleartext, so it is accepted only for a broker on
this machine (a loopback address or ``localhost``): the broker password and every report would
otherwise cross the network readable. ``mqtts://`` (or ``ssl://``, port 8883 by default) is TLS 1.2 or
newer; the broker's certificate must chain to the CA file given (else the system's trust store) and
name the URL's host. A client certificate and key are optional (a broker listener with
``require_certificate true``). The TLS files come from settings (``STAYAWAY_MQTT_CA_FILE``,
``STAYAWAY_MQTT_CERT_FILE``, ``STAYAWAY_MQTT_KEY_FILE``), never from the URL.

A URL is printed, logged and repr'd with its password masked (``***``): :class:`MqttUrl` holds the
password but never shows it, and :func:`service.redact.masked_url` does the same for any URL string.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from service.errors import ConfigError

PLAIN_SCHEMES = ("mqtt", "tcp")
TLS_SCHEMES = ("mqtts", "ssl")


@dataclass(frozen=True, slots=True)
class MqttUrl:
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None  # PEM CA certificates the broker's certificate must chain to; None: the system's
    cert_file: str | None = None  # our client certificate (PEM), for a listener that requires one
    key_file: str | None = None  # its private key; None: in cert_file

    def __str__(self) -> str:  # never prints the password
        user = f"{self.username}{':***' if self.password else ''}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for ``mqtts://`` (None for ``mqtt://``): the broker's certificate is verified
        against ``ca_file`` and must name ``host``; files that cannot be read are a :class:`ConfigError`."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"STAYAWAY_MQTT_CA_FILE {self.ca_file}: cannot be read as PEM certificates "
                              f"({exc.__class__.__name__})") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if self.cert_file:
            try:
                context.load_cert_chain(self.cert_file, self.key_file or None, password=_no_passphrase)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"STAYAWAY_MQTT_CERT_FILE/STAYAWAY_MQTT_KEY_FILE {self.cert_file}: no usable "
                                  f"certificate and unencrypted key ({exc.__class__.__name__})") from exc
        return context


def _no_passphrase() -> str:
    """An encrypted key would make OpenSSL prompt on the terminal: refuse it instead."""
    raise ConfigError("STAYAWAY_MQTT_KEY_FILE: the key is encrypted; give an unencrypted key (mode 0600)")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_mqtt_url(url: str, ca_file: str | None = None, cert_file: str | None = None,
                   key_file: str | None = None) -> MqttUrl:
    """Errors never quote the URL (it may hold the password)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in PLAIN_SCHEMES + TLS_SCHEMES:
        raise ConfigError("MQTT URL must start with mqtts:// (TLS) or mqtt:// (e.g. mqtts://broker.example:8883)")
    tls = scheme in TLS_SCHEMES
    if not parts.hostname:
        raise ConfigError("MQTT URL needs a host")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ConfigError("MQTT URL takes no path or query: scheme://[user[:password]@]host[:port]; TLS files are "
                          "STAYAWAY_MQTT_CA_FILE, STAYAWAY_MQTT_CERT_FILE and STAYAWAY_MQTT_KEY_FILE")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ConfigError("MQTT URL has a bad port") from exc
    if not tls:
        if ca_file or cert_file or key_file:
            raise ConfigError("STAYAWAY_MQTT_CA_FILE, _CERT_FILE and _KEY_FILE are for an mqtts:// broker URL; "
                              "this one is mqtt:// (cleartext)")
        if not is_loopback(parts.hostname):
            raise ConfigError(f"mqtt:// is cleartext (the broker password and every report readable on the way): "
                              f"only to a broker on this machine; use mqtts:// for {parts.hostname}")
    if key_file and not cert_file:
        raise ConfigError("STAYAWAY_MQTT_KEY_FILE needs STAYAWAY_MQTT_CERT_FILE (the certificate it belongs to)")
    return MqttUrl(parts.hostname, port, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, tls,
                   ca_file or None, cert_file or None, key_file or None)


def set_nodelay(_client: Any, _userdata: Any, sock: Any) -> None:
    """paho ``on_socket_open``: small QoS 1 packets must not wait for Nagle."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class Client(mqtt.Client):
    """A paho client that speaks TLS when :attr:`tls_context` is set (:func:`new_client` sets it).

    The TLS layer is put on in paho's socket hook rather than with paho's ``tls_set``: paho leaves
    the socket of a failed handshake (an untrusted certificate, a wrong host name) open for the
    garbage collector, once per reconnect attempt; here it is closed at once. Otherwise the result is
    the same ``ssl.SSLSocket`` under paho, host name checked during the handshake.
    """

    tls_context: ssl.SSLContext | None = None

    def _create_socket(self) -> Any:  # paho's hook for its own transports (paho-mqtt 2.x)
        sock = super()._create_socket()
        context = self.tls_context
        if context is None:
            return sock
        try:
            tls = context.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            raise
        try:
            tls.settimeout(self.connect_timeout)
            tls.do_handshake()
        except BaseException:
            tls.close()
            raise
        return tls


def new_client(client_id: str, protocol: str, url: MqttUrl, client_class: type[Client] = Client,
               **kw: Any) -> Client:
    proto = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    client = client_class(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto, **kw)
    client.tls_context = url.ssl_context()
    if url.username:
        client.username_pw_set(url.username, url.password)
    client.on_socket_open = set_nodelay
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client
