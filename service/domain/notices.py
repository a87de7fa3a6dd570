"""What the victim's phone is told, in her language (pure: texts and the notice body, no I/O).

A notice (contract section 3) is ``{"notice_id", "kind", "text", "alert_id"}``; stayaway adds ``topic``
(what it is about), ``order_id`` and ``locale``. ``kind`` keeps its v1 meaning: ``warning`` (act now),
``all_clear`` (the danger is over), ``info`` (anything else). Texts say only what truly happened:
"police notified" only when a police agency received the alert, else the court alone and a plain
instruction to call 110. No text carries a position of the respondent, a distance, or a direction:
only her own places' names, agencies' names and times.

Languages: Simplified Chinese (the default) and English, from the victim's ``locale`` in the order
(``zh``, ``zh-CN``, ``zh-Hans``..., ``en``, ``en-GB``...). Every topic has both texts
(``tests/unit/test_notices.py`` checks the tables are complete).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
SHOWN_TZ = timezone(timedelta(hours=8), "CST")  # times in her notices: China Standard Time (no DST)

# topic -> the notice's v1 kind
TOPIC_KIND: dict[str, str] = {
    "breach": "warning",  # he entered one of her places
    "proximity": "warning",  # he is closer to her than the order allows
    "approach": "warning",  # he is in the warning ring
    "moved_away": "all_clear",
    "panic": "info",  # her emergency press was received
    "acknowledged": "info",
    "dispatch": "info",
    "on_scene": "info",
    "outcome": "info",
    "referral": "info",
    "escalation": "info",  # nobody answered in time: it went further
    "order_change": "info",
    "reminder": "info",
    "order_ended": "info",
    "order_replaced": "info",  # a supersession: the ordinary order goes on protecting her
}

_TEXTS: dict[str, dict[str, str]] = {
    "breach": {
        "zh": "被申请人已进入受保护地点（{place}）。{reached}",
        "en": "The respondent has entered a protected place ({place}). {reached}",
    },
    "proximity": {
        "zh": "被申请人与您的距离小于保护令允许的距离。{reached}",
        "en": "The respondent is closer to you than the order allows. {reached}",
    },
    "approach": {
        "zh": "被申请人正在靠近。{reached}",
        "en": "The respondent is approaching. {reached}",
    },
    "moved_away": {
        "zh": "被申请人已离开。此事件已记录在案。",
        "en": "The respondent has moved away. The incident stays on record.",
    },
    "panic": {
        "zh": "您的紧急求助已收到。{reached}",
        "en": "Your emergency alert was received. {reached}",
    },
    "acknowledged": {
        "zh": "{agency}已受理此警报，正在处理。",
        "en": "{agency} has taken up the alert and is handling it.",
    },
    "dispatch": {
        "zh": "{agency}已派出警力。",
        "en": "{agency} has sent officers.",
    },
    "on_scene": {
        "zh": "{agency}的警员已到达现场。",
        "en": "Officers of {agency} have arrived.",
    },
    "outcome": {
        "zh": "此警报已处理完毕：{outcome}",
        "en": "The alert has been closed: {outcome}",
    },
    "referral": {
        "zh": "此警报已转交{agency}处理。",
        "en": "The alert has been passed to {agency}.",
    },
    "escalation": {
        "zh": "尚无人及时回应此警报，已上报：{to}。如有危险，请立即拨打110。",
        "en": "Nobody has responded to the alert in time; it has been escalated to {to}. If you are in danger, "
              "call 110 now.",
    },
    "order_change": {
        "zh": "法院已变更您的保护令（{order_id}），自{at}起生效。",
        "en": "The court has changed your protection order ({order_id}), in force from {at}.",
    },
    "reminder": {
        "zh": "您的保护令（{order_id}）将于{at}到期（还有{days}天）。如需继续保护，请尽快向法院申请延长。",
        "en": "Your protection order ({order_id}) expires on {at} ({days} days from now). To stay protected, "
              "apply to the court for an extension in time.",
    },
    "order_replaced": {
        "zh": "您的保护令（{order_id}）已于{at}由新的保护令（{by}）取代，保护继续有效。",
        "en": "Your protection order ({order_id}) was replaced on {at} by a new order ({by}); your protection goes on "
              "under it.",
    },
    "order_ended": {
        "zh": "您的保护令（{order_id}）已于{at}结束：{why}。此后{grace_h}小时内，紧急求助仍会发送给警方；"
              "如有危险，请拨打110。",
        "en": "Your protection order ({order_id}) ended on {at}: {why}. For {grace_h} hours your emergency "
              "button still reaches the police; if you are in danger, call 110.",
    },
}

_REACHED: dict[str, dict[str, str]] = {
    "police_and_court": {"zh": "已通知警方（{police}）和法院。", "en": "Police ({police}) and the court have been alerted."},
    "court_only": {"zh": "已通知法院，但未能通知警方：如有危险，请立即拨打110。",
                   "en": "The court has been alerted, but no police agency could be: if you are in danger, call 110 now."},
    "police_only": {"zh": "已通知警方（{police}）。", "en": "Police ({police}) have been alerted."},
    "nobody": {"zh": "未能通知任何机构：如有危险，请立即拨打110。",
               "en": "No agency could be alerted: if you are in danger, call 110 now."},
}

_OUTCOMES: dict[str, dict[str, str]] = {
    "false_alarm": {"zh": "经核查无危险。", "en": "no danger was found."},
    "respondent_warned": {"zh": "被申请人已被警告。", "en": "the respondent was warned."},
    "detained": {"zh": "被申请人已被拘留。", "en": "the respondent was detained."},
    "arrested": {"zh": "被申请人已被逮捕。", "en": "the respondent was arrested."},
    "victim_safe": {"zh": "已确认您的安全。", "en": "you were found safe."},
    "condition_ended": {"zh": "情况已结束。", "en": "the situation is over."},
    "other": {"zh": "详情已记录在案。", "en": "the details are on record."},
}

_ENDS: dict[str, dict[str, str]] = {
    "expired": {"zh": "保护令期限届满", "en": "its term ran out"},
    "cancelled": {"zh": "法院撤销了保护令", "en": "the court cancelled it"},
    "superseded": {"zh": "已由新的保护令取代，保护继续", "en": "a new order replaced it, and protection goes on under it"},
    "rejected": {"zh": "申请被驳回", "en": "the application was rejected"},
    "withdrawn": {"zh": "申请已撤回", "en": "the application was withdrawn"},
}

_WORDS: dict[str, dict[str, str]] = {
    "the_police": {"zh": "警方", "en": "The police"},
    "the_court": {"zh": "法院", "en": "The court"},
    "a_protected_place": {"zh": "受保护地点", "en": "a protected place"},
    "list_sep": {"zh": "、", "en": ", "},
}


def locale_of(raw: object) -> str:
    """``zh`` or ``en`` from a locale tag (``zh-CN``, ``en_GB``...); anything else: the default."""
    if isinstance(raw, str):
        lang = raw.replace("_", "-").split("-", 1)[0].lower()
        if lang in LOCALES:
            return lang
    return DEFAULT_LOCALE


def word(key: str, locale: str) -> str:
    return _WORDS[key][locale]


def shown_time(at: datetime, locale: str) -> str:
    local = at.astimezone(SHOWN_TZ)
    return local.strftime("%Y年%m月%d日 %H:%M") if locale == "zh" else local.strftime("%Y-%m-%d %H:%M (UTC+8)")


def reached(police: str | None, court: str | None, locale: str) -> str:
    """Who an alert truly reached: ``police`` and ``court`` are their names (None: not reached)."""
    if police and court:
        key = "police_and_court"
    elif police:
        key = "police_only"
    elif court:
        key = "court_only"
    else:
        key = "nobody"
    return _REACHED[key][locale].format(police=police or "")


def outcome_text(outcome: str | None, locale: str) -> str:
    return _OUTCOMES.get(outcome or "other", _OUTCOMES["other"])[locale]


def end_reason(status: str, locale: str) -> str:
    return _ENDS.get(status, {"zh": status, "en": status})[locale]


def text(topic: str, locale: str, facts: Mapping[str, Any]) -> str:
    return _TEXTS[topic][locale].format(**facts)


def body(notice_id: str, topic: str, locale: str, facts: Mapping[str, Any], order_id: str,
         alert_id: str | None = None) -> dict[str, Any]:
    """One notice's body (contract section 3, with the additions ``topic``, ``order_id``, ``locale``)."""
    return {"notice_id": notice_id, "kind": TOPIC_KIND[topic], "text": text(topic, locale, facts), "alert_id": alert_id,
            "topic": topic, "order_id": order_id, "locale": locale}


def check_tables() -> list[str]:
    """Every topic, reach, outcome, end and word in every language (empty: complete)."""
    missing = []
    for name, table in (("text", _TEXTS), ("reached", _REACHED), ("outcome", _OUTCOMES), ("end", _ENDS),
                        ("word", _WORDS)):
        for key, by_locale in table.items():
            missing += [f"{name}:{key}:{loc}" for loc in LOCALES if not by_locale.get(loc)]
    missing += [f"text:{t}" for t in TOPIC_KIND if t not in _TEXTS]
    return missing
