# GPU image: serves the configured model on CUDA, adapters mounted at /adapters.
#   docker build -t extractor-energy .
#   docker run --gpus all -p 8000:8000 -v $PWD/adapters:/adapters -v hf-cache:/root/.cache/huggingface \
#     -e EXTRACTOR_API_KEYS="billing:extract:<sha256>,ops:admin:<sha256>" extractor-energy
# Without EXTRACTOR_API_KEYS the server listens on loopback only (unreachable from outside the
# container) unless EXTRACTOR_ALLOW_ANONYMOUS=true; make keys with `extractor-energy api-key`.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    EXTRACTOR_ADAPTERS_DIR=/adapters \
    EXTRACTOR_DEVICE=cuda

WORKDIR /app
COPY pyproject.toml README.md main.py ./
COPY extractor_energy ./extractor_energy
RUN pip install . && mkdir -p /adapters

VOLUME ["/adapters"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status == 200 else 1)"
# SIGTERM drains queued requests (EXTRACTOR_SHUTDOWN_GRACE_S) and exits 0
CMD ["extractor-energy", "serve", "--host", "0.0.0.0", "--port", "8000"]
