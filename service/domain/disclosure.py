"""What may reach a device: nothing the respondent can read depends on where she is.

The respondent holds his tracker and its credentials. Through the broker's ACL he reads his
device's ``commands`` and ``notices`` topics, and nothing else. Every message the monitor sends to
a device is caused by an alert event, and every alert event may follow her position or her places
(a proximity, a pre-alert in the ring around her, a breach of her zones). Pursuit mode once sent
``set_interval 15`` to his tracker too, so that publishing made-up positions and reading his own
commands located her to about 350 m (issue 12): an oracle, even with no coordinate in it.

The rule, checked here for every device message and nowhere else:

* ``commands`` never go to a device that stands as a respondent in any order in force (a device
  may be the victim's phone in one order and a respondent's in another: the respondent role wins).
  His reporting interval is the court's (``report_interval_s``): it never follows an alert.
* ``notices`` go only to the phone of the order's victim, for her own order.

``tests/unit/test_disclosure.py`` checks it as a property: whatever her positions and places, the
messages to his device are the same (none), while her phone still gets pursuit mode and notices.
"""

from __future__ import annotations

from collections.abc import Iterable


def may_send(channel: str, order_id: str, roles: Iterable[tuple[str, str]]) -> bool:
    """May a message on ``channel`` ("commands" or "notices"), caused by an alert of ``order_id``,
    go to a device with these ``(order id, role)`` enrolments?"""
    roles = list(roles)
    if any(role == "respondent" for _, role in roles):
        return channel == "notices" and (order_id, "victim") in roles
    if channel == "notices":
        return (order_id, "victim") in roles
    return channel == "commands" and any(role == "victim" for _, role in roles)
