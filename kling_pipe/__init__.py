"""kling-pipe: declarative YAML pipelines for Kling video models on Replicate."""

__version__ = "0.1.0"
