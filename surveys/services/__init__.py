"""The verbs of the survey loop. Import them from here: `from surveys import services`."""

from .dispatch import (
    invitation_email,
    invitation_resend,
    invitations_dispatch_due,
    invitations_send_reminders,
)
from .invitations import (
    campaign_run,
    campaigns_run_due,
    invitation_create_manual,
    invitations_cancel_for_ticket,
    invitations_schedule_for_ticket,
)
from .responses import (
    FOLLOW_UP_CATEGORY,
    AnswerInput,
    customer_unsubscribe,
    follow_up_reopened,
    follow_up_resolved,
    response_record,
    visible_questions,
)

__all__ = [
    "FOLLOW_UP_CATEGORY",
    "AnswerInput",
    "campaign_run",
    "campaigns_run_due",
    "customer_unsubscribe",
    "follow_up_reopened",
    "follow_up_resolved",
    "invitation_create_manual",
    "invitation_email",
    "invitation_resend",
    "invitations_cancel_for_ticket",
    "invitations_dispatch_due",
    "invitations_schedule_for_ticket",
    "invitations_send_reminders",
    "response_record",
    "visible_questions",
]

from .config import (
    question_delete,
    question_move,
    question_save,
    survey_preview_email,
    survey_preview_invitation,
    survey_save,
    survey_send_test,
)

__all__ += [
    "question_delete",
    "question_move",
    "question_save",
    "survey_preview_email",
    "survey_preview_invitation",
    "survey_save",
    "survey_send_test",
]

from .imports import response_import_upsert  # noqa: E402

__all__ += ["response_import_upsert"]
