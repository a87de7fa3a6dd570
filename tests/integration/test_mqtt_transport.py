"""The ingest sessions' socket (buffered reads, coalesced PUBACKs) over real TCP and a real broker."""

from __future__ import annotations

import queue
import select
import socket
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from service.adapters.mqtt.ingest_client import IngestClient
from service.adapters.mqtt.network_loop import BufferedSocket
from service.adapters.mqtt.url import parse_mqtt_url
from service.wire import Inbound
from tests.conftest import skip_or_fail
from tests.support.brokers import BrokerInfo


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected loopback TCP pair: (ours, non-blocking as paho sets it; the peer's)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        ours = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
    ours.setblocking(False)
    yield ours, peer
    ours.close()
    peer.close()


def read_exactly(sock: socket.socket, n: int, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def wait_pending(buffered: BufferedSocket, sock: socket.socket) -> None:
    """As NetworkLoop does: wait on the socket only when the buffer is empty."""
    if not buffered.pending():
        select.select([sock], [], [], 5.0)


def test_reads_are_served_from_one_buffer_in_order(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = tcp_pair
    buffered = BufferedSocket(ours)
    with pytest.raises(BlockingIOError):  # nothing sent yet: paho sees "try again", as with a plain socket
        buffered.recv(1)
    stream = bytes(range(256)) * 40
    peer.sendall(stream)
    got = bytearray()
    deadline = time.monotonic() + 5
    while len(got) < len(stream) and time.monotonic() < deadline:
        wait_pending(buffered, ours)
        try:
            got += buffered.recv(1)  # paho's way: one byte for the type, then the length bytes...
            got += buffered.recv(300)  # ...then the body
        except BlockingIOError:
            continue
    assert bytes(got) == stream
    assert buffered.pending() == 0


def test_end_of_stream_reaches_paho_as_an_empty_read(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = tcp_pair
    buffered = BufferedSocket(ours)
    peer.sendall(b"\x30\x02ab")
    peer.shutdown(socket.SHUT_WR)
    wait_pending(buffered, ours)
    assert buffered.recv(1) == b"\x30"
    assert buffered.pending() == 3
    assert buffered.recv(10) == b"\x02ab"
    wait_pending(buffered, ours)
    assert buffered.recv(1) == b""


def test_writes_wait_for_flush_then_leave_together_in_order(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = tcp_pair
    buffered = BufferedSocket(ours)
    pubacks = [bytes([0x40, 0x02, mid >> 8, mid & 0xFF]) for mid in range(1, 301)]
    for packet in pubacks:
        assert buffered.send(packet) == 4  # paho counts the packet as written
    assert buffered.unsent() == 1200
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(1)  # nothing went out before the flush
    buffered.flush()
    assert buffered.unsent() == 0
    assert read_exactly(peer, 1200) == b"".join(pubacks)


def test_flush_under_backpressure_keeps_the_rest_and_loses_nothing(
        tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = tcp_pair
    buffered = BufferedSocket(ours)
    payload = bytes(i % 251 for i in range(16 * 1024 * 1024))  # far more than the kernel buffers hold
    buffered.send(payload)
    buffered.flush()
    assert 0 < buffered.unsent() < len(payload)  # the socket took part; the rest waits, nothing raised
    assert flush_while_peer_reads(buffered, peer, len(payload)) == payload
    assert buffered.unsent() == 0


def flush_while_peer_reads(buffered: BufferedSocket, peer: socket.socket, size: int, bound_s: float = 20.0) -> bytes:
    """Flush ``buffered`` until it holds nothing while ``peer`` reads; what the peer received."""
    received = bytearray()

    def drain() -> None:
        peer.settimeout(bound_s / 2)
        while len(received) < size:
            chunk = peer.recv(1 << 20)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    deadline = time.monotonic() + bound_s
    while buffered.unsent() and time.monotonic() < deadline:
        buffered.flush()
        time.sleep(0.001)
    reader.join(bound_s)
    return bytes(received)


def test_close_still_sends_what_paho_wrote_last(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = tcp_pair
    buffered = BufferedSocket(ours)
    buffered.send(b"\xe0\x00")  # DISCONNECT: paho closes right after writing it
    buffered.close()
    assert read_exactly(peer, 2) == b"\xe0\x00"
    assert peer.recv(1) == b""


def test_a_broken_connection_drops_the_buffer_without_raising(tcp_pair: tuple[socket.socket, socket.socket]) -> None:
    ours, peer = tcp_pair
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # RST
    buffered = BufferedSocket(ours)
    time.sleep(0.05)
    buffered.send(b"\x40\x02\x00\x01")
    buffered.flush()  # logs and drops: paho's next read sees the reset and reconnects
    assert buffered.unsent() == 0
    try:  # and the next read tells paho the connection is gone: end of stream or an error
        assert buffered.recv(1) == b""
    except OSError as exc:
        assert not isinstance(exc, BlockingIOError)


def test_ingest_session_receives_all_and_its_acks_reach_the_broker(broker: BrokerInfo) -> None:
    """Every QoS 1 message arrives once; after the acks, a new connection of the same session gets none back."""
    if not broker.persistent_sessions:
        skip_or_fail("the embedded broker keeps no session for a disconnected client")
    inbox: queue.Queue[Inbound] = queue.Queue()
    client_id = f"stayaway-test-transport-{time.monotonic_ns()}"
    topic = f"stayaway/v1/devices/transport-{time.monotonic_ns()}/location"
    url = parse_mqtt_url(broker.url)

    def session() -> IngestClient:
        return IngestClient(url, client_id, "3.1.1", 1000, 3600, inbox.put, [(topic, 1)])

    ingest = session()
    ingest.start()
    assert ingest.subscribed.wait(10)
    # paho still creates its socket through the hook BufferedClient overrides (a paho upgrade could move it)
    assert isinstance(ingest._client.socket(), BufferedSocket)
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{client_id}-pub")
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    n, chunk = 3000, 500  # a stock Mosquitto queues at most 1000 messages per session and drops the rest
    got: list[Inbound] = []
    deadline = time.monotonic() + 60
    for start in range(0, n, chunk):
        infos = [publisher.publish(topic, f'{{"n": {i}}}'.encode(), qos=1) for i in range(start, start + chunk)]
        for info in infos:
            info.wait_for_publish(10)
        take_and_ack(inbox, ingest, got, start + chunk, deadline)
    publisher.loop_stop()
    publisher.disconnect()
    assert sorted(item.payload for item in got) == sorted(f'{{"n": {i}}}'.encode() for i in range(n))
    time.sleep(0.5)  # the last acks leave on the loop's next turn
    ingest.stop()

    again = session()  # same client id, clean session off: only unacknowledged messages come back
    again.start()
    try:
        assert again.subscribed.wait(10)
        time.sleep(1.0)
        assert inbox.qsize() == 0
    finally:
        again.stop()


def take_and_ack(inbox: queue.Queue[Inbound], ingest: IngestClient, got: list[Inbound], want: int,
                 deadline: float) -> None:
    """Take what arrives into ``got`` until it holds ``want`` (or ``deadline``), acknowledging in batches of up
    to 200, as the pipeline does."""
    while len(got) < want and time.monotonic() < deadline:
        batch: list[Inbound] = []
        try:
            batch.append(inbox.get(timeout=0.5))
            while len(batch) < 200:
                batch.append(inbox.get_nowait())
        except queue.Empty:
            pass
        got.extend(batch)
        ingest.ack(batch)
