"""Facts the survey services announce to later apps (analytics).

Sent inside the service's transaction. `response_recorded` carries `response` (the
saved Response) and `previous_answered_at` (None for a first answer), so a listener can
mark both days dirty when an answer moves.
"""

from django.dispatch import Signal

response_recorded = Signal()
