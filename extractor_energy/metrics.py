"""Prometheus metrics (one registry per app, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


OTHER_KEY = "other"


def key_label(key: str, has_adapter: bool) -> str:
    """The ``key`` label of a request: keys with an adapter or of a known utility, else ``other``
    (so junk names in requests cannot create unbounded series)."""
    from extractor_energy.domain.keys import KNOWN_UTILITIES, InvalidKey, parse_key

    if key == "-" or has_adapter:
        return key
    try:
        return key if parse_key(key).concessionaria in KNOWN_UTILITIES else OTHER_KEY
    except InvalidKey:
        return OTHER_KEY


class Metrics:
    """Every metric the service exports at ``GET /metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("extractor_requests", "Extraction requests by HTTP status and key", ["status", "key"], registry=r)
        self.queue_depth = Gauge("extractor_queue_depth", "Requests waiting for the inference worker", registry=r)
        self.batch_size = Histogram(
            "extractor_batch_size", "Requests per generate call", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r
        )
        self.adapters_per_batch = Histogram(
            "extractor_adapters_per_batch", "Distinct adapters (base counts as one) per generate call",
            buckets=(1, 2, 4, 8, 16), registry=r,
        )
        self.queue_wait = Histogram("extractor_queue_wait_seconds", "Time from accept to batch start", buckets=_LATENCY_BUCKETS, registry=r)
        self.preprocess = Histogram("extractor_preprocess_seconds", "Decode + processor time per request", buckets=_LATENCY_BUCKETS, registry=r)
        self.generation = Histogram("extractor_generation_seconds", "generate() time per batch", buckets=_LATENCY_BUCKETS, registry=r)
        self.latency = Histogram("extractor_request_seconds", "End-to-end /extract latency", buckets=_LATENCY_BUCKETS, registry=r)
        self.tokens = Counter("extractor_generated_tokens", "Tokens generated", registry=r)
        self.adapter_loads = Counter("extractor_adapter_loads", "Adapter versions loaded into the model", registry=r)
        self.adapter_unloads = Counter("extractor_adapter_unloads", "Adapter versions removed from the model", ["reason"], registry=r)
        self.adapter_errors = Counter("extractor_adapter_errors", "Adapter folders that failed validation or loading", registry=r)
        self.rejected = Counter("extractor_rejected", "Requests refused before inference", ["reason"], registry=r)
        self.rows_stopped = Counter(
            "extractor_rows_stopped", "Batch rows stopped mid-generation: their request timed out or the client left", registry=r
        )
