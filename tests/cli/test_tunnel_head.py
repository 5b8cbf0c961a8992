"""Where the tunnel splits a hijacked response's head from the output behind it."""

from __future__ import annotations

from docklord.cli._tunnel import HijackHead

HEAD = (
    b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
    b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
)
EARLIER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


def test_the_head_is_found_behind_an_earlier_response_and_in_one_piece_with_output() -> None:
    head = HijackHead()
    assert head.feed(EARLIER) is None
    assert head.feed(HEAD + b"output") == len(HEAD)
    # The connection is raw bytes now: nothing after the head is searched.
    assert head.feed(HEAD + b"more") is None


def test_a_head_split_anywhere_is_found_where_it_ends() -> None:
    stream = EARLIER + HEAD + b"output"
    for cut in range(1, len(EARLIER) + len(HEAD)):
        head = HijackHead()
        first = head.feed(stream[:cut])
        if cut >= len(EARLIER) + len(HEAD):
            continue
        assert first is None, cut
        assert head.feed(stream[cut:]) == len(EARLIER) + len(HEAD) - cut, cut


def test_a_head_ending_exactly_with_a_message_holds_the_next() -> None:
    head = HijackHead()
    assert head.feed(HEAD) == len(HEAD)
    assert head.feed(b"output") is None
