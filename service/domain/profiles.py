"""Legal profiles: the order law a court follows, each rule with its source (``LAW.md``). Pure data.

A court's profile is its agency's ``legal_profile`` (the agencies file), else the setting
``STAYAWAY_LEGAL_PROFILE``, else :data:`DEFAULT` (``prc-advl-2016``, the law in force): :func:`resolve`.
``service.domain.law`` takes a profile for every rule that differs between them.

- ``prc-advl-2016``: the Anti-Domestic Violence Law of the PRC (in force since 2016-03-01).
- ``expert-draft``: the expert draft of a fuller law (the project's first order model).

Readings stayaway makes where the law leaves room (each said so in the rule's ``note``):

- ADVL knows one kind of order. A ``temporary`` order under it is an order given before the court has
  ruled on its term (the contract allows it without ``expires_at``): it is *undecided*
  (:func:`service.domain.law.undecided`) and reminded to its court until the court issues the ordinary
  order (``supersedes``) or ends the application; an ``expires_at`` it has is held to the same 6 months.
- The expert draft sets no term for a temporary order (it ends when the ordinary order is issued, draft
  Arts. 43, 53). An ``expires_at`` one has is held to the ordinary order's 1 year (draft Art. 51): a
  temporary order does not outlast the ordinary order that would replace it (:attr:`Term.temporary`).
- An undecided order (a temporary one, or one without an expiry) still in force when its profile's term
  has run from its issue is flagged to its court once (``law.undecided_too_long``): the law gives no order
  longer than that without a ruling on it.
- ADVL Art. 30 lets the court extend an order before it lapses without a count: each extension is a new
  ruling, so it runs at most 6 months beyond the current expiry.
- ADVL sets no deadline for service: stayaway keeps its 24 h reminder (the court is told).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

ADVL = "prc-advl-2016"
DRAFT = "expert-draft"
DEFAULT = ADVL


@dataclass(frozen=True, slots=True)
class Term:
    """The longest an order runs from its ruling (``issued_at``), and the default when it says nothing."""

    months: int
    applies_to: tuple[str, ...]  # order types held to it
    source: str
    note: str = ""
    # a type the law gives no term of its own (not in applies_to) is still held to this one: why (stayaway's
    # reading, with its source); empty: every type is in applies_to
    temporary: str = ""

    def caps(self, order_type: str) -> bool:
        """Whether an order of this type is held to the term (its own, or by stayaway's reading)."""
        return order_type in self.applies_to or (order_type == "temporary" and bool(self.temporary))


@dataclass(frozen=True, slots=True)
class Extension:
    months: int  # the new expiry at most this much after the current one
    max_count: int | None  # None: no count in the law
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Reconsideration:
    days: int
    from_: str  # "effect": the ruling taking effect (issue) | "receipt": the respondent served
    court: str  # "issuing" | "higher"
    once: bool
    source: str
    suspends: bool = False  # in both: the order stays in force meanwhile


@dataclass(frozen=True, slots=True)
class Service:
    parties: tuple[str, ...]
    due: timedelta
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class IssueDeadline:
    """How long the court has to rule after accepting an application (what the reminders count)."""

    hours: int
    urgent_hours: int
    applies_to: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class TemporaryOrders:
    meaning: str
    ends: tuple[str, ...]  # superseded | rejected | withdrawn
    source: str


@dataclass(frozen=True, slots=True)
class LegalProfile:
    name: str
    title: str
    term: Term
    changes_source: str  # change, cancel: the court, on application, before the order lapses
    extension: Extension
    temporary: TemporaryOrders
    reconsideration: Reconsideration
    service: Service
    issue_deadline: IssueDeadline

    def rules(self) -> dict[str, object]:
        """Every rule by name (for documents and the API)."""
        return {"term": self.term, "extension": self.extension, "temporary": self.temporary,
                "reconsideration": self.reconsideration, "service": self.service,
                "issue_deadline": self.issue_deadline}


PROFILES: dict[str, LegalProfile] = {
    ADVL: LegalProfile(
        name=ADVL, title="Anti-Domestic Violence Law of the PRC (in force since 2016-03-01)",
        term=Term(6, ("ordinary", "temporary"), "ADVL Art. 30",
                  "at most 6 months, in force from the ruling; an order without expires_at gets 6 months"),
        changes_source="ADVL Art. 30",
        extension=Extension(6, None, "ADVL Art. 30",
                            "by the court, on application, before the order lapses; each extension a new ruling of "
                            "at most 6 months beyond the current expiry (stayaway's reading: the law sets no count)"),
        temporary=TemporaryOrders("the law knows one kind of order: a temporary order is one whose term the court "
                                  "has not yet ruled on (undecided, reminded daily to its court)",
                                  ("superseded", "rejected", "withdrawn"), "ADVL Art. 30 (stayaway's reading)"),
        reconsideration=Reconsideration(5, "effect", "issuing", True, "ADVL Art. 31"),
        service=Service(("respondent", "victim", "police", "committee"), timedelta(hours=24), "ADVL Art. 32",
                        "served on the applicant, the respondent, the police and the residents'/villagers' "
                        "committee; the law sets no deadline: stayaway reminds the court after 24 h"),
        issue_deadline=IssueDeadline(72, 24, ("ordinary", "temporary"), "ADVL Art. 28"),
    ),
    DRAFT: LegalProfile(
        name=DRAFT, title="Expert draft of a fuller anti-domestic-violence law",
        term=Term(12, ("ordinary",), "draft Art. 51", "an ordinary order runs 1 year from issue",
                  temporary="the draft gives a temporary order no term of its own (it ends when the ordinary order "
                            "is issued, draft Arts. 43, 53); stayaway's reading: an expires_at it has is held to the "
                            "ordinary order's 1 year (draft Art. 51), which it does not outlast"),
        changes_source="draft Art. 52",
        extension=Extension(12, 1, "draft Art. 52", "on application before expiry; once, by at most 1 year"),
        temporary=TemporaryOrders("ends on withdrawal, rejection, or the ordinary order's issue",
                                  ("superseded", "rejected", "withdrawn"), "draft Arts. 43, 53"),
        reconsideration=Reconsideration(10, "receipt", "higher", False, "draft Art. 55"),
        service=Service(("respondent", "victim", "police", "committee", "anti_dv_committee"), timedelta(hours=24),
                        "draft Art. 50", "respondent, victim, police, residents' committee and the anti-domestic-"
                        "violence committee, within 24 h"),
        issue_deadline=IssueDeadline(48, 24, ("temporary",), "draft Art. 45"),
    ),
}


class UnknownProfile(ValueError):
    def __init__(self, name: object) -> None:
        super().__init__(f"unknown legal profile {name!r}: one of {', '.join(PROFILES)}")


def get(name: str) -> LegalProfile:
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise UnknownProfile(name) from None


def resolve(agency_profile: str | None, setting: str | None = None) -> LegalProfile:
    """The court agency's own profile, else the deployment's setting, else the law in force."""
    return get(agency_profile or setting or DEFAULT)
