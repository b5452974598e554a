"""Compliance on a desk: permissions checked in the write pipeline, the security log,
erasure and export of a customer's personal data, retention, and the audit check.

The operations are the desk's (:meth:`~aftersales.Desk.erase_customer`,
:meth:`~aftersales.Desk.export_customer`, :meth:`~aftersales.Desk.verify_audit`,
:meth:`~aftersales.Desk.security_log`); this package holds how they work.
"""

from aftersales.compliance._desk import AuditReport, ComplianceFace
from aftersales.compliance.erasure import Eraser, ErasureReport, personal_paths
from aftersales.compliance.guard import PermissionGuard

__all__ = [
    "AuditReport",
    "ComplianceFace",
    "Eraser",
    "ErasureReport",
    "PermissionGuard",
    "personal_paths",
]
