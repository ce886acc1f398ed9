from .views import canned, outbox, queue, ticket

app_name = "desk"

urlpatterns = [
    *queue.urlpatterns,
    *ticket.urlpatterns,
    *canned.urlpatterns,
    *outbox.urlpatterns,
]
