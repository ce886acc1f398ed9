"""Facts the ticket services announce to later apps (surveys, analytics).

Sent inside the service's transaction, so a receiver's writes commit or roll back
with the ticket. Receivers get `ticket` (the saved Ticket) and `actor` (a User or None);
`ticket_reopened` also gets `undone_solved_at`, the resolution the reopening undid.
"""

from django.dispatch import Signal

ticket_solved = Signal()
ticket_closed = Signal()
ticket_reopened = Signal()
