# syntax=docker/dockerfile:1
# The image the kftune KFP components run in: kftune installed as a wheel, with the exact dependency
# versions the tests ran with (image-deps/constraints.txt), on a pinned TensorFlow base.
#
#   GPU (default): docker build -t ghcr.io/kftune/kftune:0.1.0 .
#   CPU variant:   docker build --build-arg BASE_IMAGE=tensorflow/tensorflow:2.21.0 -t ghcr.io/kftune/kftune:0.1.0-cpu .
#   PyTorch (GPU): docker build --build-arg KERAS_BACKEND=torch --build-arg BASE_IMAGE=python:3.11-slim \
#                    -t ghcr.io/kftune/kftune:0.1.0-torch .
#   JAX (GPU):     docker build --build-arg KERAS_BACKEND=jax --build-arg BASE_IMAGE=python:3.11-slim \
#                    -t ghcr.io/kftune/kftune:0.1.0-jax .
#
# KERAS_BACKEND picks the Keras 3 backend the image runs (and bakes it in as the default): tensorflow
# comes from the base image; torch installs kftune's [torch] extra (torch==2.13.0: on PyPI the
# Linux wheel of that version is the CUDA build, with its nvidia-* libraries); jax installs
# jax[cuda12] (CUDA from the wheels, so a plain Python base serves).
# Tag it with the package version (and the backend): the compiled components name <repo>:<kftune version>;
# compile with --image <repo>:<version>-torch for another backend.
ARG BASE_IMAGE=tensorflow/tensorflow:2.21.0-gpu
ARG KERAS_BACKEND=tensorflow
ARG JAX_VERSION=0.10.2

# ---------------------------------------------------------------- builder: wheels for kftune and its deps
FROM ${BASE_IMAGE} AS builder
ARG KERAS_BACKEND
ARG JAX_VERSION
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
RUN case "${KERAS_BACKEND}" in \
      tensorflow) extras="pipelines" ;; torch) extras="pipelines,torch" ;; jax) extras="pipelines" ;; \
      *) echo "KERAS_BACKEND must be tensorflow, torch or jax, got ${KERAS_BACKEND}" >&2; exit 2 ;; \
    esac \
 && python3 -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
 && python3 -m pip wheel --constraint image-deps/constraints.txt --wheel-dir /wheels "$(ls /wheels/kftune-*.whl)[${extras}]" \
 && if [ "${KERAS_BACKEND}" = jax ]; then python3 -m pip wheel --wheel-dir /wheels "jax[cuda12]==${JAX_VERSION}"; fi \
 && echo "${extras}" > /wheels/EXTRAS

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG KERAS_BACKEND
ARG JAX_VERSION
LABEL org.opencontainers.image.title="kftune" \
      io.kftune.keras-backend="${KERAS_BACKEND}" \
      org.opencontainers.image.description="Hyperparameter tuning as a Kubeflow Pipelines step" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KERAS_BACKEND=${KERAS_BACKEND} \
    TF_CPP_MIN_LOG_LEVEL=2
# Install from the builder's wheels only (no index): the versions are exactly the constraints.
# The wheels are bind-mounted, not copied, so they add nothing to the image.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/image-deps/constraints.txt,target=/tmp/constraints.txt \
    python3 -m pip install --no-index --find-links /wheels --constraint /tmp/constraints.txt \
      "$(ls /wheels/kftune-*.whl)[$(cat /wheels/EXTRAS)]" \
 && if [ "${KERAS_BACKEND}" = jax ]; then python3 -m pip install --no-index --find-links /wheels "jax[cuda12]==${JAX_VERSION}"; fi \
 && kftune --version \
 && python3 -c "from kftune.backend import require_backend; print('keras backend:', require_backend())" \
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
