"""Adapters: the database, the MQTT broker, the embedded broker."""
