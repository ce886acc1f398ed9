"""The analytics pages, mounted at /analytics/ (managers and admins)."""

from django.urls import path

from . import views, views_breakdowns

app_name = "analytics"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("glossary/", views.glossary, name="glossary"),
    path("breakdowns/", views_breakdowns.breakdowns, name="breakdowns"),
]
