"""The tenant of a store: which shop's rows it reads and writes in a database several
shops share (docs/how-to/several-shops.md)."""

from __future__ import annotations

import re

from aftersales.exceptions import FieldError, InvalidInput
from aftersales.storage._schema import TENANT_LENGTH

DEFAULT_TENANT = ""
"""The tenant of a database that serves one shop, and of every row written before
tenants existed."""

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")


def check_tenant(tenant: object) -> str:
    """``tenant`` if it names a tenant: ``''`` (the default) or up to
    :data:`~aftersales.storage._schema.TENANT_LENGTH` letters, digits, ``.``, ``_``, ``:``
    and ``-``, starting with a letter or digit; else :class:`~aftersales.InvalidInput`.
    (No spaces or control characters: a tenant travels into logs, URLs and, with
    row-level security, a setting of the database session.)"""
    if not isinstance(tenant, str):
        problem = f"must be a string, not {type(tenant).__name__}"
    elif tenant == DEFAULT_TENANT:
        return tenant
    elif len(tenant) > TENANT_LENGTH:
        problem = f"must be at most {TENANT_LENGTH} characters"
    elif not _TENANT.fullmatch(tenant):
        problem = "must be letters, digits, '.', '_', ':' or '-', starting with a letter or digit"
    else:
        return tenant
    raise InvalidInput("store", [FieldError(("tenant",), problem, "invalid_tenant")])


__all__ = ["DEFAULT_TENANT", "check_tenant"]
