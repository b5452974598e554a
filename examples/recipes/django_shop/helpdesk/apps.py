"""The help desk app: the views over the desk and the ``aftersales_worker`` command."""

from __future__ import annotations

from django.apps import AppConfig


class HelpdeskConfig(AppConfig):
    """The app's configuration."""

    name = "helpdesk"
