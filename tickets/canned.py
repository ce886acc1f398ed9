"""Canned replies: placeholders filled from a fixed list of safe attributes.

Admins and agents write the text, so it is never run as a Django template: only the
names below are replaced, everything else stays as written. The result is the plain
text of a message, escaped like any other message wherever it is shown.
"""

import re

PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "customer": ("name", "first_name", "email"),
    "ticket": ("reference", "subject"),
    "agent": ("first_name", "last_name", "display_name", "email"),
}
_PLACEHOLDER_RE = re.compile(r"\{\{\s*(\w+)\.(\w+)\s*\}\}")


def render_canned_reply(text: str, *, ticket, agent) -> str:
    """Fill {{ customer.first_name }}, {{ ticket.reference }}, {{ agent.first_name }}…;
    an unknown placeholder is left as written so the agent sees and fixes it."""
    objects = {"customer": ticket.customer, "ticket": ticket, "agent": agent}

    def substitute(match: re.Match) -> str:
        name, attribute = match.groups()
        if attribute not in PLACEHOLDERS.get(name, ()):
            return match.group(0)
        value = getattr(objects[name], attribute, "")
        return str(value() if callable(value) else value)

    return _PLACEHOLDER_RE.sub(substitute, text)
