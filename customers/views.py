"""Placeholder: filled in by the customer pages work."""

urlpatterns: list = []
