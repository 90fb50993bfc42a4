"""`bertkit serve`: a model behind HTTP routes (`app`), with micro-batching (`batching`).

Nothing is imported here, so that `bertkit --help` can read the request limits (`limits`)
without loading the model stack: `from bertkit.serve.app import make_server`.
"""
