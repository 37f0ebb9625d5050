"""The conventions every service uses: typed configuration, keys, JSON logs, packaging."""

from __future__ import annotations

import asyncio
import http
import io
import json
import logging
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dolmen.ring as dolmen_ring
import dolmen.storage_node as dolmen_storage_node
import pytest

import dolmen
from dolmen import logs
from dolmen.config import load_config
from dolmen.errors import ConfigError
from dolmen.keys import (
    derive_key,
    key_fingerprint,
    placement_key,
    read_or_create_secret,
    read_secret,
    request_signing_key,
)
from dolmen.logs import configure_logging, log_request, request_id_var


@dataclass(frozen=True, kw_only=True)
class Limits:
    queue_entries_max: int = 16


@dataclass(frozen=True, kw_only=True)
class ExampleConfig:
    """[example] in example.toml."""

    name: str
    devices_dir: Path = Path("/srv/dolmen")
    node_timeout_s: float = 3.0
    verbose: bool = False
    devices: list[str] = field(default_factory=list)
    reserve_bytes: int | None = None
    limits: Limits = field(default_factory=Limits)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "example.toml"
    path.write_text(text)
    return path


def test_config_reads_types_defaults_nested_tables_and_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[example]\nname = "n1"\ndevices-dir = "srv"\nnode_timeout_s = 2\ndevices = ["d1", "d2"]\n'
        "[example.limits]\nqueue_entries_max = 4\n",
    )
    config = load_config(path, ExampleConfig, section="example")
    assert config == ExampleConfig(
        name="n1",
        devices_dir=(tmp_path / "srv").resolve(),
        node_timeout_s=2.0,
        devices=["d1", "d2"],
        limits=Limits(queue_entries_max=4),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[example]\nname = "n"\nnode_timout_s = 1\n', "unknown key 'example.node_timout_s'"),
        ('[example]\nname = "n"\nnode_timeout_s = "fast"\n', "'example.node_timeout_s' must be a number"),
        ('[example]\nname = "n"\nverbose = 1\n', "'example.verbose' must be true or false"),
        ('[example]\nname = "n"\ndevices = ["a", 2]\n', "'example.devices[1]' must be a string"),
        ("[example]\n", "missing required key 'example.name'"),
        ('[example]\nname = "n"\n[example.limits]\nqueue = 1\n', "unknown key 'example.limits.queue'"),
        ('[other]\nname = "n"\n', "unknown table or key 'other'"),
        ("[example\n", "not valid TOML"),
    ],
)
def test_config_refuses_to_start_with_the_file_the_key_and_what_was_expected(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path, ExampleConfig, section="example")
    assert message in str(error.value) and str(path) in str(error.value)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml", ExampleConfig)


def test_keys_are_derived_per_purpose_and_fingerprints_reveal_nothing_reusable() -> None:
    secret = b"s" * 32
    assert placement_key(secret) == placement_key(secret)
    assert placement_key(secret) != derive_key(secret, "something-else")
    assert request_signing_key(secret, 1) != request_signing_key(secret, 2)
    assert key_fingerprint(placement_key(secret)) != key_fingerprint(placement_key(b"t" * 32))
    assert placement_key(secret).hex() not in key_fingerprint(placement_key(secret))


def test_secret_files_are_private_created_once_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "cluster.secret"
    first = read_or_create_secret(path)
    assert read_or_create_secret(path) == first
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_text("abcd\n")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        read_secret(path)


def test_log_lines_are_json_with_the_request_id_and_no_secrets() -> None:
    stream = io.StringIO()
    configure_logging("test-service", stream=stream)
    token = request_id_var.set("tx123")
    try:
        logging.getLogger("dolmen.test").info("request", extra={"status": 201, "token": "gAAAA-secret"})
    finally:
        request_id_var.reset(token)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"] == "request" and line["status"] == 201
    assert line["request_id"] == "tx123" and line["service"] == "test-service"
    assert line["token"] == "<redacted>"


REQUEST_LOGGER = "dolmen.test_logs.server"


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., io.StringIO]]:
    """configure_logging into a StringIO, undone after the test (with what the test did to its loggers).

    Call it in the test's body: pytest adds its capture handlers to the root logger at each phase,
    and configure_logging replaces them, as a service's start does."""
    root = logging.getLogger()
    root_level = root.level
    monkeypatch.setattr(logs, "_configured_handler", None)

    def configure(level: str = "info") -> io.StringIO:
        stream = io.StringIO()
        configure_logging("test-service", level=level, stream=stream)
        return stream

    yield configure
    if logs._configured_handler is not None:
        root.removeHandler(logs._configured_handler)
    root.setLevel(root_level)
    logging.disable(logging.NOTSET)
    for name in (REQUEST_LOGGER, REQUEST_LOGGER.rpartition(".")[0]):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.filters.clear()
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
        logger.propagate = True


def log_one_request(named: dict[str, Any] | None = None, **fields: object) -> None:
    values: dict[str, Any] = {
        "method": "PUT",
        "path": "/d1/3/AUTH_test/c/ünïcödé ☃",
        "status": 201,
        "bytes_in": 4300,
        "bytes_out": 0,
        "started_s": 99.75,
    }
    log_request(logging.getLogger(REQUEST_LOGGER), **(values | (named or {})), **fields)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def log_one_request_both_ways(
    monkeypatch: pytest.MonkeyPatch,
    stream: io.StringIO,
    named: dict[str, Any] | None = None,
    **fields: object,
) -> list[str]:
    """The lines of one request written directly, then through logger.info (forced by a filter passing all)."""
    clock = types.SimpleNamespace(
        time=lambda: 1_700_000_000.1234567, time_ns=lambda: 1_700_000_000_123_456_700, monotonic=lambda: 100.0
    )
    monkeypatch.setattr(logs, "time", clock)  # the line's duration and (direct path) time
    monkeypatch.setattr(logging, "time", clock)  # LogRecord's time
    logger = logging.getLogger(REQUEST_LOGGER)
    token = request_id_var.set("tx" + "0" * 32)
    try:
        assert logs._sole_handler(logger) is logs._configured_handler  # the direct path
        log_one_request(named, **fields)
        logger.addFilter(lambda record: True)
        assert logs._sole_handler(logger) is None  # logger.info
        log_one_request(named, **fields)
    finally:
        request_id_var.reset(token)
    return stream.getvalue().splitlines(keepends=True)


def test_request_lines_written_directly_are_byte_identical_to_those_through_logger_info(
    json_lines: Callable[..., io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {
        "api": "s3",
        "Authorization": "AWS4-HMAC-SHA256 sig",
        "_private": 1,
        "remote": None,
        "nested": {"é": [1.5, b"x"]},
    }
    direct, through_logger_info = log_one_request_both_ways(monkeypatch, json_lines(), **fields)
    assert direct == through_logger_info
    assert direct == (
        '{"time": 1700000000.123457, "level": "info", "service": "test-service", "logger": "dolmen.test_logs.server", '
        '"event": "request", "request_id": "tx00000000000000000000000000000000", "method": "PUT", '
        '"path": "/d1/3/AUTH_test/c/ünïcödé ☃", "status": 201, "bytes_in": 4300, "bytes_out": 0, "duration_ms": 250.0, '
        '"api": "s3", "Authorization": "<redacted>", "remote": null, "nested": {"é": [1.5, "b\'x\'"]}}\n'
    )


STDERR_SCRIPT = """
import asyncio, logging, os, sys, time
from dolmen.logs import configure_logging, log_request
configure_logging("stderr-test")
server = logging.getLogger("stderr_test.server")
async def main():
    for _ in range(3):
        log_request(server, method="GET", path="/", status=200, bytes_in=0, bytes_out=0, started_s=0.0)
    print(os.fstat(2).st_size, flush=True)
    await asyncio.sleep(0)  # the end of the loop's turn
    print(os.fstat(2).st_size, flush=True)
asyncio.run(main())
logging.getLogger("stderr_test").warning("after")
"""


def test_request_lines_reach_standard_error_once_per_turn_of_the_loop_and_other_records_at_once(
    tmp_path: Path,
) -> None:
    errors = tmp_path / "stderr.log"
    with errors.open("wb") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", STDERR_SCRIPT],
            stdout=subprocess.PIPE,
            stderr=stderr,
            check=True,
            text=True,
        )
    before_the_turn_ended, after = (int(size) for size in done.stdout.split())
    lines = errors.read_text().splitlines()
    assert before_the_turn_ended == 0  # sys.stderr would have written each line at once
    assert after == len("\n".join(lines[:3])) + 1
    assert [json.loads(line)["event"] for line in lines] == ["request", "request", "request", "after"]


@pytest.mark.parametrize(
    "named",
    [
        {"status": http.HTTPStatus.CREATED},  # an int subclass
        {"status": "201"},
        {"bytes_in": True},
        {"method": None},
        {"path": '\udcff "quoted"\n\t'},  # a lone surrogate (undecodable bytes passed on), escapes
        {"started_s": float("inf")},  # duration_ms -inf
    ],
)
def test_request_lines_of_unusual_values_are_byte_identical_on_both_paths(
    json_lines: Callable[..., io.StringIO], monkeypatch: pytest.MonkeyPatch, named: dict[str, Any]
) -> None:
    direct, through_logger_info = log_one_request_both_ways(monkeypatch, json_lines(), named, error="E")
    assert direct == through_logger_info
    assert direct.endswith(', "error": "E"}\n')


def test_request_lines_are_flushed_once_per_turn_of_the_running_loop(
    json_lines: Callable[..., io.StringIO],
) -> None:
    stream = json_lines()
    flushed: list[str] = []
    stream.flush = lambda: flushed.append(stream.getvalue())  # type: ignore[method-assign]
    log_one_request()  # no running loop: at once
    assert flushed == [stream.getvalue()] and stream.getvalue().count("\n") == 1

    async def three_requests_in_one_turn() -> list[str]:
        flushed.clear()
        for _ in range(3):
            log_one_request()
        unflushed = list(flushed)
        await asyncio.sleep(0)  # the loop's next turn
        return unflushed

    assert asyncio.run(three_requests_in_one_turn()) == []
    assert flushed == [stream.getvalue()] and stream.getvalue().count("\n") == 4
    # A loop that is gone with its flush pending does not hold back the next one's lines.
    flushed.clear()
    loop = asyncio.new_event_loop()

    async def log_in_the_last_turn() -> None:
        loop.stop()  # this turn is the last: the flush it schedules never runs
        log_one_request()

    loop.run_until_complete(log_in_the_last_turn())
    loop.close()
    assert flushed == []
    log_one_request()
    assert flushed == [stream.getvalue()] and stream.getvalue().count("\n") == 6


def test_request_fields_that_repeat_a_key_of_the_line_replace_its_value_in_place_on_both_paths(
    json_lines: Callable[..., io.StringIO], monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {"duration_ms": "given", "event": "given", "time": "given", "token": "given"}
    direct, through_logger_info = log_one_request_both_ways(monkeypatch, json_lines(), **fields)
    assert direct == through_logger_info
    assert list(json.loads(direct).items())[:7] == [
        ("time", "given"),
        ("level", "info"),
        ("service", "test-service"),
        ("logger", REQUEST_LOGGER),
        ("event", "given"),
        ("request_id", "tx" + "0" * 32),
        ("method", "PUT"),
    ]
    assert list(json.loads(direct).items())[-2:] == [("duration_ms", "given"), ("token", "<redacted>")]


@pytest.mark.parametrize("where", ["root", "parent", "logger"])
def test_request_lines_reach_any_handler_added_after_configure_logging(
    json_lines: Callable[..., io.StringIO], where: str
) -> None:
    stream = json_lines()
    collect = Collect()
    logger_name = {"root": "", "parent": REQUEST_LOGGER.rpartition(".")[0], "logger": REQUEST_LOGGER}[where]
    logging.getLogger(logger_name).addHandler(collect)
    try:
        log_one_request(error="NoSuchKey")
    finally:
        logging.getLogger(logger_name).removeHandler(collect)
    [record] = collect.records
    assert record.getMessage() == "request" and record.__dict__["error"] == "NoSuchKey"
    assert json.loads(stream.getvalue())["error"] == "NoSuchKey"


def test_caplog_sees_request_lines_when_its_handler_is_on_the_root(
    json_lines: Callable[..., io.StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    json_lines()
    logging.getLogger().addHandler(caplog.handler)
    log_one_request()
    assert [record.__dict__["status"] for record in caplog.records] == [201]


@pytest.mark.parametrize(
    "change",
    [
        "logger filter",
        "handler filter",
        "logger level",
        "root level",
        "handler level",
        "logging.disable",
        "logger disabled",
    ],
)
def test_request_lines_honour_filters_levels_and_disabling(
    json_lines: Callable[..., io.StringIO], change: str
) -> None:
    stream = json_lines(level="warning" if change == "root level" else "info")
    logger = logging.getLogger(REQUEST_LOGGER)
    handler = logs._configured_handler
    assert handler is not None
    refuse_all: Callable[[logging.LogRecord], bool] = lambda record: False  # noqa: E731
    if change == "logger filter":
        logger.addFilter(refuse_all)
    elif change == "handler filter":
        handler.addFilter(refuse_all)
    elif change == "logger level":
        logger.setLevel(logging.WARNING)
    elif change == "handler level":
        handler.setLevel(logging.WARNING)
    elif change == "logging.disable":
        logging.disable(logging.INFO)
    elif change == "logger disabled":
        logger.disabled = True
    log_one_request()
    assert stream.getvalue() == ""


@pytest.mark.parametrize("field_name", ["name", "created", "message"])
def test_a_request_field_named_like_a_log_record_attribute_is_refused_as_logger_info_refuses_it(
    json_lines: Callable[..., io.StringIO], field_name: str
) -> None:
    stream = json_lines()
    with pytest.raises(KeyError, match="Attempt to overwrite"):
        log_one_request(**{field_name: "x"})
    assert stream.getvalue() == ""


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


@pytest.mark.parametrize("path", ["direct", "logger.info"])
def test_a_request_line_that_cannot_be_written_is_reported_on_stderr_not_raised(
    json_lines: Callable[..., io.StringIO], capsys: pytest.CaptureFixture[str], path: str
) -> None:
    json_lines()
    handler = logs._configured_handler
    assert handler is not None
    handler.setStream(BrokenStream())
    if path == "logger.info":
        logging.getLogger(REQUEST_LOGGER).addFilter(lambda record: True)
    log_one_request()
    error = capsys.readouterr().err
    assert (
        "--- Logging error ---" in error and "OSError: disk full" in error and "Message: 'request'" in error
    )


def test_the_tests_run_against_the_installed_package_when_ci_says_so() -> None:
    if os.environ.get("DOLMEN_EXPECT_INSTALLED") != "1":
        pytest.skip("only `./dev test` (and CI) run against the installed wheel")
    for module in (dolmen, dolmen_ring, dolmen_storage_node):
        assert "site-packages" in str(module.__file__), module.__file__
