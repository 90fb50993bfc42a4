"""What `bertkit serve` accepts, and how it says no: the defaults of its limits and the
settings one server process runs with (`ServeSettings`), passed to `--workers` processes
through environment variables. No heavy import here: `bertkit serve --help` reads it.

    >>> settings = ServeSettings(model="my-model", max_batch_tokens=4096)
    >>> ServeSettings.from_env(settings.to_env()) == settings
    True
"""

from __future__ import annotations

import dataclasses
import os

from bertkit.errors import InputError

MAX_BATCH_TOKENS = 16384  # tokens in one model call, summed over the requests it merges (413 beyond, per request)
MAX_CLIENT_BATCH_SIZE = 32  # texts per request (413 beyond), as text-embeddings-inference
MAX_BATCH = 256  # texts in one model call
MAX_BODY_BYTES = 2 * 1024 * 1024  # JSON per request (413 beyond), as text-embeddings-inference's payload limit
MAX_QUEUE = 128  # requests waiting for the model (429 beyond)
REQUEST_TIMEOUT_S = 30.0  # from a request's arrival to its answer (503 beyond)
READ_TIMEOUT_S = 10.0  # to receive a request's whole body (408 beyond: slow clients)
ENV_PREFIX = "BERTKIT_SERVE_"
API_KEY_ENV = "BERTKIT_API_KEY"


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """Everything one server process needs besides its socket (the model is loaded from `model`)."""

    model: str | None = None  # None: the bundled all-MiniLM-L6-v2
    precision: str = "auto"
    device: str | None = None
    seq_length: int | None = None
    max_batch_tokens: int = MAX_BATCH_TOKENS
    max_client_batch_size: int = MAX_CLIENT_BATCH_SIZE
    max_batch: int = MAX_BATCH
    max_wait_ms: float = 0.0
    max_body_bytes: int = MAX_BODY_BYTES
    max_queue: int = MAX_QUEUE
    request_timeout_s: float = REQUEST_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    auto_truncate: bool = False  # TEI's --auto-truncate: a request without "truncate" cuts long texts
    api_key: str | None = None

    def check(self) -> ServeSettings:
        """Itself, or an InputError naming the first limit that makes no sense."""
        for field in ("max_batch_tokens", "max_client_batch_size", "max_batch", "max_body_bytes", "max_queue"):
            if getattr(self, field) < 1:
                raise InputError(f"--{field.replace('_', '-')} must be at least 1, got {getattr(self, field)}")
        for field in ("request_timeout_s", "read_timeout_s"):
            if not getattr(self, field) > 0:
                raise InputError(
                    f"--{field[:-2].replace('_', '-')} must be above 0 seconds, got {getattr(self, field)}"
                )
        if self.max_wait_ms < 0:
            raise InputError(f"--max-wait-ms must be 0 or more, got {self.max_wait_ms}")
        if self.api_key is not None and not self.api_key:
            raise InputError("the API key is empty; give one, or none to serve without a key")
        return self

    def to_env(self) -> dict[str, str]:
        """BERTKIT_SERVE_* variables that `from_env` reads back (the key goes as BERTKIT_API_KEY)."""
        env = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None:
                name = API_KEY_ENV if field.name == "api_key" else ENV_PREFIX + field.name.upper()
                env[name] = str(value)
        return env

    @classmethod
    def from_env(cls, env=None) -> ServeSettings:
        env = os.environ if env is None else env
        values = {}
        for field in dataclasses.fields(cls):
            name = API_KEY_ENV if field.name == "api_key" else ENV_PREFIX + field.name.upper()
            if name not in env:
                continue
            raw = env[name]
            kind = type(field.default) if field.default is not None else str
            if field.name == "seq_length":
                kind = int
            try:
                values[field.name] = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
            except ValueError:
                raise InputError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
        return cls(**values).check()
