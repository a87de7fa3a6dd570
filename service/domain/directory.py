"""Who is who: the one agency directory of a process (pure, in memory).

The agencies as stored (kind, name, jurisdiction, webhook, own escalation and response policies,
where a ``next_agency`` step goes, a court's legal profile), the police jurisdiction index built from
them, and the agencies that have Apprise URLs (notification tags, from the settings). The monitor
routes and names with it, the outbound planner encodes and addresses with it, the deliveries find
their URLs in it. One instance per process, shared by all of them; :meth:`load` replaces its content
when the stored agencies change (on the ingest thread, the one writer, like every reader of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alerts import JurisdictionIndex
from alerts.routing import Agency


class Directory:
    def __init__(self, agencies: Iterable[Agency] = (), notify: Iterable[str] = ()) -> None:
        self.agencies: dict[str, Agency] = {}
        self.jurisdictions = JurisdictionIndex([])
        self.kinds: dict[str, str] = {}
        self.webhooks: dict[str, str] = {}
        self.notify: frozenset[str] = frozenset(notify)  # agencies with Apprise URLs (notification tags)
        self.load(agencies)

    def load(self, agencies: Iterable[Agency]) -> None:
        """The stored agencies, all of them (what is not among them is no longer known)."""
        known = list(agencies)
        self.agencies = {a.agency_id: a for a in known}
        self.jurisdictions = JurisdictionIndex(known)
        self.kinds = {a.agency_id: a.kind for a in known}
        self.webhooks = {a.agency_id: a.webhook_url for a in known if a.webhook_url}

    def set_notify(self, tags: Iterable[str]) -> None:
        self.notify = frozenset(tags)

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self.agencies

    def get(self, agency_id: object) -> Agency | None:
        return self.agencies.get(agency_id) if isinstance(agency_id, str) else None

    def kind(self, agency_id: str) -> str:
        """police | court | support; ``unknown`` for an agency not (or no longer) stored."""
        return self.kinds.get(agency_id, "unknown")

    def name(self, agency_id: str) -> str:
        """Its name; its id where the name is not known."""
        agency = self.agencies.get(agency_id)
        return agency.name if agency is not None else agency_id

    def ids(self) -> set[str]:
        return set(self.agencies)

    def escalate_to(self) -> Mapping[str, tuple[str, ...]]:
        return {a: x.escalate_to for a, x in self.agencies.items()}
