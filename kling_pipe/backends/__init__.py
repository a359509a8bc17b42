"""Generation backends: where predictions are made. The scheduler sees only the protocol."""

from kling_pipe.backends.protocol import Backend, Prediction, Request

__all__ = ["Backend", "Prediction", "Request"]
