from django.utils import translation


class UserLanguageMiddleware:
    """Staff see the interface in the language of their profile.

    Runs after LocaleMiddleware and AuthenticationMiddleware: anonymous visitors keep
    the language from their cookie or browser, signed-in users get their own."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
        return self.get_response(request)
