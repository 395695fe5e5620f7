# syntax=docker/dockerfile:1
# The image the kftune KFP components run in: kftune installed as a wheel, with the exact dependency
# versions the tests ran with (image-deps/constraints.txt), on a pinned TensorFlow base.
#
#   GPU (default): docker build -t ghcr.io/kftune/kftune:0.1.0 .
#   CPU variant:   docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0 -t ghcr.io/kftune/kftune:0.1.0-cpu .
#
# Tag it with the package version: the compiled components name <repo>:<kftune version>.
ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu

# ---------------------------------------------------------------- builder: wheels for kftune and its deps
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY image-deps/constraints.txt /src/image-deps/constraints.txt
RUN python3 -m pip install --constraint image-deps/constraints.txt "setuptools==84.2.1" "wheel==0.48.0"
COPY pyproject.toml README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
# kftune's own wheel (no build isolation: setuptools is pinned above), then every dependency as a
# wheel at its pinned version, so the final stage installs offline from /wheels.
RUN python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python3 -m pip wheel --constraint image-deps/constraints.txt --wheel-dir /wheels "$(ls /wheels/kftune-*.whl)[pipelines]"

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="kftune" \
      org.opencontainers.image.description="Hyperparameter tuning as a Kubeflow Pipelines step" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KERAS_BACKEND=tensorflow \
    TF_CPP_MIN_LOG_LEVEL=2
# Install from the builder's wheels only (no index): the versions are exactly the constraints.
# The wheels are bind-mounted, not copied, so they add nothing to the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/image-deps/constraints.txt,target=/tmp/constraints.txt \
    python3 -m pip install --no-index --find-links /wheels --constraint /tmp/constraints.txt \
      "$(ls /wheels/kftune-*.whl)[pipelines]" \
 && kftune --help > /dev/null \
 && python3 -c "import kfp, kftune_kfp.components._runtime, kftune_kfp.pipelines.tune_and_train"
# A non-root user with a fixed numeric UID (so runAsNonRoot can verify it) and a home of its own.
RUN useradd --create-home --no-log-init --uid 10001 --user-group --shell /bin/bash kftune
USER 10001:10001
WORKDIR /home/kftune
# Caches in /tmp so that a pod running as any other UID (runAsUser, OpenShift) can still write them.
ENV HOME=/home/kftune \
    KFTUNE_CACHE_DIR=/tmp/kftune-cache \
    KERAS_HOME=/tmp/keras
# KFP replaces the command with its executor; `docker run IMAGE tune spec.yaml` runs the CLI.
ENTRYPOINT ["kftune"]
CMD ["--help"]
