"""Runtime settings, read once from the environment (prefix ``STRATA_``) or passed explicitly.

=============================  ===========================================================
``STRATA_MODEL_PATH``          a GGUF file to serve (default: the packaged SmolLM2-135M)
``STRATA_OPENAI_BASE_URL``     use a remote OpenAI-compatible server instead (Ollama, vLLM,
                               llama-server, TGI), e.g. ``http://localhost:11434/v1``
``STRATA_OPENAI_API_KEY``      bearer key for that server (optional)
``STRATA_OPENAI_MODEL``        model name to send to that server (optional)
``STRATA_N_CTX``               total KV-cache context, shared by the slots (default 8192)
``STRATA_N_PARALLEL``          slots = requests decoded together (default 4)
``STRATA_THREADS``             CPU threads for llama.cpp (default: all CPUs but one up to 4,
                               then half; ``engine.default_threads``)
``STRATA_REQUEST_TIMEOUT_S``   timeout for remote servers (default 120)
=============================  ===========================================================
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeSettings(BaseSettings):
    """Where the chat model comes from and how the local engine is sized."""

    model_config = SettingsConfigDict(env_prefix="STRATA_", extra="ignore", protected_namespaces=())

    model_path: str | None = None
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    openai_model: str | None = None
    n_ctx: int = Field(8192, ge=256)
    n_parallel: int = Field(4, ge=1, le=64)
    threads: int | None = Field(None, ge=1)
    request_timeout_s: float = Field(120.0, gt=0)
