"""`bertkit serve`: a model behind HTTP routes (`app`), with micro-batching (`batching`)."""

from bertkit.serve.app import Server, make_server
from bertkit.serve.batching import MicroBatcher, Overloaded

__all__ = ["MicroBatcher", "Overloaded", "Server", "make_server"]
