"""Who may do what: the one table of roles and capabilities every check reads.

Roles are not a ladder: a manager reads the control room but cannot act on alerts; an operator acts on
alerts but does not see KPIs. An admin may do everything. The public is whoever is not signed in.
"""

from __future__ import annotations

OPERATOR = "operator"
MANAGER = "manager"
ADMIN = "admin"
ROLES = (OPERATOR, MANAGER, ADMIN)
PUBLIC = "public"  # not a role a user can have: anyone, signed in or not

# Capabilities a page, route or callback can require.
VIEW_KIOSK = "view_kiosk"
VIEW_CONTROL = "view_control"
VIEW_ALERTS = "view_alerts"
ACT_ALERTS = "act_alerts"  # acknowledge, comment, shelve, hand over
VIEW_KPIS = "view_kpis"
EXPORT = "export"
VIEW_HEALTH = "view_health"
MANAGE_USERS = "manage_users"
MANAGE_RULES = "manage_rules"

GRANTS: dict[str, frozenset[str]] = {
    PUBLIC: frozenset({VIEW_KIOSK}),
    OPERATOR: frozenset({VIEW_KIOSK, VIEW_CONTROL, VIEW_ALERTS, ACT_ALERTS, VIEW_HEALTH}),
    MANAGER: frozenset({VIEW_KIOSK, VIEW_CONTROL, VIEW_ALERTS, VIEW_KPIS, EXPORT, VIEW_HEALTH}),
    ADMIN: frozenset(
        {VIEW_KIOSK, VIEW_CONTROL, VIEW_ALERTS, ACT_ALERTS, VIEW_KPIS, EXPORT, VIEW_HEALTH, MANAGE_USERS, MANAGE_RULES}
    ),
}
CAPABILITIES = frozenset().union(*GRANTS.values())


def allows(role: str | None, capability: str) -> bool:
    """True when `role` (None: not signed in) has `capability`. An unknown capability is refused."""
    if capability not in CAPABILITIES:
        return False
    return capability in GRANTS[PUBLIC] or (role in GRANTS and capability in GRANTS[role])


def who_may(capability: str) -> frozenset[str]:
    """The roles (and `public`) that have `capability`: for documentation and tests."""
    return frozenset(r for r, caps in GRANTS.items() if capability in caps)
