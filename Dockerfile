# Hemicycle server image: `docker build -t hemicycle .`, then see docker-compose.yml for a full deployment.
FROM python:3.11-slim AS wheel

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel holds the packages, the Alembic migrations and the browser files (web/, installed as
# server/web), so the image needs nothing from the sources but the wheel.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server/ server/
COPY signaling/ signaling/
COPY web/ web/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --from=wheel /wheels/ /tmp/wheels/
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels

# The working folder holds only the data directory (HEMICYCLE_DATA_DIR defaults to ./var).
WORKDIR /app

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home hemicycle \
    && mkdir -p /app/var \
    && chown hemicycle:hemicycle /app/var
USER hemicycle

EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, sys, urllib.request; body = json.load(urllib.request.urlopen('http://127.0.0.1:8080/api/health', timeout=3)); sys.exit(0 if body.get('status') == 'ok' else 1)"]

CMD ["hemicycle", "serve", "--host", "0.0.0.0", "--port", "8080"]
