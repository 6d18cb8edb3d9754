"""Pure pieces of the benchmark: statistics, ratios, table rendering, toxic JSON, fd arithmetic."""

from __future__ import annotations

import resource

import pytest

from bench.proxies import Toxic
from bench.results import Check, Row, at_least, at_most, within
from bench.sections.common import ratio_summary
from bench.sections.concurrency import payload, possible_count
from bench.stats import Summary, paired_differences, paired_ratios, percentile
from bench.table import number, render, render_markdown


def test_percentile_is_nearest_rank() -> None:
    samples = list(range(1, 101))
    assert percentile(samples, 0.5) == 50
    assert percentile(samples, 0.99) == 99
    assert percentile(samples, 1.0) == 100
    assert percentile(samples, 0.0) == 1
    assert percentile([7.0], 0.99) == 7.0


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_percentile_rejects_fraction_outside_unit_interval(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0, 2.0], fraction)


def test_percentile_rejects_empty_samples() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 0.5)


def test_summary_reports_median_range_and_count() -> None:
    summary = Summary.of([3.0, 1.0, 2.0, 10.0, 4.0])
    assert summary == Summary(3.0, 1.0, 10.0, 5)
    assert summary.scaled(1000) == Summary(3000.0, 1000.0, 10000.0, 5)


def test_paired_helpers_pair_runs_and_refuse_mismatched_lengths() -> None:
    assert paired_differences([5.0, 7.0], [1.0, 2.0]) == [4.0, 5.0]
    assert paired_ratios([4.0, 9.0], [2.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError, match="references"):
        paired_ratios([1.0], [1.0, 2.0])


def test_ratio_summary_pairs_equal_runs_else_divides_medians() -> None:
    assert ratio_summary([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]) == Summary(2.0, 2.0, 2.0, 3)
    assert ratio_summary([10.0], [1.0, 5.0, 9.0]) == Summary(2.0, 2.0, 2.0, 1)
    assert ratio_summary([], [1.0]) is None


def test_checks_are_undecided_without_a_value() -> None:
    value = Summary.of([1.0])
    assert at_least(value, 0.5, "≥ 0.5").passed is True
    assert at_most(value, 0.5, "≤ 0.5").passed is False
    assert within(value, 0.99, 1.01, "±1 %").passed is True
    assert at_least(None, 0.5, "≥ 0.5").verdict == "n/a"


def test_table_shows_value_range_ratio_target_and_the_reason_for_a_missing_mode() -> None:
    measured = Row("throughput", "bulk", "embedded", "MB/s", value=Summary(1500.0, 1200.0, 1700.0, 5))
    measured.ratio, measured.ratio_of = Summary(0.8, 0.7, 0.9, 5), "÷ direct"
    measured.check = Check("≥ 0.70x direct", True)
    missing = Row("throughput", "bulk", "toxiproxy", "MB/s", note="toxiproxy absent")
    text = render([measured, missing])
    assert "[throughput]" in text
    assert "1,500 MB/s" in text and "1,200-1,700 (n=5)" in text
    assert "0.80x ÷ direct [0.70-0.90]" in text
    assert "PASS" in text
    assert "note: toxiproxy absent" in text
    markdown = render_markdown([measured, missing])
    assert markdown.splitlines()[0].startswith("| figure |")
    assert "toxiproxy absent" in markdown


def test_number_keeps_three_significant_figures() -> None:
    assert [number(v) for v in (1234.5, 56.78, 3.14159, 0.01234)] == ["1,234", "56.8", "3.14", "0.012"]


def test_whole_number_toxic_attributes_are_sent_as_json_integers() -> None:
    toxic = Toxic("latency", attributes={"latency": 50.0, "jitter": 0, "fraction": 0.5})
    assert toxic.json_attributes() == {"latency": 50, "jitter": 0, "fraction": 0.5}
    assert isinstance(toxic.json_attributes()["latency"], int)


def test_possible_count_leaves_room_for_two_descriptors_per_connection() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    count = possible_count(10_000)
    assert count <= 10_000
    if hard != resource.RLIM_INFINITY:
        assert 2 * count + 64 <= hard


def test_payloads_differ_per_connection_and_have_a_fixed_size() -> None:
    assert len(payload(0)) == len(payload(9_999)) == 256
    assert payload(1) != payload(2)


def test_suite_summary_line_is_pytests_last_outcome_line() -> None:
    from bench.sections.harness import summary_line

    assert summary_line("....\n..... [100%]\n233 passed in 19.52s\n") == "233 passed in 19.52s"
    assert summary_line("x\n==== 1 failed, 2 passed in 3.01s ====\n") == "1 failed, 2 passed in 3.01s"
