from django.conf import settings


def user_set_language(*, user, language: str) -> bool:
    """Remember the staff member's interface language; unknown codes are ignored."""
    if language not in dict(settings.LANGUAGES) or user.language == language:
        return False
    user.language = language
    user.save(update_fields=["language"])
    return True
