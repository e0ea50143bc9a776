"""The log line formats (our JSON, upstream's plain text) and the rotation of a log file as upstream's
`logOptions` ask: by size, into timestamped backups, gzipped, the oldest removed by number and age."""

from __future__ import annotations

import datetime
import gzip
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from multus.logfile import RotatingLogFile
from multus.logs import MEGABYTE, Rotation, configure, fields, get_logger
from multus.plugin import handle

log = get_logger("test")
TEXT_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)) \[(\w+)\] (.*)")


@pytest.fixture(autouse=True)
def _default_logging() -> Iterator[None]:
    yield
    configure()


def finish_rotations() -> None:
    for thread in threading.enumerate():
        if thread.name == "log-rotation":
            thread.join()


def test_the_text_format_is_upstreams_line_with_the_fields_after_it(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    configure("debug", path, to_stderr=False, log_format="text")
    log.info("request", extra=fields(command="ADD", pod="ns/web", ms=1.5, error='bad "x"\nsecond line'))
    log.debug("plain")
    log.warning("careful")
    log.error("failed")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("internal error", extra=fields(command="DEL"))

    lines = path.read_text().splitlines()
    assert len(lines) == 5  # one line per event, the traceback's included
    matches = [TEXT_LINE.fullmatch(line) for line in lines]
    assert all(matches), lines
    stamp = datetime.datetime.fromisoformat(matches[0][1])  # type: ignore[index]
    assert abs((datetime.datetime.now(datetime.UTC) - stamp).total_seconds()) < 60
    assert [(match[2], match[3].split(" ")[0]) for match in matches] == [  # type: ignore[index]
        ("verbose", "request"),
        ("debug", "plain"),
        ("warning", "careful"),
        ("error", "failed"),
        ("error", "internal"),
    ]
    assert lines[0].endswith(' request command=ADD pod=ns/web ms=1.5 error="bad \\"x\\"\\nsecond line"')
    assert (
        ' internal error command=DEL error=boom traceback="Traceback (most recent call last):\\n' in lines[4]
    )


def test_the_json_format_stays_the_default(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    configure("verbose", path, to_stderr=False)
    log.info("request", extra=fields(command="ADD"))
    entry = json.loads(path.read_text())
    assert (entry["level"], entry["msg"], entry["command"]) == ("info", "request", "ADD")


def write_lines(count: int) -> list[str]:
    """`count` numbered lines of about 1 KB each, logged; their messages."""
    messages = [f"line {number:06d} " + "x" * 1000 for number in range(count)]
    for message in messages:
        log.error(message)
    finish_rotations()
    return messages


def logged(path: Path) -> list[str]:
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    return [json.loads(line)["msg"] for line in text.splitlines()]


def test_a_log_file_is_rotated_by_size_compressed_and_pruned_by_number_and_age(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    rotation = Rotation(max_megabytes=1, max_backups=2, max_age_days=3, compress=True)
    handler = RotatingLogFile(path, rotation)
    old = handler.backup_name(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=4))
    old.with_name(old.name + ".gz").write_bytes(gzip.compress(b"old\n"))
    unrelated = tmp_path / "multus-notes.log"
    unrelated.write_text("kept")
    handler.close()
    configure("error", path, to_stderr=False, rotation=rotation)

    messages = write_lines(3500)  # about 3.5 MB: three rotations

    backups = [backup for _, backup in RotatingLogFile(path, rotation).backups()]
    assert len(backups) == 2, backups  # the 4 days old one and the oldest of the three are gone
    assert all(
        re.fullmatch(r"multus-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log\.gz", b.name) for b in backups
    )
    assert unrelated.read_text() == "kept"
    assert path.stat().st_size < MEGABYTE + 2000
    # What is kept is the end of what was written, in order, nothing lost between the files.
    kept = logged(backups[1]) + logged(backups[0]) + logged(path)
    assert kept == messages[-len(kept) :]
    assert len(kept) > 2000


def test_without_compression_and_limits_every_backup_stays_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    rotation = Rotation(max_megabytes=1, max_backups=0, max_age_days=0, compress=False)
    handler = RotatingLogFile(path, rotation)
    ancient = handler.backup_name(datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC))
    ancient.write_text('{"msg": "ancient"}\n')
    handler.close()
    configure("error", path, to_stderr=False, rotation=rotation)

    messages = write_lines(2500)

    backups = [backup for _, backup in RotatingLogFile(path, rotation).backups()]
    assert len(backups) == 3
    assert backups[-1] == ancient
    assert [backup.suffix for backup in backups] == [".log"] * 3
    assert logged(backups[1]) + logged(backups[0]) + logged(path) == messages


def test_the_size_is_upstreams_default_when_not_given(tmp_path: Path) -> None:
    handler = RotatingLogFile(tmp_path / "multus.log", Rotation(max_megabytes=0))
    assert handler.maxBytes == 100 * MEGABYTE
    handler.close()
    assert logging.getLogger("multus").handlers  # configure() left alone


def test_the_in_process_plugin_takes_the_log_format_and_rotation_of_its_config(tmp_path: Path) -> None:
    path = tmp_path / "multus.log"
    config = {
        "cniVersion": "1.0.0",
        "name": "multus-cni-network",
        "type": "multus",
        "logFile": str(path),
        "logToStderr": False,
        "logFormat": "text",
        "logOptions": {"maxSize": 1, "compress": False},
        "clusterFolder": str(tmp_path / "cluster"),  # the file-backed view: no pods in it
        "clusterNetwork": "cluster",
    }
    environ = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/var/run/netns/absent",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(tmp_path),
        "CNI_ARGS": "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=web",
    }
    (tmp_path / "cluster").mkdir()

    reply, status = handle(environ, json.dumps(config).encode())

    assert (status, reply) == (1, {"cniVersion": "1.0.0", "code": 3, "msg": "pod ns/web not found"})
    [line] = path.read_text().splitlines()
    match = TEXT_LINE.fullmatch(line)
    assert match is not None, line
    expected = 'request failed command=ADD container=c1 error="pod ns/web not found"'
    assert match.group(2, 3) == ("error", expected)
    handler = next(h for h in logging.getLogger("multus").handlers if isinstance(h, RotatingLogFile))
    assert (handler.maxBytes, handler.rotation.compress) == (MEGABYTE, False)
