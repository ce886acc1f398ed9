"""Who may open what: the expected outcome of every URL pattern for every kind of
visitor, read by test_permission_matrix.py.

Keys are URL names ("namespace:name") or, for the admin's few unnamed patterns, the
route itself. Each entry maps an HTTP method to one outcome per role. GET is always
there; POST (empty body) is there for views whose main verb is POST or that take a
form, PATCH (empty JSON) for API objects that can be changed. The roles:

- anonymous: nobody signed in, and no survey token either (survey URLs are filled
  with a well-formed token that belongs to no invitation);
- token_holder: nobody signed in, holding the token of one sent invitation (survey
  URLs are filled with that token);
- agent, manager, admin: signed in with that role (cxm.roles). Only admins are staff.

A URL pattern with no entry here fails the test: whoever adds a URL decides here who
may open it.
"""

ROLES = ("anonymous", "token_holder", "agent", "manager", "admin")

OUTCOMES = {
    "ok": "2xx, or a redirect that is not to a login page",
    "login": "redirect to a login page (the site's or the admin's), or 401 from the API",
    "forbidden": "403",
    "not_found": "404",
    "not_allowed": "405: the view does not take that method",
    "invalid": "400: let in, but the (empty) input was refused",
    "gone": "410",
    "rate_limited": "429",
}


def row(anonymous: str, token_holder: str, agent: str, manager: str, admin: str) -> dict:
    return {
        "anonymous": anonymous,
        "token_holder": token_holder,
        "agent": agent,
        "manager": manager,
        "admin": admin,
    }


def everyone(outcome: str) -> dict:
    return row(outcome, outcome, outcome, outcome, outcome)


def signed_in(outcome: str) -> dict:
    """Visitors who are not signed in go to the login page; every role gets `outcome`."""
    return row("login", "login", outcome, outcome, outcome)


# Agents work tickets and customers; managers also read analytics; admins configure.
STAFF = signed_in("ok")
MANAGERS = row("login", "login", "forbidden", "ok", "ok")
ADMINS = row("login", "login", "forbidden", "forbidden", "ok")
# A POST-only page opened with GET: signed-in roles get 405, the rest the login page.
POST_ONLY = signed_in("not_allowed")
# The survey pages: the token is the key; staff who know it see the same page.
TOKEN = row("not_found", "ok", "ok", "ok", "ok")
# The agent's own canned reply: private to them, even from managers and admins.
OWNER_ONLY = row("login", "login", "ok", "not_found", "not_found")
# The API: no credentials is 401 ("login"); a role without the permission gets 403.
API_INVALID = signed_in("invalid")
API_MANAGERS_INVALID = row("login", "login", "forbidden", "invalid", "invalid")
API_AGENTS_FORBIDDEN = row("login", "login", "forbidden", "forbidden", "not_allowed")


def staff_only(admin: str) -> dict:
    """The Django admin: only staff (the admin role) get in; the others are sent to
    the admin's login page. `admin` is what the admin role gets."""
    return row("login", "login", "login", "login", admin)


MATRIX: dict[str, dict[str, dict]] = {
    # --- project pages ---
    "home": {"GET": STAFF},  # signed in: redirect to the queue
    "healthz": {"GET": everyone("ok")},
    "login": {"GET": everyone("ok"), "POST": everyone("ok")},  # empty POST: the form again
    # Signed-in roles: POST only; POST signs out and lands on the login page.
    "logout": {"GET": signed_in("not_allowed"), "POST": everyone("login")},
    "set_language": {"GET": everyone("not_allowed"), "POST": everyone("ok")},
    # --- agent desk ---
    "desk:queue": {"GET": STAFF},
    "desk:bulk": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_new": {"GET": STAFF, "POST": STAFF},
    "desk:availability": {"GET": POST_ONLY, "POST": STAFF},
    "desk:notifications": {"GET": STAFF},
    "desk:notifications_read": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_detail": {"GET": STAFF},
    "desk:ticket_reply": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_note": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_properties": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_solve": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_reopen": {"GET": POST_ONLY, "POST": STAFF},
    "desk:ticket_close": {"GET": POST_ONLY, "POST": STAFF},
    "desk:message_retry": {"GET": POST_ONLY, "POST": STAFF},
    "desk:canned_list": {"GET": STAFF},
    "desk:canned_new": {"GET": STAFF, "POST": STAFF},
    "desk:canned_edit": {"GET": OWNER_ONLY, "POST": OWNER_ONLY},
    "desk:canned_delete": {"GET": POST_ONLY, "POST": OWNER_ONLY},
    # The local outbox holds customers' emails: staff only.
    "desk:outbox": {"GET": ADMINS},
    "desk:outbox_detail": {"GET": ADMINS},
    # --- customers ---
    "customers:list": {"GET": STAFF},
    "customers:new": {"GET": STAFF, "POST": STAFF},
    "customers:detail": {"GET": STAFF},
    "customers:edit": {"GET": STAFF, "POST": STAFF},
    # --- public survey pages ---
    "surveys:answer": {"GET": TOKEN, "POST": TOKEN},  # empty POST: the form with its errors
    "surveys:thanks": {"GET": TOKEN},
    "surveys:unsubscribe": {"GET": TOKEN, "POST": TOKEN},
    # --- survey builder (admins) ---
    "survey_builder:list": {"GET": ADMINS},
    "survey_builder:survey_new": {"GET": ADMINS, "POST": ADMINS},
    "survey_builder:survey": {"GET": ADMINS, "POST": ADMINS},
    "survey_builder:question_new": {"GET": ADMINS, "POST": ADMINS},
    "survey_builder:question_edit": {"GET": ADMINS, "POST": ADMINS},
    "survey_builder:question_move": {"GET": POST_ONLY, "POST": ADMINS},
    "survey_builder:question_delete": {"GET": POST_ONLY, "POST": ADMINS},
    "survey_builder:preview_email": {"GET": ADMINS},
    "survey_builder:preview_page": {"GET": ADMINS},
    "survey_builder:send_test": {"GET": POST_ONLY, "POST": ADMINS},
    "survey_builder:campaign_run": {"GET": POST_ONLY, "POST": ADMINS},
    # --- analytics (managers and admins) ---
    "analytics:overview": {"GET": MANAGERS},
    "analytics:glossary": {"GET": MANAGERS},
    "analytics:breakdowns": {"GET": MANAGERS},
    "analytics:trends": {"GET": MANAGERS},
    "analytics:at_risk": {"GET": MANAGERS},
    "analytics:drivers": {"GET": MANAGERS},
    "analytics:drill": {"GET": MANAGERS},
    # --- API ---
    # Anyone may ask for a token (throttled); an empty POST is refused as invalid.
    "api-token": {"GET": everyone("not_allowed"), "POST": everyone("invalid")},
    "customers_api:customer-list": {"GET": STAFF, "POST": API_INVALID},
    "customers_api:customer-detail": {"GET": STAFF, "PATCH": STAFF},
    # Purchases: agents read them; managers and admins record and correct them.
    "customers_api:purchase-list": {"GET": STAFF, "POST": API_MANAGERS_INVALID},
    "customers_api:purchase-detail": {"GET": STAFF, "PATCH": MANAGERS},
    "customers_api:event-list": {"GET": STAFF, "POST": API_INVALID},
    "customers_api:event-detail": {"GET": STAFF, "PATCH": MANAGERS},
    "tickets_api:ticket-list": {"GET": STAFF, "POST": API_INVALID},
    "tickets_api:ticket-detail": {"GET": STAFF},
    "tickets_api:ticket-reply": {"GET": POST_ONLY, "POST": API_INVALID},
    "tickets_api:ticket-note": {"GET": POST_ONLY, "POST": API_INVALID},
    "tickets_api:ticket-assign": {"GET": POST_ONLY, "POST": API_INVALID},
    "tickets_api:ticket-solve": {"GET": POST_ONLY, "POST": STAFF},
    # Reopening the (open) ticket is refused as invalid: the role was let in.
    "tickets_api:ticket-reopen": {"GET": POST_ONLY, "POST": API_INVALID},
    "tickets_api:ticket-close": {"GET": POST_ONLY, "POST": STAFF},
    # Survey configuration is read by managers; agents only see answers.
    "surveys_api:survey-list": {"GET": MANAGERS, "POST": API_AGENTS_FORBIDDEN},
    "surveys_api:survey-detail": {"GET": MANAGERS, "PATCH": API_AGENTS_FORBIDDEN},
    # Sending a survey by hand is the admins' (an empty POST is invalid).
    "surveys_api:invitation-list": {
        "GET": STAFF,
        "POST": row("login", "login", "forbidden", "forbidden", "invalid"),
    },
    "surveys_api:response-list": {"GET": STAFF},
    "surveys_api:response-export": {"GET": STAFF},
    # Without ?from=&to= the KPIs answer 400: the role was let in.
    "analytics_api:kpi-list": {"GET": row("login", "login", "forbidden", "invalid", "invalid")},
    "analytics_api:kpi-series": {"GET": row("login", "login", "forbidden", "invalid", "invalid")},
    # The OpenAPI schema and its docs describe the API, not its data: public, so an
    # integrator can read them before getting a token.
    "schema": {"GET": everyone("ok")},
    "api-docs": {"GET": everyone("ok")},
    # --- Django admin: the site ---
    "admin:index": {"GET": staff_only("ok")},
    "admin:login": {"GET": everyone("ok"), "POST": everyone("ok")},
    # Non-staff are sent back to /admin/ (which asks them to log in): "ok" as a redirect.
    "admin:logout": {
        "GET": row("login", "login", "ok", "ok", "not_allowed"),
        "POST": row("login", "login", "ok", "ok", "login"),
    },
    "admin:password_change": {"GET": staff_only("ok"), "POST": staff_only("ok")},
    "admin:password_change_done": {"GET": staff_only("ok")},
    # Without its query parameters the autocomplete refuses even staff.
    "admin:autocomplete": {"GET": staff_only("forbidden")},
    "admin:jsi18n": {"GET": staff_only("ok")},
    # Tickets have no public page to go to.
    "admin:view_on_site": {"GET": staff_only("not_found")},
    "admin:app_list": {"GET": staff_only("ok")},
    "admin/(?P<url>.*)$": {"GET": staff_only("not_found")},
    "admin:auth_user_password_change": {"GET": staff_only("ok"), "POST": staff_only("ok")},
}


def admin_model_pages(
    label: str, *, view: str = "ok", add: str = "ok", change: str = "ok", delete: str = "ok"
) -> dict[str, dict[str, dict]]:
    """The six pages the admin adds for a model ("app.model"), as the admin role finds
    them: `view` for the list, history and change form, `add`, `change` (saving the
    change form) and `delete`. Everyone else is sent to the admin's login page."""
    app_label, model = label.split(".")
    name = f"admin:{app_label}_{model}"
    return {
        f"{name}_changelist": {"GET": staff_only(view)},
        f"{name}_add": {"GET": staff_only(add), "POST": staff_only(add)},
        f"{name}_history": {"GET": staff_only(view)},
        f"{name}_delete": {"GET": staff_only(delete), "POST": staff_only(delete)},
        f"{name}_change": {"GET": staff_only(view), "POST": staff_only(change)},
        # /admin/app/model/<id>/ redirects to the change form.
        f"admin/{app_label}/{model}/<path:object_id>/": {"GET": staff_only("ok")},
    }


READ_ONLY = {"add": "forbidden", "change": "forbidden", "delete": "forbidden"}

ADMIN_MODELS = {
    "auth.group": {},
    "authtoken.tokenproxy": {},
    # Login attempts (django-axes): superusers only.
    "axes.accessattempt": {"view": "forbidden", **READ_ONLY},
    "axes.accesslog": {"view": "forbidden", **READ_ONLY},
    "axes.accessfailurelog": {"view": "forbidden", **READ_ONLY},
    "accounts.user": {},
    "customers.customer": {},
    "customers.lifecyclechange": READ_ONLY,
    "customers.purchase": {},
    "customers.customerevent": {},
    "tickets.ticket": {},
    # The conversation, the audit trail and notifications are never edited by hand.
    "tickets.message": READ_ONLY,
    "tickets.ticketevent": READ_ONLY,
    "tickets.team": {},
    "tickets.tag": {},
    "tickets.businesscalendar": {},
    "tickets.slapolicy": {},
    "tickets.cannedreply": {},
    "tickets.notification": READ_ONLY,
    "surveys.survey": {},
    # Questions are written in the survey's inline or the builder; their own page
    # only shows and deletes them.
    "surveys.question": {"add": "forbidden", "change": "forbidden"},
    # Invitations come from triggers, campaigns or the API and stay as history: the
    # admin reads them and sends them again (an action); the form saves nothing.
    "surveys.invitation": {"add": "forbidden", "delete": "forbidden"},
    "surveys.response": READ_ONLY,
    # The erasure audit log: written by the privacy services only.
    "privacy.erasurerecord": READ_ONLY,
}

for _label, _allowed in ADMIN_MODELS.items():
    MATRIX.update(admin_model_pages(_label, **_allowed))
