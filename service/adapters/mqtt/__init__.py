"""paho-mqtt adapters: the ingest subscriber and the alert publisher."""

from service.adapters.mqtt.ingest_client import (
    PANIC_TOPICS,
    REPORT_TOPICS,
    IngestClient,
)
from service.adapters.mqtt.publisher import Publisher
from service.adapters.mqtt.url import MqttUrl, parse_mqtt_url

__all__ = ["PANIC_TOPICS", "REPORT_TOPICS", "IngestClient", "MqttUrl", "Publisher", "parse_mqtt_url"]
