"""The analytics pages, mounted at /analytics/ (managers and admins)."""

from django.urls import path

from . import views, views_at_risk, views_breakdowns, views_drill, views_drivers, views_trends

app_name = "analytics"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("glossary/", views.glossary, name="glossary"),
    path("breakdowns/", views_breakdowns.breakdowns, name="breakdowns"),
    path("trends/", views_trends.trends, name="trends"),
    path("at-risk/", views_at_risk.at_risk_list, name="at_risk"),
    path("drivers/", views_drivers.drivers, name="drivers"),
    path("drill/<slug:metric>/", views_drill.drill, name="drill"),
]
