"""The fetch command's HTTP client against a replay server on 127.0.0.1: the User-Agent, retries
on 429/5xx/broken connections with Retry-After honoured, giving up, size limits, the interval."""

from __future__ import annotations

import email.utils
import itertools
import re

import pytest
from replay_server import ReplayServer, Reply, dead_url

from generator.fetch.client import Client, FetchError, Politeness, retry_after_seconds, user_agent


def make_client(waits: list[float], **settings: float) -> Client:
    """A client whose waits are recorded instead of slept (the interval is 0 unless given)."""
    politeness = Politeness(**{"backoff": 1.0, "attempts": 4, "timeout": 5.0, **settings})  # type: ignore[arg-type]
    return Client(politeness, sleep=waits.append)


def test_user_agent_names_the_project_its_version_and_url() -> None:
    waits: list[float] = []
    with ReplayServer() as server:
        server.add("/x", Reply(b"ok"))
        make_client(waits).get(server.url + "/x")
    sent = server.requests[0].headers["User-Agent"]
    assert sent == user_agent()
    assert re.fullmatch(r"paper-digest/\S+ \(\+https://\S+\)", sent), sent


def test_429_and_503_are_retried_after_the_wait_the_server_asks_for() -> None:
    waits: list[float] = []
    with ReplayServer() as server:
        server.add(
            "/x",
            Reply(b"slow down", 429, (("Retry-After", "7"),)),
            Reply(b"busy", 503, (("Retry-After", "2"),)),
            Reply(b"the answer"),
        )
        answer = make_client(waits).get(server.url + "/x", {"date": "2025-06-02"})
    assert (answer.status, answer.body) == (200, b"the answer")
    assert waits == [7.0, 2.0]
    assert [r.query for r in server.requests] == [{"date": ["2025-06-02"]}] * 3


def test_without_retry_after_the_backoff_doubles() -> None:
    waits: list[float] = []
    with ReplayServer() as server:
        server.add("/x", Reply(b"", 500), Reply(b"", 502), Reply(b"", 504), Reply(b"ok"))
        assert make_client(waits, backoff=1.5).get(server.url + "/x").body == b"ok"
    assert waits == [1.5, 3.0, 6.0]


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_gives_up_after_the_attempts_with_one_line_naming_the_url() -> None:
    waits: list[float] = []
    with ReplayServer() as server:
        server.add("/x", Reply(b"down", 503))
        with pytest.raises(FetchError) as caught:
            make_client(waits, attempts=3).get(server.url + "/x")
    assert len(server.requests) == 3
    assert waits == [1.0, 2.0]
    assert str(caught.value) == f"{server.url}/x: HTTP 503 Service Unavailable (gave up after 3 attempts)"


def test_a_retry_after_too_long_fails_at_once() -> None:
    with ReplayServer() as server:
        server.add("/x", Reply(b"", 429, (("Retry-After", "3600"),)), Reply(b"ok"))
        with pytest.raises(FetchError, match="asks to wait 3600 s"):
            make_client([]).get(server.url + "/x")
    assert len(server.requests) == 1


def test_a_dead_server_is_retried_then_fails() -> None:
    waits: list[float] = []
    url = dead_url()
    with pytest.raises(FetchError) as caught:
        make_client(waits, attempts=2).get(url + "/x")
    message = str(caught.value)
    assert message.startswith(f"{url}/x: connection failed (")
    assert "Connection refused" in message
    assert message.endswith("(gave up after 2 attempts)")
    assert "\n" not in message
    assert waits == [1.0]


def test_a_body_that_breaks_off_is_retried() -> None:
    body = b'[{"paper": {"id": "2202.12139"}}]'
    waits: list[float] = []
    with ReplayServer() as server:
        server.add("/x", Reply(body, truncate=10), Reply(body))
        assert make_client(waits).get(server.url + "/x").body == body
    assert len(server.requests) == 2
    assert waits == [1.0]


def test_a_body_that_always_breaks_off_fails() -> None:
    with ReplayServer() as server:
        server.add("/x", Reply(b"x" * 1000, truncate=500))
        with pytest.raises(FetchError, match=r"the answer broke off .*gave up after 2 attempts"):
            make_client([], attempts=2).get(server.url + "/x")


def test_an_answer_over_the_limit_is_refused() -> None:
    with ReplayServer() as server:
        server.add("/x", Reply(b"x" * 1000))
        with pytest.raises(FetchError, match="1000 bytes, over the limit of 999"):
            make_client([], max_bytes=999).get(server.url + "/x")
        assert make_client([], max_bytes=1000).get(server.url + "/x").body == b"x" * 1000


def test_other_statuses_are_handed_back_without_retrying() -> None:
    waits: list[float] = []
    with ReplayServer() as server:
        server.add("/x", Reply(b"bad request", 400))
        answer = make_client(waits).get(server.url + "/x")
    assert (answer.status, answer.body, waits, len(server.requests)) == (400, b"bad request", [], 1)


def test_requests_to_one_host_are_an_interval_apart() -> None:
    """Measured on the server's clock: each request arrives at least `interval` after the previous
    answer was sent, retries included."""
    interval = 0.25
    with ReplayServer() as server:
        server.add("/x", Reply(b"", 503), Reply(b"ok"))
        server.add("/y", Reply(b"ok"))
        client = Client(Politeness(interval=interval, backoff=0.0, attempts=3))
        client.get(server.url + "/x")
        client.get(server.url + "/y")
        client.get(server.url + "/y")
    times = [r.at for r in server.requests]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= interval for gap in gaps), gaps
