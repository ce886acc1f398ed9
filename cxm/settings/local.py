"""Laptop defaults: DEBUG on and a throwaway secret, unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import VAR_DIR, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = (
    env.str("SECRET_KEY", default="") or "insecure-local-development-key-not-for-production"
)

# The embedded default keeps its database, broker queue and outbox here.
VAR_DIR.mkdir(parents=True, exist_ok=True)
