"""`bertkit serve`: a model behind OpenAI- and text-embeddings-inference-compatible HTTP routes.

`app` (the FastAPI app: `create_app`, `app_from_env`), `routes` and `schemas` (the APIs' shapes),
`work` (what the model is asked), `batching` (the token-budget batcher), `middleware` (API key,
body cap, read timeout), `errors` (the APIs' error shapes), `metrics` (Prometheus), `limits`
(defaults and `ServeSettings`). Nothing is imported here, so that `bertkit --help` reads the
limits without loading the model stack: `from bertkit.serve.app import create_app`.
"""
