"""pushcap: explain why a docker push or pull to a private registry hangs, from a capture."""

__version__ = "0.1.0"
