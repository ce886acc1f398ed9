from django.urls import path

from . import views

app_name = "tickets_api"

urlpatterns = [
    path("tickets/", views.TicketListCreateApi.as_view(), name="ticket-list"),
    path("tickets/<int:ticket_id>/", views.TicketDetailApi.as_view(), name="ticket-detail"),
    path("tickets/<int:ticket_id>/reply/", views.TicketReplyApi.as_view(), name="ticket-reply"),
    path("tickets/<int:ticket_id>/note/", views.TicketNoteApi.as_view(), name="ticket-note"),
    path("tickets/<int:ticket_id>/assign/", views.TicketAssignApi.as_view(), name="ticket-assign"),
    path("tickets/<int:ticket_id>/solve/", views.TicketSolveApi.as_view(), name="ticket-solve"),
    path("tickets/<int:ticket_id>/reopen/", views.TicketReopenApi.as_view(), name="ticket-reopen"),
    path("tickets/<int:ticket_id>/close/", views.TicketCloseApi.as_view(), name="ticket-close"),
]
