"""Production: refuse to start with an insecure configuration."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DATABASES, SECRET_KEY, env

# The same bar as Django's deployment check (security.W009), so a key accepted here
# never fails `check --deploy`.
if (
    len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
    or SECRET_KEY.startswith(("insecure", "django-insecure-"))
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters in production "
        "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
if env.bool("DEBUG", default=False):
    raise ImproperlyConfigured("DEBUG must be off in production.")
DEBUG = False

DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Joining the browsers' preload list is a commitment a deployment opts into
    # (SECURE_HSTS_PRELOAD=true), not something the code can decide for every domain.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
# Load balancers and Docker probe the health check over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
