"""The web app's two languages: Simplified Chinese (the first users are Chinese courts and police) and English.

Strings are marked with ``_()`` in the templates (Jinja's i18n extension; ``js_()`` for a string a
script fills in, its ``%(name)s`` placeholders kept) and translated in gettext
catalogues, ``translations/<locale>/LC_MESSAGES/messages.po``, read with Babel when the app is made (no
compiled ``.mo`` to keep in step). ``python -m service.web.i18n`` brings the catalogue up to date with the
marked strings; ``tests/unit/test_i18n.py`` fails on one without its Chinese. The language is the signed-in account's choice (``accounts.locale``), else
the browser's ``Accept-Language``, else Chinese.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, g, request

LOCALES = ("zh-CN", "en")  # the first is the default


def N_(message: str) -> str:
    return message


# the words the API and the wire use (alert kinds, severities, statuses, outcomes, roles, order fields),
# as people read them; the ``label`` filter translates them
LABELS = {
    "zone_breach": N_("Zone breach"), "proximity": N_("Too close to the victim"), "pre_alert": N_("Approaching"),
    "panic": N_("Panic button"), "strap_tamper": N_("Strap tampered"), "case_tamper": N_("Case opened"),
    "battery_low": N_("Battery low"), "signal_lost": N_("Tracker silent"), "location_lost": N_("No location"),
    "victim_signal_lost": N_("Victim's phone silent"), "device_cloned": N_("Two devices report as one"),
    "critical": N_("Critical"), "high": N_("High"), "warning": N_("Warning"),
    "open": N_("Open"), "acknowledged": N_("Acknowledged"), "dispatched": N_("Dispatched"), "on_scene": N_("On scene"),
    "resolved": N_("Resolved"),
    "false_alarm": N_("False alarm"), "respondent_warned": N_("Respondent warned"), "detained": N_("Detained"),
    "arrested": N_("Arrested"), "victim_safe": N_("Victim safe"), "referred": N_("Referred"),
    "condition_ended": N_("Condition ended"), "other": N_("Other"),
    "police": N_("Police"), "court": N_("Court"), "supervisor": N_("Supervisor"), "admin": N_("Administrator"),
    "respondent": N_("Respondent"), "victim": N_("Victim"), "committee": N_("Community committee"),
    "active": N_("In force"), "expired": N_("Expired"), "cancelled": N_("Cancelled"), "superseded": N_("Superseded"),
    "ended": N_("Ended"), "temporary": N_("Temporary"), "ordinary": N_("Ordinary"),
    "raised": N_("raised"), "updated": N_("updated"), "escalated": N_("escalated"),
    "home": N_("Home"), "work": N_("Workplace"), "school": N_("School"),
    "issued": N_("Issued"), "modified": N_("Modified"), "extended": N_("Extended"), "served": N_("Served"),
    "reconsideration": N_("Reconsideration applied for"), "service_overdue": N_("Service overdue"), "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"), "device_replaced": N_("Device replaced"),
    # another recipient's steps (alerts.lifecycle): on record, the owner's clock runs on
    "acknowledged_by_other": N_("Seen by another agency (the clock runs on)"),
    "dispatched_by_other": N_("Another agency sent a unit (the clock runs on)"),
    "on_scene_by_other": N_("Another agency on scene (the clock runs on)"),
    "deadline_acknowledge": N_("acknowledgement overdue"), "deadline_dispatch": N_("dispatch overdue"),
    "deadline_on_scene": N_("arrival overdue"),
}
DIR = Path(__file__).parent / "translations"


def load_catalogues() -> dict[str, NullTranslations]:
    out: dict[str, NullTranslations] = {"en": NullTranslations()}  # the source strings are English
    for locale in LOCALES:
        po = DIR / locale.replace("-", "_") / "LC_MESSAGES" / "messages.po"
        if po.exists():
            with po.open("rb") as f:
                catalogue = read_po(f, locale=locale.replace("-", "_"))
            buf = io.BytesIO()
            write_mo(buf, catalogue)
            buf.seek(0)
            out[locale] = Translations(buf)
    return out


def marked_strings() -> list[str]:
    """Every string marked for translation in the web app (``_()`` in templates, ``N_()`` in Python), as
    ``pybabel extract -F service/web/babel.cfg -k N_`` finds them: for the catalogue tool and its test."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "js_": None}
    seen: dict[str, None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(Path(__file__).parent, method_map,
                                                                       keywords=keywords):
        for m in (message if isinstance(message, tuple) else (message,)):
            if m:
                seen[m] = None
    return list(seen)


def negotiate(chosen: str | None, accept: str | None) -> str:
    """The account's choice if it is one of ours, else the best of ``Accept-Language``, else Chinese."""
    if chosen in LOCALES:
        return chosen  # type: ignore[return-value]
    from werkzeug.datastructures import LanguageAccept
    from werkzeug.http import parse_accept_header

    best = parse_accept_header(accept or "", LanguageAccept).best_match(["zh-CN", "zh", "en"])
    return "en" if best == "en" else LOCALES[0]


@functools.lru_cache(maxsize=8)
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale.replace("-", "_"))  # parsed once: a page formats thousands of times


def install(app: Flask, timezone: str) -> None:
    """Jinja's i18n extension over the catalogues, and the filters the templates use for times."""
    catalogues = load_catalogues()
    zone = ZoneInfo(timezone)

    def current() -> NullTranslations:
        return catalogues.get(g.get("locale") or LOCALES[0], catalogues["en"])

    def gettext(message: str, **variables: object) -> str:
        text = current().gettext(message)
        return text % variables if variables else text

    def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
        text = current().ngettext(singular, plural, n)
        return text % {"num": n, **variables}

    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]

    def when(value: datetime | str | None, fmt: str = "medium") -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            from service.wire.rfc3339 import parse_ts

            value = parse_ts(value)
        return format_datetime(value, fmt, tzinfo=zone, locale=_babel_locale(g.get("locale") or LOCALES[0]))

    def clock(value: datetime | str | None) -> str:
        """A dense table's time: ``2026-11-30 18:05:09`` in the app's zone (cheap: thousands of rows)."""
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            from service.wire.rfc3339 import parse_ts

            value = parse_ts(value)
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["clock"] = clock
    app.jinja_env.filters["label"] = lambda value: gettext(LABELS[value]) if value in LABELS else value
    app.jinja_env.globals["js_"] = lambda message: current().gettext(message)  # placeholders kept, for scripts
    app.jinja_env.globals["labels"] = lambda: {k: gettext(v) for k, v in LABELS.items()}
    app.jinja_env.globals["timezone_name"] = timezone
    app.extensions["stayaway_gettext"] = gettext

    @app.before_request
    def pick_locale() -> None:
        g.locale = negotiate(None, request.headers.get("Accept-Language"))


def update_catalogue() -> list[str]:
    """Write the Chinese catalogue again from the strings marked now: translations kept, new strings added
    with an empty ``msgstr`` (to fill in), strings no longer used dropped. Returns the untranslated ones.
    ``python -m service.web.i18n`` (a developer's step, like ``pybabel update``)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    po = DIR / "zh_CN" / "LC_MESSAGES" / "messages.po"
    old = {}
    if po.exists():
        with po.open("rb") as f:
            old = {m.id: m.string for m in read_po(f) if m.id}
    catalogue = Catalog(locale="zh_CN", project="stayaway", version="1", domain="messages", fuzzy=False,
                        copyright_holder="the stayaway authors")
    for message in marked_strings():
        catalogue.add(message, old.get(message, ""))
    po.parent.mkdir(parents=True, exist_ok=True)
    with po.open("wb") as f:
        write_po(f, catalogue, width=0, sort_output=True)
    return [m for m in marked_strings() if not old.get(m)]


if __name__ == "__main__":
    import sys

    missing = update_catalogue()
    for m in missing:
        print(f"no Chinese yet: {m!r}", file=sys.stderr)
    sys.exit(1 if missing else 0)
