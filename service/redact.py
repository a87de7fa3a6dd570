"""Secrets out of output: the password of any ``scheme://user:password@host`` URL masked as ``***``.

Broker and database URLs carry passwords (the broker account reads every device's topics). Every
line stayaway prints or logs about a URL goes through :func:`masked_url`; ``stayaway`` commands also
pass their log lines and error messages (tracebacks included) through it, in case a library quotes one.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<password>[^@/\s]*)@")


def masked_url(text: str) -> str:
    """``text`` with the password of every ``scheme://user:password@`` in it replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if m["password"] else m[0], text)
