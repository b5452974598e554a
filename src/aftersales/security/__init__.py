"""Who may do what: principals, roles and permissions as validated data.

Pure: nothing here reads a store or knows the desk. A desk given a :class:`PermissionSet`
turns each event's actor into a :class:`Principal` (:meth:`PermissionSet.principal_for`)
and checks every write with :meth:`PermissionSet.check`.
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
    Directory,
    MemoryDirectory,
    Principal,
    Role,
)

__all__ = [
    "ANY",
    "CUSTOMER_PREFIX",
    "Action",
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
