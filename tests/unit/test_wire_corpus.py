"""The corpus of nasty messages (tests/unit/corpus/wire/*.json: hand-written and what the fuzzers of
tests/fuzz/ found) replayed through the decoders: each one decodes without an exception, satisfies every
invariant of ``tests.support.wire_checks.check``, and gives the outcome recorded with it."""

from __future__ import annotations

import pytest

from tests.support.wire_checks import CORPUS, check, load_case, outcome

CASES = sorted(CORPUS.glob("*.json"))


def test_the_corpus_holds_the_issue_s_calendar_ends() -> None:
    payloads = b"".join(load_case(p).payload for p in CASES)
    for nasty in (b"0001-01-01T00:00:00+00:01", b"9999-12-31T23:59:59-00:01", b'"tst":1099511627776'):
        assert nasty in payloads
    assert len(CASES) >= 40


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_a_corpus_message_decodes_as_recorded(path) -> None:  # type: ignore[no-untyped-def]
    case = load_case(path)
    decoded = check(case.topic, case.payload)
    if case.expect is not None:
        assert outcome(decoded) == case.expect, case.why
