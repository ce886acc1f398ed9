"""Saving canned replies: personal ones by their owner, shared ones by managers."""

from django.db import transaction
from django.utils.translation import gettext as _

from cxm import roles
from cxm.lib.exceptions import ApplicationError

from ..models import CannedReply


def _check_may_edit(canned: CannedReply, actor) -> None:
    if canned.owner_id is None and not roles.is_manager(actor):
        raise ApplicationError(_("Only managers and admins can change shared canned replies."))
    if canned.owner_id is not None and canned.owner_id != actor.pk:
        raise ApplicationError(_("This canned reply belongs to another agent."))


@transaction.atomic
def canned_reply_save(
    *, actor, title: str, body: str, shared: bool, canned: CannedReply | None = None
) -> CannedReply:
    """Create (canned=None) or update a canned reply. Agents keep personal replies;
    managers and admins may also share replies with everyone."""
    if canned is not None:
        _check_may_edit(canned, actor)
    else:
        canned = CannedReply()
    canned.title = title.strip()
    canned.body = body
    canned.owner = None if shared else actor
    _check_may_edit(canned, actor)
    canned.full_clean()
    canned.save()
    return canned


@transaction.atomic
def canned_reply_delete(*, canned: CannedReply, actor) -> None:
    _check_may_edit(canned, actor)
    canned.delete()
