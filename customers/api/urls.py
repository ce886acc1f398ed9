from django.urls import path

from . import views

app_name = "customers_api"

urlpatterns = [
    path("customers/", views.CustomerListCreateApi.as_view(), name="customer-list"),
    path("customers/<int:customer_id>/", views.CustomerDetailApi.as_view(), name="customer-detail"),
    path("purchases/", views.PurchaseListCreateApi.as_view(), name="purchase-list"),
    path("purchases/<int:purchase_id>/", views.PurchaseDetailApi.as_view(), name="purchase-detail"),
    path("events/", views.CustomerEventListCreateApi.as_view(), name="event-list"),
    path("events/<int:event_id>/", views.CustomerEventDetailApi.as_view(), name="event-detail"),
]
