#!/usr/bin/env python
"""Django's command-line utility for the shop: ``python manage.py migrate``,
``python manage.py runserver``, ``python manage.py aftersales_worker``."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the management command named on the command line."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
