"""Who may do what: principals, roles and permissions as validated data.

Pure: nothing here reads a store or knows the desk. A desk given a :class:`PermissionSet`
turns each event's actor into a :class:`Principal` (:meth:`PermissionSet.principal_for`)
and checks every write with :meth:`PermissionSet.check`.

>>> permissions = default_permissions()
>>> customer = Principal.customer("c-42")
>>> own_ticket = {"customer_id": "c-42", "team": None}
>>> permissions.allows(Action(customer, "ticket", "t-1", "add_message", own_ticket))
True
>>> permissions.refusal(Action(customer, "ticket", "t-1", "classify", own_ticket)).rule
'grants'
"""

from __future__ import annotations

from aftersales.security.permissions import (
    ANY,
    Action,
    Condition,
    DefaultPrincipal,
    FourEyes,
    Grant,
    PermissionRefusal,
    PermissionSet,
    RoleSpec,
    RowRule,
    as_permission_set,
    default_permissions,
    permission_schema,
)
from aftersales.security.principals import (
    CUSTOMER_PREFIX,
    Actor,
    Directory,
    MemoryDirectory,
    Principal,
    Role,
)

__all__ = [
    "ANY",
    "CUSTOMER_PREFIX",
    "Action",
    "Actor",
    "Condition",
    "DefaultPrincipal",
    "Directory",
    "FourEyes",
    "Grant",
    "MemoryDirectory",
    "PermissionRefusal",
    "PermissionSet",
    "Principal",
    "Role",
    "RoleSpec",
    "RowRule",
    "as_permission_set",
    "default_permissions",
    "permission_schema",
]
