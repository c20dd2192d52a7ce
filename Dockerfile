# One image for every process of the system; the command picks which:
#   postcard-gateway --host 0.0.0.0      (the default)
#   user-service --host 0.0.0.0
#   postcard-service --host 0.0.0.0
#   postcard-worker
# Built in two stages: the builder installs the locked dependencies and our wheel into a virtual
# environment (deploy/build-runtime.sh); the final stage copies only that environment.

FROM python:3.11-slim AS builder
WORKDIR /src
# The recipe and what it reads: the locks, the package metadata, and the code (see .dockerignore).
COPY requirements.lock pyproject.toml README.md ./
COPY deploy/build-runtime.sh deploy/
COPY gateway/ gateway/
COPY services/ services/
COPY telemetry/ telemetry/
COPY trust/ trust/
COPY contractrules/ contractrules/
COPY generated/ generated/
RUN sh deploy/build-runtime.sh /src /opt/venv

FROM python:3.11-slim
# /data holds the services' state (SQLite, keys), /tls certificates (compose's throwaway CA): a volume
# mounted there starts owned by the runtime user.
RUN groupadd --system --gid 10001 postcard \
    && useradd --system --uid 10001 --gid postcard --home-dir /app --create-home postcard \
    && install --directory --owner 10001 --group 10001 /data /tls
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
USER 10001:10001
EXPOSE 8080
# The gateway's liveness; compose and Kubernetes give the services their own gRPC health checks.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["postcard-probe", "http", "http://127.0.0.1:8080/actuator/health/liveness"]
CMD ["postcard-gateway", "--host", "0.0.0.0"]
