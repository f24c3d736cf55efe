# Bumper's images, one target per process (docs/images.md):
#   web     gunicorn serving the receiver (public :8000, ops/metrics :8001)
#   worker  the RQ worker (git, ssh, gpg; helm and kustomize for push mode)
#   agent   the pull agent (git, ssh, gpg, helm, kustomize; no web/worker dependencies)
#   redis   Debian's redis-server, for the chart's bundled single Redis
# `make images` builds them all with buildah (images/build.sh): BASE is then a Debian image made
# with debootstrap from the host's mirror (images/base.sh), and helm/kustomize are the test bed's
# own builds, copied into images/tools/ (not committed). With docker and Docker Hub, name a base
# pinned by digest (BASE has no default: a floating tag would let two builds of one commit differ):
#   mkdir -p images/tools && cp "$(which helm kustomize)" images/tools/
#   docker build --target agent --build-arg EXTRA=agent \
#     --build-arg BASE=docker.io/library/debian:12.15-slim@sha256:<digest> \
#     --secret id=hostca,src=/etc/ssl/certs/ca-certificates.crt \
#     -t ghcr.io/bumper-dev/bumper-agent:0.1.0 .
# Every image runs as UID 65532 with a read-only root filesystem; /tmp (HOME) must be writable
# (an emptyDir in the charts).
#
# Package installs trust the host's CA bundle, passed as the build secret `hostca` (mounted
# only while a RUN runs, never stored in a layer): a mirror or PyPI reached through a proxy
# with its own CA then verifies.
# The base, pinned: images/base.sh's localhost/bumper-base:<codename>-<point release>-<archive
# date>-<rootfs digest> (docs/images.md, "Base"), or a registry reference with @sha256:.
ARG BASE

# --- runtime bases ------------------------------------------------------------------------
FROM ${BASE} AS python
# Debian's python3 (bookworm: 3.11.2; bumper/agent/untar.py covers its tarfile). ssh refuses to
# start for a UID with no passwd entry ("No user exists for uid 65532"), so UID 65532 gets one,
# whose home is the writable /tmp.
RUN --mount=type=secret,id=hostca \
    apt-get -o Acquire::https::CAInfo=/run/secrets/hostca update -q \
 && apt-get -o Acquire::https::CAInfo=/run/secrets/hostca install -y -q --no-install-recommends \
      python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 65532 bumper \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin bumper
ENV PATH=/opt/bumper/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp

# git/ssh/gpg and the renderers, for the processes that fetch, sign and render config repos.
# gpg and gpg-agent, not the gnupg metapackage: no dirmngr, gpgsm, pinentry or translations
# (about 4 MB compressed, which keeps the agent under 150 MB).
FROM python AS tooled
RUN --mount=type=secret,id=hostca \
    apt-get -o Acquire::https::CAInfo=/run/secrets/hostca update -q \
 && apt-get -o Acquire::https::CAInfo=/run/secrets/hostca install -y -q --no-install-recommends \
      git openssh-client gpg gpg-agent \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY images/tools/helm images/tools/kustomize /usr/local/bin/
ENV HELM_CACHE_HOME=/tmp/helm/cache \
    HELM_CONFIG_HOME=/tmp/helm/config \
    HELM_DATA_HOME=/tmp/helm/data

# --- Python dependencies, exactly as uv.lock pins them ----------------------------------------
# Dependencies first, the project second: a code change reinstalls only the project.
FROM python AS build
# uv from PyPI; it stays in this stage. --locked: a stale uv.lock fails the build.
RUN --mount=type=secret,id=hostca \
    apt-get -o Acquire::https::CAInfo=/run/secrets/hostca update -q \
 && apt-get -o Acquire::https::CAInfo=/run/secrets/hostca install -y -q --no-install-recommends \
      python3-pip \
 && PIP_CERT=/run/secrets/hostca python3 -m pip install -q --no-cache-dir \
      --break-system-packages --root-user-action=ignore uv
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_CACHE_DIR=/var/cache/uv \
    UV_PYTHON=/usr/bin/python3 UV_PROJECT_ENVIRONMENT=/opt/bumper
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./

# One stage for every process: EXTRA (web, worker or agent; images/build.sh passes the target)
# picks the pyproject extra, so each image holds only its own dependencies.
FROM build AS deps
ARG EXTRA
RUN --mount=type=secret,id=hostca --mount=type=cache,target=/var/cache/uv \
    SSL_CERT_FILE=/run/secrets/hostca uv sync -q --locked --no-dev --no-editable \
      --extra "$EXTRA" --no-install-project
COPY bumper ./bumper
COPY worker ./worker
# --reinstall-package: uv keys its cached wheel of a local project on pyproject.toml's mtime
# only, so without it the cache mount hands back the wheel of an older bumper/ (stale code in
# a freshly built image).
RUN --mount=type=secret,id=hostca --mount=type=cache,target=/var/cache/uv \
    SSL_CERT_FILE=/run/secrets/hostca uv sync -q --locked --no-dev --no-editable --extra "$EXTRA" \
      --reinstall-package bumper

# --- the targets ------------------------------------------------------------------------------
FROM ${BASE} AS redis
# The chart runs it with --dir on a volume (or /tmp); nothing is written to the root filesystem.
RUN --mount=type=secret,id=hostca \
    apt-get -o Acquire::https::CAInfo=/run/secrets/hostca update -q \
 && apt-get -o Acquire::https::CAInfo=/run/secrets/hostca install -y -q --no-install-recommends \
      redis-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 65532 bumper \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin bumper \
 # Debian's /etc/redis is redis:redis 2770 and holds a config nobody uses here: the chart mounts
 # its own redis.conf and password there, which UID 65532 must be able to reach.
 && rm -rf /etc/redis && install -d -m 0755 /etc/redis
USER 65532:65532
EXPOSE 6379
ENTRYPOINT ["redis-server"]
CMD ["--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/tmp", "--save", "", "--appendonly", "no"]

FROM tooled AS agent
COPY --from=deps /opt/bumper /opt/bumper
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["bumper"]
CMD ["agent", "--config=/etc/bumper-agent/config/agent.yaml"]

FROM tooled AS worker
COPY --from=deps /opt/bumper /opt/bumper
USER 65532:65532
ENTRYPOINT ["bumper"]
CMD ["worker"]

FROM python AS web
COPY --from=deps /opt/bumper /opt/bumper
ENV BUMPER_WEB__BIND=0.0.0.0:8000
USER 65532:65532
EXPOSE 8000 8001
ENTRYPOINT ["gunicorn"]
CMD ["-c", "python:bumper.web.gunicorn_conf", "bumper.web:create_app()"]
