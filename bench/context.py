"""Run configuration (full vs ``--quick``) and the drivers a run measures through."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.proxies import DirectDriver, Driver, EmbeddedDriver, ToxiproxyDriver, find_toxiproxy

MODES = ("direct", "toxiproxy", "embedded")
MiB = 1024 * 1024


@dataclass(frozen=True)
class Config:
    """Sizes and repetitions; the full values are the brief's, ``quick()`` only proves the machinery."""

    runs: int = 5
    bulk_bytes: int = 512 * MiB
    warmup_bytes: int = 32 * MiB
    round_trips: int = 10_000
    round_trip_warmup: int = 200
    connections: int = 2_000
    idle_seconds: float = 1.0  # window of the proxies' idle-CPU figure
    latency_ms: float = 50.0
    latency_round_trips: int = 200
    bandwidth_rate: int = 1024  # Toxiproxy units: 1000 bytes per second
    bandwidth_bytes: int = 4 * MiB
    concurrent_counts: tuple[int, ...] = (1_000, 10_000)
    concurrent_runs: int = 5
    concurrent_latency_ms: float = 5.0
    fixture_starts: int = 200
    suite_runs: int = 5
    budget_s: float = 285.0  # whole-bench wall time the suite's repeats must fit in (the brief: < 5 min)
    quick: bool = False

    @classmethod
    def quick_config(cls) -> Config:
        return cls(
            runs=1,
            bulk_bytes=4 * MiB,
            warmup_bytes=1 * MiB,
            round_trips=200,
            round_trip_warmup=20,
            connections=50,
            idle_seconds=0.1,
            latency_ms=5.0,
            latency_round_trips=10,
            bandwidth_bytes=64 * 1024,
            concurrent_counts=(50,),
            concurrent_runs=1,
            fixture_starts=10,
            suite_runs=0,
            quick=True,
        )


@dataclass
class Context:
    config: Config
    drivers: dict[str, Driver] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # mode -> why it is not measured
    toxiproxy_binary: str | None = None
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True)
    started: float = field(default_factory=time.monotonic)

    def time_left(self) -> float:
        """Seconds left of ``config.budget_s`` since the run started."""
        return self.started + self.config.budget_s - time.monotonic()

    def available(self, modes: tuple[str, ...] = MODES) -> list[str]:
        return [mode for mode in modes if mode in self.drivers]

    def start_drivers(self, toxiproxy: str | None) -> None:
        """Start each proxy; one that cannot start is recorded as missing and the rest still run."""
        self.drivers["direct"] = DirectDriver()
        binary = find_toxiproxy(toxiproxy)
        self.toxiproxy_binary = binary
        if binary is None:
            where = toxiproxy or "--toxiproxy, $TOXIPROXY_SERVER, PATH"
            self.missing["toxiproxy"] = f"Toxiproxy server not found ({where})"
        else:
            try:
                self.drivers["toxiproxy"] = ToxiproxyDriver(binary)
            except Exception as exc:
                self.missing["toxiproxy"] = f"Toxiproxy did not start: {exc}"
        try:
            self.drivers["embedded"] = EmbeddedDriver()
        except Exception as exc:
            self.missing["embedded"] = f"embedded engine unavailable: {exc}"

    def close(self) -> None:
        for driver in self.drivers.values():
            driver.close()
        self.drivers.clear()

    def timed(self, what: str) -> Callable[[], None]:
        """Log ``what`` now; the returned callable logs how long it took."""
        start = time.monotonic()
        self.log(f"bench: {what} ...")
        return lambda: self.log(f"bench: {what} done in {time.monotonic() - start:.1f} s")
