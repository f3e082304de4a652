# One image for the four services; docker-compose.yml picks the service by its command,
# e.g. `python -m services.triage`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first, from pyproject.toml alone: editing the code does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt
COPY shared ./shared
COPY services ./services
COPY devtools ./devtools
COPY frontends ./frontends
RUN pip install --no-deps . && rm -rf /src

WORKDIR /app
COPY deploy/district.yaml ./deploy/district.yaml
RUN useradd --system --user-group --uid 10001 --no-create-home --home-dir /nonexistent bureau
USER bureau

# The installed package cannot find deploy/ next to itself: say where the district file is.
ENV HOST=0.0.0.0 \
    DISTRICT_CONFIG=/app/deploy/district.yaml
EXPOSE 8001 8002 8003 8004
CMD ["python", "-m", "services.intake"]
