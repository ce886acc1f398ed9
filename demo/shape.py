"""How the demo data set is shaped: its sizes, mixes and timings."""

import random
from datetime import timedelta
from decimal import Decimal

from customers.models import Channel
from cxm import roles

DEMO_PREFIX = "demo-"
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login
HISTORY_DAYS = 182
CUSTOMER_HISTORY_DAYS = 540
BATCH = 500
OPENS, CLOSES = 8, 19  # the support desk's hours, Monday to Friday, local time
AUTO_CLOSE = timedelta(days=4)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


# username, first name, last name, language, role
LOGINS = (
    ("admin", "Elena", "Martín", "es", roles.ADMIN),
    ("manager", "David", "Moreno", "es", roles.MANAGER),
    ("agent", "Laura", "Sánchez", "es", roles.AGENT),
)
TEAMS = ("Support", "Billing", "Technical")
SEGMENTS = {"smb": 0.6, "mid_market": 0.3, "enterprise": 0.1}
# segment: (plan price range per billing period, billing period in days, ticket weight)
PLANS = {
    "smb": ((49, 199), 30, 1.0),
    "mid_market": ((600, 2400), 91, 2.0),
    "enterprise": ((9000, 36000), 365, 3.5),
}
CHANNELS = {
    Channel.EMAIL: 0.45,
    Channel.CHAT: 0.22,
    Channel.PHONE: 0.15,
    Channel.WEB: 0.12,
    Channel.SOCIAL: 0.06,
}
PRIORITIES = {"low": 0.2, "normal": 0.55, "high": 0.18, "urgent": 0.07}
# priority: (median first response in minutes, SLA first response and resolution minutes)
RESPONSE = {"urgent": (20, 60, 480), "high": (50, 240, 1440), "normal": (120, 480, 4320)}
RESPONSE["low"] = (300, 1440, 7200)
# Urgent tickets page the on-call agent at any hour, so their targets count calendar
# hours; the others count the desk's business hours (OPENS to CLOSES, Monday to Friday).
CALENDAR_HOURS_PRIORITIES = ("urgent",)
HOUR_WEIGHTS = (
    [0.15] * 7 + [0.6, 1.5] + [3.0] * 5 + [2.5] + [2.8] * 3 + [2.0, 1.3, 0.8, 0.8, 0.4, 0.3]
)


def weighted(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")
