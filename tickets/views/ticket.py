"""Placeholder: filled in by the desk pages work."""

urlpatterns: list = []
