"""The shop's settings: Django and the desk share one PostgreSQL database.

The database comes from the environment (``SHOP_DB_NAME``, ``SHOP_DB_USER``,
``SHOP_DB_PASSWORD``, ``SHOP_DB_HOST`` (a host, or a Unix socket's folder such as
``/var/run/postgresql``), ``SHOP_DB_PORT``, ``SHOP_DB_SSLMODE``); the desk's store is
built from this same ``DATABASES["default"]``, its ``OPTIONS`` included (see
``helpdesk.desk.store_url``), so its tables live beside Django's, one backup holds both
and both connect the same way.

``DJANGO_SECRET_KEY`` is required: without it the project refuses to start, unless
``DJANGO_DEBUG=1`` (a developer's machine), where a key made up for the process is used.
"""

from __future__ import annotations

import os
import secrets

from django.core.exceptions import ImproperlyConfigured

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # a key published with the template signs nothing anyone can trust
        raise ImproperlyConfigured("set DJANGO_SECRET_KEY (or DJANGO_DEBUG=1 on a dev machine)")
    SECRET_KEY = secrets.token_urlsafe(50)  # sessions last as long as the process
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "shop.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("SHOP_DB_NAME", "shop"),
        "USER": os.environ.get("SHOP_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("SHOP_DB_PASSWORD", ""),
        "HOST": os.environ.get("SHOP_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("SHOP_DB_PORT", "5432"),
        # libpq's options: Django passes them to psycopg, the desk puts them in its URL
        "OPTIONS": {
            "sslmode": os.environ.get("SHOP_DB_SSLMODE", "prefer"),
            "connect_timeout": 10,
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# the desk's own settings (see aftersales.DeskSettings)
AFTERSALES_SETTINGS = {"delivery_lease_seconds": 120}
