"""The verbs that change tickets. Import them from here: `from tickets import services`."""

from .agents import agent_set_availability
from .assignment import pick_assignee
from .bulk import (
    BulkAction,
    BulkResult,
    ticket_set_do_not_survey,
    ticket_set_tags,
    ticket_update_properties,
    tickets_bulk_apply,
)
from .business_times import BackfillResult, tickets_backfill_business_times
from .canned import canned_reply_delete, canned_reply_save
from .email import message_email_failed, message_email_retry, message_send_email
from .lifecycle import (
    tags_get_or_create,
    ticket_add_note,
    ticket_assign,
    ticket_close,
    ticket_create,
    ticket_customer_reply,
    ticket_import_upsert,
    ticket_reopen,
    ticket_reply,
    ticket_set_priority,
    ticket_set_status,
    ticket_solve,
)
from .notifications import notifications_mark_read, notify
from .sweeps import sla_mark_breaches, tickets_auto_close

__all__ = [
    "BackfillResult",
    "BulkAction",
    "BulkResult",
    "agent_set_availability",
    "canned_reply_delete",
    "canned_reply_save",
    "message_email_failed",
    "message_email_retry",
    "message_send_email",
    "notifications_mark_read",
    "notify",
    "pick_assignee",
    "sla_mark_breaches",
    "tags_get_or_create",
    "ticket_add_note",
    "ticket_assign",
    "ticket_close",
    "ticket_create",
    "ticket_customer_reply",
    "ticket_import_upsert",
    "ticket_reopen",
    "ticket_reply",
    "ticket_set_do_not_survey",
    "ticket_set_priority",
    "ticket_set_status",
    "ticket_set_tags",
    "ticket_solve",
    "ticket_update_properties",
    "tickets_auto_close",
    "tickets_backfill_business_times",
    "tickets_bulk_apply",
]
