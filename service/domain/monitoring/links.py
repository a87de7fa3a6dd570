"""Which orders a device reports for, in which role: enrolled devices, OwnTracks topics, and a
replaced device that keeps reporting until its successor's first message (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.domain.orders import OrderSpec

if TYPE_CHECKING:
    from .monitor import Monitor


def link(m: Monitor, spec: OrderSpec) -> None:
    for party in spec.parties():
        if party.device_id:
            m.devices.setdefault(party.device_id, []).append((spec.order_id, party.role))
        if party.owntracks_topic and party.device_id:
            m.owntracks[party.owntracks_topic] = party.device_id


def unlink(m: Monitor, removed: OrderSpec) -> None:
    """``removed`` is no longer monitored: its devices and topics stay only where another order names them."""
    for party in removed.parties():
        topic = party.owntracks_topic
        if topic and m.owntracks.get(topic) == party.device_id:
            still = next((p.device_id for o in m.orders.values() for p in o.spec.parties()
                          if p.owntracks_topic == topic and p.device_id), None)
            if still is None:  # no other order in force names it (two orders of her court may)
                del m.owntracks[topic]
            else:
                m.owntracks[topic] = still
    for device_id in list(m.devices):
        links = [x for x in m.devices[device_id] if x[0] != removed.order_id]
        if links:
            m.devices[device_id] = links
        else:
            del m.devices[device_id]


def add_handover(m: Monitor, order_id: str, old_device: str, role: str) -> None:
    """A replaced device (a broken tracker) keeps reporting for its order until the new one's first
    message: no gap in monitoring while the new tracker is fitted."""
    order = m.orders.get(order_id)
    if order is None or old_device in order.handover:
        return
    order.handover[old_device] = role
    m.devices.setdefault(old_device, []).append((order_id, role))


def end_handover(m: Monitor, dev: str) -> None:
    """``dev`` reported: where it replaced a device, the old one is released."""
    for order_id, role in list(m.roles_of(dev)):
        order = m.orders[order_id]
        party = order.spec.respondent if role == "respondent" else order.spec.victim
        if not order.handover or party.device_id != dev:
            continue
        for old in [d for d, r in order.handover.items() if r == role]:
            del order.handover[old]
            links = [x for x in m.devices.get(old, []) if x != (order_id, role)]
            if links:
                m.devices[old] = links
            else:
                m.devices.pop(old, None)
