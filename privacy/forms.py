from django import forms
from django.utils.translation import gettext_lazy as _


class ErasureForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_(
            "Kept in the audit log for good: say how the request came, without personal "
            "data (e.g. “request by email, case 2026-031”)."
        ),
    )
