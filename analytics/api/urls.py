from django.urls import path

from . import views

app_name = "analytics_api"

urlpatterns = [
    path("kpis/", views.KpiListApi.as_view(), name="kpi-list"),
    path("kpis/series/", views.KpiSeriesApi.as_view(), name="kpi-series"),
]
