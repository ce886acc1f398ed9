"""The analytics pages, mounted at /analytics/ (managers and admins)."""

from django.urls import path

from . import views

app_name = "analytics"

urlpatterns = [
    path("glossary/", views.glossary, name="glossary"),
]
