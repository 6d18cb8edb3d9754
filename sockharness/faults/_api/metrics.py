"""``/metrics``: the engine's counters in the Prometheus text format (``prometheus-client``).

Toxiproxy's two counters, with its names and label names, so dashboards built for
``toxiproxy-server -proxy-metrics`` read this engine unchanged:
``toxiproxy_proxy_received_bytes_total`` and ``toxiproxy_proxy_sent_bytes_total`` labelled
``direction`` (upstream: client to server), ``listener``, ``proxy`` and ``upstream``; plus gauges of live
connections and of refused ones. Values are read from the engine at scrape time (a custom collector), so
the relay's data path never touches a metrics lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from sockharness.faults._engine.toxics import STREAMS

if TYPE_CHECKING:
    from sockharness.faults._engine.engine import FaultEngine

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
LABELS = ["direction", "listener", "proxy", "upstream"]


class EngineCollector(Collector):
    """Collects one engine's byte counters and connection gauges when scraped."""

    def __init__(self, engine: FaultEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "toxiproxy_proxy_received_bytes", "Bytes the proxy read, per direction", labels=LABELS
        )
        sent = CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes", "Bytes the proxy wrote, per direction", labels=LABELS
        )
        live = GaugeMetricFamily(
            "sockharness_proxy_connections", "Live proxied connections", labels=["proxy", "listener"]
        )
        refused = CounterMetricFamily(
            "sockharness_proxy_refused_connections",
            "Clients accepted and closed at once: the proxy's connection cap or the descriptor budget",
            labels=["proxy", "listener"],
        )
        for name, proxy in sorted(self.engine.proxies().items()):
            counts = proxy.byte_counts()
            for stream in STREAMS:
                labels = [stream, proxy.listen, name, proxy.upstream]
                received.add_metric(labels, counts[stream][0])
                sent.add_metric(labels, counts[stream][1])
            live.add_metric([name, proxy.listen], self.engine.reactor.call(proxy.connection_count))
            refused.add_metric([name, proxy.listen], proxy.refused_connections)
        yield received
        yield sent
        yield live
        yield refused


def metrics_exposition(engine: FaultEngine) -> bytes:
    """The text a Prometheus scrape of ``engine`` gets."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    return generate_latest(registry)


__all__ = ["METRICS_CONTENT_TYPE", "EngineCollector", "metrics_exposition"]
