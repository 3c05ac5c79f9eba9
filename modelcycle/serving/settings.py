"""The model server's settings in one value, read from modelcycle.config (MODELCYCLE_SERVE_*)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from modelcycle.exceptions import InvalidInput


@dataclass(frozen=True)
class ServingSettings:
    max_batch_size: int = 64  # rows coalesced into one predict call
    max_batch_delay_ms: float = 2.0  # how long a busy server lets a batch fill; never the timeout
    request_timeout_s: float = 30.0  # queueing and predicting, then 504
    max_body_bytes: int = 16 << 20  # larger bodies get 413
    batching: bool = True  # False: each request predicted alone (--no-batching)
    refresh_interval_s: float = 5.0  # between looks at the store for a moved reference
    onnx_threads: int = 1  # onnxruntime threads per predict call

    def __post_init__(self):
        if not isinstance(self.max_batch_size, int) or self.max_batch_size < 1:
            raise InvalidInput(f"max_batch_size must be an integer >= 1; got {self.max_batch_size!r}.")
        if not self.max_batch_delay_ms >= 0:
            raise InvalidInput(f"max_batch_delay_ms must be >= 0; got {self.max_batch_delay_ms!r}.")
        if not self.request_timeout_s > 0:
            raise InvalidInput(f"request_timeout_s must be > 0; got {self.request_timeout_s!r}.")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes < 1:
            raise InvalidInput(f"max_body_bytes must be an integer >= 1; got {self.max_body_bytes!r}.")
        if not self.refresh_interval_s > 0:
            raise InvalidInput(f"refresh_interval_s must be > 0; got {self.refresh_interval_s!r}.")
        if not isinstance(self.onnx_threads, int) or self.onnx_threads < 1:
            raise InvalidInput(f"onnx_threads must be an integer >= 1; got {self.onnx_threads!r}.")

    @classmethod
    def from_env(cls, **overrides) -> ServingSettings:
        """The MODELCYCLE_SERVE_* settings of the environment, with ``overrides`` (None: not given)."""
        from modelcycle import config

        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidInput(f"Unknown serving setting {sorted(unknown)[0]!r}; the settings are "
                               f"{', '.join(f.name for f in fields(cls))}.")
        settings = cls(max_batch_size=config.serve_max_batch_size(),
                       max_batch_delay_ms=config.serve_max_batch_delay_ms(),
                       request_timeout_s=config.serve_request_timeout_s(),
                       max_body_bytes=config.serve_max_body_bytes(),
                       batching=config.serve_batching(),
                       refresh_interval_s=config.serve_refresh_interval_s(),
                       onnx_threads=config.serve_onnx_threads())
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})
