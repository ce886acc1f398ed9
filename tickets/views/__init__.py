"""The agent desk pages (/desk/…). Each module brings its own urlpatterns."""
