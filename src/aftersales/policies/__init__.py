"""Warranty, return, exchange and refund policies that explain their decisions.

This sub-package is where the policy engine lives; its contents arrive with the policies
work (issue 3). Nothing is exported yet.
"""

__all__: list[str] = []
