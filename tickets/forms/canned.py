"""Writing a canned reply: title, text and, for managers, whether everyone shares it."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cxm import roles

from ..models import CannedReply


class CannedReplyForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    body = forms.CharField(
        label=_("Text"),
        widget=forms.Textarea(attrs={"rows": 8}),
        strip=False,
        help_text=_("Placeholders such as {{ customer.first_name }} are filled in when inserted."),
    )
    shared = forms.BooleanField(
        label=_("Shared with every agent"),
        required=False,
        help_text=_("Only managers and admins can share a canned reply."),
    )

    def __init__(self, *args: Any, user, canned: CannedReply | None = None, **kwargs: Any) -> None:
        if canned is not None:
            kwargs.setdefault(
                "initial",
                {"title": canned.title, "body": canned.body, "shared": canned.owner_id is None},
            )
        super().__init__(*args, **kwargs)
        if not roles.is_manager(user):
            # Agents keep personal replies; the service refuses the rest anyway.
            del self.fields["shared"]

    def service_arguments(self) -> dict[str, Any]:
        """title, body and shared (False when the field is not offered)."""
        return {
            "title": self.cleaned_data["title"],
            "body": self.cleaned_data["body"],
            "shared": bool(self.cleaned_data.get("shared", False)),
        }
