"""Agencies: the list (officers and admins), and the agencies file loaded by an admin."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from service.domain import access
from service.errors import Forbidden
from service.reads import orders as reads
from service.web import deps
from service.web.security import audit, principal

bp = Blueprint("agencies_api", __name__, url_prefix="/api/v1/agencies")


@bp.get("")
def list_agencies():  # type: ignore[no-untyped-def]
    """Every agency's id, name and kind (no jurisdiction geometry): officers and admins."""
    p = principal()
    if p.role not in access.OFFICER_ROLES and p.role != access.Role.ADMIN:
        raise Forbidden("officers and admins only")
    agencies = reads.agencies(deps().engine)
    return jsonify(agencies=[{"agency_id": a.agency_id, "name": a.name, "kind": a.kind} for a in agencies])


@bp.post("")
def import_agencies():  # type: ignore[no-untyped-def]
    """Body: the agencies file (a GeoJSON FeatureCollection, contract section 4): load or update. Admins."""
    if not access.may_manage_accounts(principal()):
        raise Forbidden("admins only")
    body = request.get_json(silent=True)
    if deps().orders is None:
        abort(503, description="needs the running service")
    n = deps().orders.import_agencies(body)  # type: ignore[union-attr]  # InvalidInput: 400 naming the field
    audit("permission_change", "agencies", None, None, "ok", {"imported": n})
    return jsonify(imported=n)
