"""The shop's URLs: open a ticket, show one."""

from __future__ import annotations

from django.urls import path
from helpdesk import views

urlpatterns = [
    path("tickets/", views.open_ticket, name="open-ticket"),
    path("tickets/<str:ticket_id>/", views.show_ticket, name="show-ticket"),
]
