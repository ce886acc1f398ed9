from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.throttling import ScopedRateThrottle

from cxm.lib.login_throttle import AxesLockoutMixin


@extend_schema(
    tags=["auth"],
    auth=[],
    summary="Exchange a username and password for an API token",
    description='Send the token on every request as "Authorization: Token <token>".',
)
class ThrottledObtainAuthToken(AxesLockoutMixin, ObtainAuthToken):
    # Throttled (REST_FRAMEWORK's "token" rate) so passwords cannot be guessed at speed,
    # and locked out per username and address like the login page (django-axes).
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "token"


urlpatterns = [
    path("auth/token/", ThrottledObtainAuthToken.as_view(), name="api-token"),
    path("", include("customers.api.urls")),
    path("", include("tickets.api.urls")),
    path("", include("surveys.api.urls")),
    path("", include("analytics.api.urls")),
]
