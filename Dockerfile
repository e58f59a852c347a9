# Hemicycle server image: `docker build -t hemicycle .`, then see docker-compose.yml for a full deployment.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The packages (with the Alembic migrations inside server/), then the browser files.
COPY pyproject.toml README.md ./
COPY server/ server/
COPY signaling/ signaling/
RUN pip install .
COPY web/ web/

# The server serves web/ from beside its packages (server/app.py: WEB_DIR), so import them from /app,
# where web/ is, rather than from site-packages; the installed copy provides the dependencies and the
# `hemicycle` command.
ENV PYTHONPATH=/app

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home hemicycle \
    && mkdir -p /app/var \
    && chown hemicycle:hemicycle /app/var
USER hemicycle

EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, sys, urllib.request; body = json.load(urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=3)); sys.exit(0 if body.get('status') == 'ok' else 1)"]

CMD ["hemicycle", "serve", "--host", "0.0.0.0", "--port", "8080"]
