"""Both languages are complete: every string the web app marks for translation has its Chinese, and the
catalogue holds nothing stale. (``python -m service.web.i18n`` updates the catalogue.)"""

from __future__ import annotations

from babel.messages.pofile import read_po

from service.web.i18n import DIR, LABELS, load_catalogues, marked_strings, negotiate


def test_every_marked_string_has_its_chinese_and_nothing_is_stale() -> None:
    with (DIR / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalogue = {m.id: m.string for m in read_po(f) if m.id}
    marked = set(marked_strings())
    assert set(LABELS.values()) <= marked and len(marked) > 150
    assert sorted(m for m in marked if not catalogue.get(m)) == []
    assert sorted(set(catalogue) - marked) == []


def test_placeholders_survive_translation() -> None:
    import re

    zh = load_catalogues()["zh-CN"]
    for message in marked_strings():
        names = sorted(re.findall(r"%\((\w+)\)s", message))
        assert sorted(re.findall(r"%\((\w+)\)s", zh.gettext(message))) == names, message
        assert zh.gettext(message).count("%%") == message.count("%%"), message


def test_the_account_s_choice_comes_first_then_the_browser_s_then_chinese() -> None:
    assert negotiate("en", "zh-CN,zh;q=0.9") == "en"
    assert negotiate("zh-CN", "en") == "zh-CN"
    assert negotiate(None, "en-GB,en;q=0.8") == "en"
    assert negotiate(None, "zh-TW,zh;q=0.9,en;q=0.5") == "zh-CN"
    assert negotiate(None, "fr-FR") == "zh-CN" and negotiate(None, None) == "zh-CN"
    assert negotiate("de", "en") == "en"  # not one of ours: as if none were chosen
