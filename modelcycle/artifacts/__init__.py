"""Content-addressed blobs over fsspec: a local folder by default, any fsspec URL (s3://...)."""

from modelcycle.artifacts.blobs import BlobStore

__all__ = ["BlobStore"]
