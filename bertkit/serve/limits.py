"""What one request may hold; the server answers 413 beyond it (`bertkit serve --help` shows them)."""

MAX_TEXTS = 256  # texts per request
MAX_BODY_BYTES = 1 << 20  # 1 MiB of JSON per request
