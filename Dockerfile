# The CXM image: web (gunicorn), Celery worker and beat all run from it;
# docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    CXM_VAR_DIR=/app/var \
    DJANGO_SETTINGS_MODULE=cxm.settings.production

WORKDIR /app

# Installed the way `make run` installs it (editable: the project runs from /app, where
# its templates and static files are). xstatic-bootstrap only builds with a setuptools
# older than 81, so the build uses this one instead of an isolated env.
COPY . .
RUN pip install "setuptools>=65,<81" wheel \
    && pip install --no-build-isolation -e .

# Static files are collected at build time. Local settings do it because production
# settings rightly refuse to load without the real SECRET_KEY, which a build must never
# see; both read STATIC_ROOT, STORAGES and the static apps from base settings (a test
# checks they agree).
RUN DJANGO_SETTINGS_MODULE=cxm.settings.local CXM_VAR_DIR=/tmp/cxm-build \
    python manage.py collectstatic --noinput \
    && rm -rf /tmp/cxm-build

# Run as an unprivileged user; var/ holds the beat schedule and, when no SMTP server
# is configured, the mail outbox.
RUN useradd --system --create-home --uid 10001 cxm \
    && mkdir -p /app/var \
    && chown cxm:cxm /app/var
USER cxm

EXPOSE 8000
CMD ["gunicorn", "cxm.wsgi:application", "--bind=0.0.0.0:8000", "--access-logfile=-"]
