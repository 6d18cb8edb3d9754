"""Transcripts: ordered, timestamped, capped, and rendered for failure messages."""

from __future__ import annotations

from sockharness.peers import Transcript


def test_records_in_order_with_monotonic_times():
    transcript = Transcript("conn")
    transcript.record_event("accepted")
    transcript.record_in(b"ping")
    transcript.record_out(b"pong")
    events = transcript.events
    assert [e.direction for e in events] == ["event", "in", "out"]
    assert [e.t for e in events] == sorted(e.t for e in events)
    assert transcript.received() == b"ping"
    assert transcript.sent() == b"pong"
    assert transcript.texts() == ["accepted"]
    assert len(transcript) == 3
    assert transcript[1].data == b"ping"


def test_storage_is_capped_but_sizes_stay_exact():
    transcript = Transcript("big", max_stored_bytes=10)
    transcript.record_in(b"a" * 8)
    transcript.record_in(b"b" * 8)
    assert transcript.received() == b"a" * 8 + b"bb"
    assert transcript.bytes_received() == 16
    assert not transcript.complete
    assert transcript[1].truncated


def test_render_shows_label_offsets_directions_and_previews():
    transcript = Transcript("srv#1 127.0.0.1:1 -> 127.0.0.1:2")
    transcript.record_event("accepted from 127.0.0.1:1")
    transcript.record_in(b"x" * 100)
    text = str(transcript)
    assert text.startswith("transcript srv#1 127.0.0.1:1 -> 127.0.0.1:2 (2 events):")
    assert "event  accepted from 127.0.0.1:1" in text
    assert "in     b'xxxx" in text and "... (100 bytes)" in text
    assert " ms " in text
