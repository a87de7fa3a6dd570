"""The broker restarts under a running ``stayaway serve``: ingest and alerting resume by themselves."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from simulators import SimDevice
from simulators.walk import offset
from tests.conftest import skip_or_fail
from tests.support import builders
from tests.support.brokers import BrokerInfo, free_port, wait_listening
from tests.support.serve import Console, Serve


class RestartableMosquitto:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="stayaway-mosq-restart-"))
        self.port = free_port()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                             f"persistence_location {self.dir}/\nmax_queued_messages 100000\n"
                             f"log_dest file {self.dir / 'mosquitto.log'}\n")
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([shutil.which("mosquitto") or "mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def info(self) -> BrokerInfo:
        return BrokerInfo(f"mqtt://127.0.0.1:{self.port}", "127.0.0.1", self.port, "mosquitto", "3.1.1")


@pytest.fixture
def mosquitto():  # type: ignore[no-untyped-def]
    if not shutil.which("mosquitto"):
        skip_or_fail("needs a mosquitto binary to restart a broker")
    m = RestartableMosquitto()
    yield m
    m.stop()
    shutil.rmtree(m.dir, ignore_errors=True)


def test_ingest_and_alerts_resume_after_the_broker_restarts(mosquitto, sqlite_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    broker = mosquitto.info()
    serve = Serve(broker, sqlite_url, tmp_path)
    (tmp_path / "a.json").write_text(json.dumps(builders.AGENCIES))
    (tmp_path / "o.json").write_text(json.dumps([builders.order()]))
    serve.cli("agencies", "import", str(tmp_path / "a.json"))
    serve.cli("orders", "import", str(tmp_path / "o.json"))
    serve.start()
    try:
        mosquitto.stop()
        time.sleep(1.0)
        assert serve.get("/healthz")[0] == 503  # ingest knows it lost the broker
        mosquitto.start()
        deadline = time.monotonic() + 30
        while serve.get("/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert serve.get("/healthz")[0] == 200
        console = Console(broker)
        tracker = SimDevice("trk-001", broker.host, broker.port, int(time.time() * 1000)).connect()
        for north in (900, 400, 150):
            tracker.location(*offset(*builders.HOME, north, 0), acc=5.0)
        assert console.wait_for(lambda: len(console.where(kind="zone_breach", event="raised")) == 2, 20)
        tracker.close()
        console.close()
    finally:
        serve.stop()
