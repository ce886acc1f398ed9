from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from .services import user_set_language


@login_not_required
@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language, which also remembers the choice in the staff profile."""
    response = set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language:
        user_set_language(user=request.user, language=language)
    return response
