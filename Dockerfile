# Lifecycle: one image for the web server, the RQ worker and the reconciler.
# Build: docker build -t lifecycle .   Run everything: docker compose up -d
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LIFECYCLE_VAR_DIR=/app/var \
    MEDIA_ROOT=/data/media

WORKDIR /app

# Dependencies first (their layer is reused until pyproject.toml or the lock
# changes), pinned by constraints.txt. The project itself is not pip-installed: it
# runs from /app, where manage.py, templates/ and static/ live.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files are collected (and compressed, with a manifest) at build time, in
# production mode; the keys below exist only for this RUN and are not in the image.
RUN LIFECYCLE_PRODUCTION=1 SECRET_KEY=build-only ALLOWED_HOSTS=localhost \
        MODEL_SIGNING_KEY=build-only \
        python manage.py collectstatic --noinput \
    && python -m compileall -q lifecycle_app projects

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin lifecycle \
    && mkdir -p /data/media /app/var \
    && chown -R lifecycle:lifecycle /data \
    && chown lifecycle:lifecycle /app/var
USER lifecycle

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "bin/healthcheck.py"]
CMD ["gunicorn", "lifecycle_app.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--timeout", "120", "--access-logfile", "-", "--error-logfile", "-", "--no-control-socket"]
