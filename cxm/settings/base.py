"""Settings shared by every environment; everything configurable comes from the environment."""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CXM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "accounts",
    "customers",
    "tickets",
    "surveys",
    "analytics",
    "privacy",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "cxm.lib.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cxm.urls"
WSGI_APPLICATION = "cxm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "tickets.context_processors.desk",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cxm.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# A kept connection that died (the database restarted) is replaced at the start of the
# next request instead of failing it: the web tier recovers without a restart.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that does not answer fails a request (and /healthz/, with 503) in
    # seconds, not after the OS's TCP timeout. ?connect_timeout= in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
    # No JIT: compiling a plan took over a second on the KPI queries (which run in tens of
    # milliseconds without it); our queries are short and JIT only pays off on long ones.
    DATABASES["default"]["OPTIONS"].setdefault("options", "-c jit=off")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the Celery worker use the file at the same time.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# django-axes' AxesStandaloneBackend first: it refuses a locked-out login before any
# password is checked (cxm.lib.login_throttle).
AUTHENTICATION_BACKENDS = [
    "cxm.lib.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Madrid")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS: list = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}


def _xstatic_dirs() -> list[tuple[str, str]]:
    import xstatic.pkg.bootstrap

    return [("bootstrap", xstatic.pkg.bootstrap.BASE_DIR)]


STATICFILES_DIRS += _xstatic_dirs()
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "analytics.staticfiles.PlotlyFinder",  # plotly/plotly.min.js from the plotly package
]

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Email: SMTP when configured, otherwise files under var/mail/ (the local outbox).
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif env.str("EMAIL_HOST", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env.str("EMAIL_HOST")
    EMAIL_PORT = env.int("EMAIL_PORT", default=25)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
    EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
else:
    EMAIL_BACKEND = "cxm.lib.mail.OutboxBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CXM <support@cxm.localhost>")
CXM_COMPANY_NAME = env.str("CXM_COMPANY_NAME", default="CXM")

# --- Celery: Redis (or any kombu URL) when configured; otherwise kombu's filesystem
# transport under var/, so a laptop runs every job for real with no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "filesystem://"
CELERY_BROKER_CONFIGURED = bool(env.str("CELERY_BROKER_URL", default=""))
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "celery" / "queue"),
        "data_folder_out": str(VAR_DIR / "celery" / "queue"),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        # Broadcast/control messages (inspect, ping); kombu's default is ./control.
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
else:
    # Redis gives a task nobody acknowledged within visibility_timeout to another worker.
    # Far above the longest countdown we schedule (a reply email's retry backoff, at most
    # 15 min: tickets/tasks.py) and the hard time limit (5 min), so a task that is merely
    # waiting or still running never runs twice; one whose worker was killed comes back
    # after this long (the outbox sweeps have long sent its invitations by then).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Acknowledge a task once it has run, not when it arrives: a worker killed mid-task
# (SIGKILL, the OOM killer, a lost machine) leaves it in the broker to run again. Every
# task is idempotent (rows are claimed by conditional UPDATE), so a second run is harmless.
CELERY_TASK_ACKS_LATE = True
# Even with acks_late, Celery acknowledges the task of a pool process that died; requeue
# it instead, so the next process runs it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Each process reserves one task at a time: a killed worker strands no backlog of
# unstarted tasks for the visibility timeout, and a long dispatch run holds up no others.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Far below the dispatch's STALE_CLAIM (15 min): a claimed invitation is never released
# to another worker while the task that claimed it can still be sending it.
CELERY_TASK_TIME_LIMIT = 5 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 4 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict = {
    "mark-sla-breaches": {"task": "tickets.tasks.mark_sla_breaches", "schedule": 60.0},
    "requeue-stale-reply-emails": {
        "task": "tickets.tasks.requeue_stale_reply_emails",
        "schedule": 5 * 60.0,
    },
    # The outbox sweep: due invitations go out even if the on-commit kick was lost.
    "dispatch-due-invitations": {
        "task": "surveys.tasks.dispatch_due_invitations",
        "schedule": 60.0,
    },
    "send-survey-reminders": {"task": "surveys.tasks.send_survey_reminders", "schedule": 60 * 60.0},
    "run-due-campaigns": {"task": "surveys.tasks.run_due_campaigns", "schedule": 15 * 60.0},
    "auto-close-solved-tickets": {
        "task": "tickets.tasks.auto_close_solved_tickets",
        "schedule": 15 * 60.0,
    },
    # KPI rollups: dirty days within a minute of the change; everything again each night.
    "recompute-dirty-rollups": {
        "task": "analytics.tasks.recompute_dirty_rollups",
        "schedule": 30.0,
    },
    "reconcile-rollups": {
        "task": "analytics.tasks.reconcile_rollups",
        "schedule": crontab(hour=2, minute=30),
    },
    # Does nothing unless CXM_RETENTION_MONTHS is set.
    "anonymise-old-content": {
        "task": "privacy.tasks.anonymise_old_content",
        "schedule": 24 * 60 * 60.0,
    },
}

# --- Cache: per-process memory by default; CACHE_URL (e.g. redis://redis:6379/1) shares
# it between web processes, which the public survey pages' rate limits need to be exact.
# Not the broker's Redis database: clearing the cache must never drop queued tasks.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
CACHES["default"].setdefault("KEY_PREFIX", "cxm")


def survey_rate_limits(value: dict[str, str]) -> dict[str, tuple[int, int]]:
    """{"ip": "30/600"} → {"ip": (30, 600)}: requests per window of seconds."""
    limits = {}
    for scope, limit in value.items():
        count, _slash, seconds = limit.partition("/")
        if scope not in ("ip", "token") or not (count.isdigit() and seconds.isdigit()):
            raise environ.ImproperlyConfigured(
                f"CXM_SURVEY_RATE_LIMITS: expected ip=<count>/<seconds> and/or "
                f"token=<count>/<seconds>, got {scope}={limit}"
            )
        limits[scope] = (int(count), int(seconds))
    return limits


# Public survey POSTs allowed per client IP and per invitation token; what is not set
# keeps surveys/throttle.py's default (ip=30/600, token=10/600). Load tests from one
# address raise the ip limit.
CXM_SURVEY_RATE_LIMITS = survey_rate_limits(env.dict("CXM_SURVEY_RATE_LIMITS", default={}))
# How many proxies in front of the web processes append to X-Forwarded-For; 0 trusts
# none and uses the connecting address (rate limits per customer IP on public pages).
CXM_TRUSTED_PROXIES = env.int("CXM_TRUSTED_PROXIES", default=0)

# --- Login throttling (django-axes): 5 wrong passwords for one username from one address
# lock that pair out for 15 minutes, on the login page, the admin's and the API token
# endpoint alike; other users and other addresses carry on. Attempts are rows in the
# database, so every web process sees them; a superuser can unlock from the admin.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A try during the lockout, even with the right password, neither logs in nor extends
# it: the page promises 15 minutes and keeps its word.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "cxm.lib.login_throttle.lockout_response"
# Only failures are kept, and only until they expire: a history of every login's
# address would be personal data nobody asked to keep.
AXES_DISABLE_ACCESS_LOG = True
# The same client address as the survey pages' rate limits (CXM_TRUSTED_PROXIES).
AXES_CLIENT_IP_CALLABLE = "surveys.throttle.client_ip"

# No customer gets more than one survey (any survey) in this many days.
CXM_SURVEY_FATIGUE_DAYS = env.int("CXM_SURVEY_FATIGUE_DAYS", default=30)
# Where customers reach the public survey pages (links in emails).
CXM_BASE_URL = env.str("CXM_BASE_URL", default="http://127.0.0.1:8000")

# Solved tickets close by themselves after this many days without a customer reply (0: never).
CXM_AUTO_CLOSE_DAYS = env.int("CXM_AUTO_CLOSE_DAYS", default=4)
# Discount rate d of the predictive CLV, m*r/(1+d-r), per KPI period (0.10 = 10 %).
CXM_CLV_DISCOUNT_RATE = env.float("CXM_CLV_DISCOUNT_RATE", default=0.10)
# Message bodies and survey comments older than this many months are anonymised (0: never).
CXM_RETENTION_MONTHS = env.int("CXM_RETENTION_MONTHS", default=0)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header is what turns "no credentials" into a 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "cxm.lib.permissions.RoleModelPermissions",
    ],
    "DEFAULT_PAGINATION_CLASS": "cxm.lib.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "cxm.lib.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cxm.lib.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"token": "20/min"},
    # Throttles count per client address: X-Forwarded-For only as far as CXM_TRUSTED_PROXIES
    # go (DRF's default, None, would let any client pick its own address).
    "NUM_PROXIES": CXM_TRUSTED_PROXIES,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CXM API",
    "DESCRIPTION": "Customers, purchases, events, tickets and KPIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "kind"; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "PurchaseKindEnum": "customers.models.Purchase.Kind",
        "CustomerEventKindEnum": "customers.models.CustomerEvent.Kind",
        "MessageKindEnum": "tickets.models.Message.Kind",
        "TicketEventKindEnum": "tickets.models.TicketEvent.Kind",
        "TicketStatusEnum": "tickets.models.Ticket.Status",
        "InvitationStatusEnum": "surveys.models.Invitation.Status",
        "QuestionTypeEnum": "surveys.models.Question.Type",
        "SurveyKindEnum": "surveys.models.Survey.Kind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
