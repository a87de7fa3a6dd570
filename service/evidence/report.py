"""The bundle's readable report (``report.pdf``): in Simplified Chinese (the default) or English, set in
Noto Sans CJK (only the glyphs used are embedded), with no wall clock inside."""

from __future__ import annotations

import functools
from typing import Any

from service.wire.rfc3339 import format_ts

# every text of the report, in both languages (the words of the API, such as alert kinds and statuses, come
# from the web app's catalogue: service.web.i18n.LABELS)
TEXTS: dict[str, dict[str, str]] = {
    "title": {"zh-CN": "保护令 {order_id} 证据报告", "en": "Protection order {order_id}: evidence report"},
    "full": {"zh-CN": "完整版（供法院使用）：包含全部记录", "en": "Full edition (for the court): every record"},
    "redacted": {"zh-CN": "删减版（向被申请人一方披露）：不含受害人的位置、禁止区域的形状，以及与受害人或其区域之间的距离；"
                          "临近移动区域事件前后的被申请人位置不予显示，这些事件的时间向下取整至 30 分钟",
                 "en": "Redacted edition (for disclosure to the respondent's side): no positions of the victim, no "
                       "shapes of her zones, no distances to her or into her zones; his positions near the moving "
                       "zone's episodes are withheld and those episodes' times rounded down to 30 minutes"},
    "type": {"zh-CN": "类型", "en": "Type"},
    "court": {"zh-CN": "法院", "en": "Court"},
    "issued": {"zh-CN": "签发时间", "en": "Issued"},
    "expires": {"zh-CN": "到期时间", "en": "Expires"},
    "status": {"zh-CN": "状态", "en": "Status"},
    "records": {"zh-CN": "记录数", "en": "Records"},
    "points": {"zh-CN": "被申请人轨迹点数", "en": "Respondent track points"},
    "history": {"zh-CN": "法律程序记录", "en": "Legal history"},
    "service": {"zh-CN": "送达记录", "en": "Service"},
    "no_service": {"zh-CN": "尚无送达记录", "en": "No service recorded"},
    "service_line": {"zh-CN": "{at}  向{party}送达，方式：{method}（记录人：{by}）",
                     "en": "{at}  served on the {party} by {method} (recorded by {by})"},
    "no_method": {"zh-CN": "未记录", "en": "a method not recorded"},
    "events": {"zh-CN": "警报事件", "en": "Alert events"},
    "by": {"zh-CN": "操作人", "en": "by"},
    "zone": {"zh-CN": "区域", "en": "zone"},
    "metres": {"zh-CN": "{d:.0f} 米", "en": "{d:.0f} m"},
    "served_yes": {"zh-CN": "此前是否已向被申请人送达：是（{at}，方式：{method}）",
                   "en": "served before: yes ({at} by {method})"},
    "served_no": {"zh-CN": "此前是否已向被申请人送达：否，尚未送达", "en": "served before: no: not yet served"},
    "served_details": {"zh-CN": "（{party}，方式：{method}）", "en": " ({party}, by {method})"},
    "none": {"zh-CN": "无", "en": "-"},
    "footer": {"zh-CN": "本报告所依据的每一条记录均在 records.jsonl 中；manifest.json 保存其哈希值、默克尔根和哈希链头，"
                        "并由服务器签名（manifest.sig）。核验命令：stayaway evidence verify FILE",
               "en": "Every record behind this report is in records.jsonl; manifest.json holds their hashes, "
                     "Merkle root and chain head, signed by the server (manifest.sig). "
                     "Check with: stayaway evidence verify FILE"},
}
FONT_FACE = 2  # Noto Sans CJK SC: Simplified Chinese glyph forms, in the package's OpenType collection


def _text(locale: str, key: str, **values: Any) -> str:
    return TEXTS[key][locale].format(**values)


@functools.lru_cache(maxsize=2)
def _catalogue(locale: str) -> Any:
    from service.web.i18n import load_catalogues

    catalogues = load_catalogues()
    return catalogues.get(locale, catalogues["en"])


def _label(locale: str, value: Any) -> str:
    from service.web.i18n import LABELS

    if value in LABELS:
        return str(_catalogue(locale).gettext(LABELS[value]))
    return "" if value is None else str(value)


def pdf(order: dict[str, Any], timeline: dict[str, Any], zone_names: dict[Any, Any], n_records: int,
         n_points: int, locale: str) -> bytes:
    from importlib.resources import as_file

    from fpdf import FPDF
    from noto_cjk_sans_otc import FONT_PATH

    def say(key: str, **values: Any) -> str:
        return _text(locale, key, **values)

    def line(text: str, size: float = 8, h: float = 4) -> None:
        pdf.set_font("cjk", size=size)
        pdf.multi_cell(0, h, text, new_x="LMARGIN", new_y="NEXT", align="L")

    pdf = FPDF()
    pdf.set_creation_date(order["issued_at"])  # the same bytes for the same case: no wall clock inside
    with as_file(FONT_PATH) as font:
        pdf.add_font("cjk", "", font, collection_font_number=FONT_FACE)
        pdf.add_page()
        line(say("title", order_id=order["order_id"]), 14, 9)
        line(say(timeline["edition"]), 8)
        pdf.ln(2)
        for key, value in (("type", _label(locale, order["type"])), ("court", order["court_id"]),
                           ("issued", format_ts(order["issued_at"])),
                           ("expires", format_ts(order["expires_at"]) if order["expires_at"] else say("none")),
                           ("status", _label(locale, order["status"])), ("records", n_records), ("points", n_points)):
            line(f"{say(key)}: {value}", 9, 5)
        pdf.ln(3)
        line(say("history"), 11, 7)
        for h in timeline["history"]:
            details = h.get("details") if isinstance(h.get("details"), dict) else {}
            served = say("served_details", party=_label(locale, details.get("party")),
                         method=details.get("method") or say("no_method")) if h["event"] == "served" and details else ""
            line(f"{format_ts(h['at'])}  {_label(locale, h['event'])}{served}  {say('by')} {h['actor_id']} "
                 f"({_label(locale, h['role'])})" + (f": {h['reason']}" if h["reason"] else ""))
        pdf.ln(3)
        line(say("service"), 11, 7)
        for s in timeline["service"]:
            line(say("service_line", at=s["served_at"], party=_label(locale, s["party"]),
                     method=s["method"] or say("no_method"), by=s["served_by"]))
        if not timeline["service"]:
            line(say("no_service"))
        pdf.ln(3)
        line(say("events"), 11, 7)
        for e in timeline["events"]:
            zone = e["zone_id"]
            where = f"  {say('zone')} {zone}" + (f" ({zone_names[zone]})" if zone_names.get(zone) else "") if zone else ""
            dist = f", {say('metres', d=e['distance_m'])}" if isinstance(e.get("distance_m"), (int, float)) else ""
            note = f"  “{e['note']}”" if e.get("note") else ""
            line(f"{e['at']}  {_label(locale, e['kind'])} {_label(locale, e['event'])} -> {_label(locale, e['status'])}"
                 f"{where}{dist}  {say('by')} {e['by']}{note}")
            if e["served_before"] is not None and e["event"] == "raised":
                served = e["served_before"]
                line("    " + (say("served_yes", at=served["served_at"], method=served["method"] or say("no_method"))
                               if served else say("served_no")))
        pdf.ln(3)
        line(say("footer"))
        return bytes(pdf.output())
