"""``strata.toml``: which providers the gateway talks to, which model ids it serves, retries, quotas.

Loaded once at start-up (tomllib → pydantic). Without a file the embedded defaults serve the local
llama.cpp SmolLM2 chat model and the local MiniLM embeddings model. Every key is documented in
``examples/strata.example.toml``. A bad file fails with one :class:`ConfigurationError` line that
names the key (``models[1].provider: unknown provider 'x'``).
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from strata.errors import ConfigurationError

# A gateway model id: Bedrock's plain-id shape (no '/', which botocore sends as %2F and the
# Converse modelId pattern allows only inside ARNs).
MODEL_ID_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-:._]{0,255}")
NATIVE_FORMATS = (
    "converse",
    "meta",
    "llama",
    "titan-text",
    "titan-embed",
    "cohere-embed",
    "anthropic",
    "openai",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ProviderConfigBase(_Strict):
    """What every ``[[providers]]`` entry has; each provider plug-in's config class extends it.

    A plug-in's class narrows ``type`` to its own ``Literal["…"]`` (the union's discriminator) and
    adds its keys; see :func:`config_model`.
    """

    name: str
    type: str


class ModelConfig(_Strict):
    """One gateway model id and where it is served."""

    id: str
    provider: str
    upstream: str | None = None  # the provider's own model name; None = same as id
    kind: Literal["chat", "embedding"] = "chat"
    name: str | None = None
    provider_name: str | None = None  # providerName in ListFoundationModels
    native_format: str = "converse"
    context_window: int = Field(8192, ge=1)
    streaming: bool = True
    input_modalities: list[Literal["TEXT", "IMAGE", "EMBEDDING"]] = ["TEXT"]
    input_price_per_1k: float = Field(0.0, ge=0)
    output_price_per_1k: float = Field(0.0, ge=0)
    fallbacks: list[str] = []
    timeout_s: float | None = Field(None, gt=0)
    # Per-tenant limits on this model for tenants without their own limit for it.
    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if not MODEL_ID_RE.fullmatch(self.id):
            raise ValueError(f"model id {self.id!r} must match {MODEL_ID_RE.pattern} (no '/')")
        if self.native_format not in NATIVE_FORMATS:
            raise ValueError(f"native_format {self.native_format!r} is not one of {list(NATIVE_FORMATS)}")
        return self


class RetryConfig(_Strict):
    """Retries of one model before its fallbacks are tried (never after the first streamed byte)."""

    max_attempts: int = Field(3, ge=1, le=10)
    base_delay_s: float = Field(0.2, ge=0)
    max_delay_s: float = Field(5.0, ge=0)


class QuotaConfig(_Strict):
    """Default per-tenant limits, for tenants without their own; None = unlimited."""

    requests_per_minute: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)


class StateConfig(_Strict):
    """Where the gateway keeps tenants, keys, limits and usage (shared by every replica)."""

    url: str | None = None  # sqlite:///path or postgresql://user:pass@host/db; None = $STRATA_HOME/strata.db
    poll_interval_s: float = Field(1.0, gt=0, le=60)  # how often a replica checks for changes by others
    # When a call's response may go out: once its usage is in the local journal ("journal", the
    # default with SQLite) or once it is committed to the database ("commit", the default with
    # PostgreSQL, whose replicas may lose their local disk with them). See model_layer/state/journal.py.
    usage_ack: Literal["journal", "commit"] | None = None


class StrataConfig(_Strict):
    providers: list[ProviderConfigBase] = []
    models: list[ModelConfig] = []
    retry: RetryConfig = RetryConfig()
    quotas: QuotaConfig = QuotaConfig()
    state: StateConfig = StateConfig()

    @model_validator(mode="after")
    def _check_references(self) -> StrataConfig:
        _unique("providers", [p.name for p in self.providers])
        _unique("models", [m.id for m in self.models])
        providers = {p.name for p in self.providers}
        kinds = {m.id: m.kind for m in self.models}
        for i, model in enumerate(self.models):
            if model.provider not in providers:
                raise ValueError(f"models[{i}].provider: unknown provider {model.provider!r}")
            for fallback in model.fallbacks:
                if kinds.get(fallback) != model.kind:
                    raise ValueError(
                        f"models[{i}].fallbacks: {fallback!r} is not a configured {model.kind} model"
                    )
        return self

    def provider(self, name: str) -> ProviderConfigBase:
        return next(p for p in self.providers if p.name == name)


def provider_config_classes() -> dict[str, type[ProviderConfigBase]]:
    """``{type: config class}`` of every registered provider plug-in."""
    from model_layer import plugins

    return {name: plugin.config for name, plugin in plugins.load(plugins.PROVIDERS).items()}


@functools.cache
def config_model() -> type[StrataConfig]:
    """:class:`StrataConfig` whose ``providers`` are the union of the registered plug-ins' configs."""
    classes = tuple(provider_config_classes().values())
    entry = Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007 - built at run time
    return create_model("StrataConfig", __base__=StrataConfig, providers=(list[entry], []))


def _unique(key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{key}[{i}]: duplicate {name!r}")
        seen.add(name)


# The embedded defaults. The chat model is exposed under three ids: a `local.` id, and aliases in
# namespaces langchain-aws knows (`meta.` streams in ChatBedrockConverse and answers InvokeModel
# in Llama's body format; `amazon.` embeddings use Titan's), see examples/strata.example.toml.
_LOCAL_CHAT = {
    "provider": "local",
    "upstream": "smollm2-135m-instruct",
    "name": "SmolLM2 135M Instruct (local llama.cpp)",
    "provider_name": "HuggingFaceTB",
    "native_format": "meta",
    # Per request: llama.cpp splits n_ctx (8192) evenly over its n_parallel (4) slots.
    "context_window": 2048,
}
_LOCAL_EMBED = {
    "provider": "local",
    "upstream": "all-minilm-l6-v2",
    "kind": "embedding",
    "name": "all-MiniLM-L6-v2 int8 (local onnxruntime)",
    "provider_name": "sentence-transformers",
    "native_format": "titan-embed",
    "context_window": 256,
    "streaming": False,
    "input_modalities": ["TEXT"],
}
DEFAULTS: dict = {
    "providers": [{"name": "local", "type": "local"}],
    "models": [
        {"id": "local.smollm2-135m-instruct-v1:0", **_LOCAL_CHAT},
        {"id": "meta.smollm2-135m-instruct-v1:0", **_LOCAL_CHAT},
        {"id": "local.minilm-l6-v2-v1:0", **_LOCAL_EMBED},
        {"id": "amazon.minilm-l6-v2:0", **_LOCAL_EMBED},
    ],
}


def parse_config(data: dict, source: str = "strata.toml") -> StrataConfig:
    """Validate a parsed TOML document; one-line ConfigurationError naming the offending key."""
    try:
        return config_model().model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _format_loc(first["loc"])
        if first["type"] == "union_tag_invalid":
            loc += ".type"
        message = first["msg"].removeprefix("Value error, ")
        where = f"{loc}: " if loc else ""
        raise ConfigurationError(
            f"{source}: {where}{message}", hint="see examples/strata.example.toml"
        ) from None


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in provider_config_classes() and out.endswith("]"):
            continue  # the discriminator tag pydantic inserts into the location
        else:
            out += f".{part}" if out else str(part)
    return out


def load_config(path: Path | None = None, *, home: Path | None = None) -> StrataConfig:
    """``path``, else ``<home>/strata.toml`` if it exists, else the embedded defaults."""
    if path is None and home is not None and (home / "strata.toml").is_file():
        path = home / "strata.toml"
    if path is None:
        return parse_config(DEFAULTS, "embedded defaults")
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigurationError(f"config file not found: {path}", hint="check STRATA_CONFIG_FILE")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(data, str(path))
