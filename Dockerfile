# syntax=docker/dockerfile:1
# The burstd container image: see docs/container-image.md.
#   docker build -t burstd:0.1.0 .        (or: podman build / buildah bud, same arguments)
#
# Both stages use the same base image, pinned to a full Python patch version and Debian release. To pin it
# by digest as well, resolve the tag once and append the digest, e.g.
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm     (the "Digest:" line)
#   docker build --build-arg PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:<digest> -t burstd:0.1.0 .
# tests/packaging/test_dockerfile.py checks this file (pinned base, constraints, non-root user, entrypoint),
# and tests/packaging/test_wheel.py installs the wheel into a clean virtualenv exactly as below.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# Only what the wheel is built from (.dockerignore keeps the rest of the tree out of the context).
COPY pyproject.toml README.md constraints.txt ./
COPY burstd ./burstd
COPY providers ./providers
COPY policies ./policies

# The wheel of this project; its dependencies come from PyPI below, pinned by constraints.txt (which also
# pins the dev tools: a constraint only pins, it never installs).
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m pip wheel --no-deps --wheel-dir /dist .

# A virtualenv without pip or setuptools: the base image's pip installs into it (pip --python), so the
# runtime image holds burstd, its runtime dependencies and the cloud provider SDKs, nothing else.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m venv --without-pip /opt/burstd \
 && set -- /dist/burstd-*.whl \
 && python -m pip --python /opt/burstd/bin/python install --no-warn-script-location \
      -c constraints.txt "$1[tencentcloud,alibabacloud]" \
 && python -m pip --python /opt/burstd/bin/python check

# Smoke test in the builder: the installed command starts, and the example policies pass its own check.
RUN /opt/burstd/bin/burstd version \
 && /opt/burstd/bin/burstd policy check policies/

# ---------------------------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}

ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="burstd" \
      org.opencontainers.image.description="Burst autoscaler for hybrid Kubernetes: Karmada-federated self-hosted clusters bursting into cloud node pools." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# Nothing is written outside /tmp at run time, so the root filesystem can be read-only (mount an emptyDir
# on /tmp): bytecode was compiled at install time; kubernetes_asyncio writes a kubeconfig's embedded
# certificates to temporary files; matplotlib ('burstd simulate --plot' only, never 'burstd run') keeps
# its font cache in MPLCONFIGDIR. HOME is /tmp because UID 65532 has no entry in /etc/passwd.
ENV PATH=/opt/burstd/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp \
    TMPDIR=/tmp

COPY --from=builder /opt/burstd /opt/burstd

# Numeric, so Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
USER 65532:65532
WORKDIR /tmp
# /healthz, /readyz and /metrics (config: http.port)
EXPOSE 8080

ENTRYPOINT ["burstd"]
CMD ["run", "--config", "/etc/burstd/config.yaml"]
