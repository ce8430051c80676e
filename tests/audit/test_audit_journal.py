"""The audit log's journal: records acknowledged through it survive a log that lost its tail
(what a power cut does to page-cache writes), and nothing else in it is ever appended."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from appliance.chokepoint.audit import AuditLog, verify_file
from appliance.chokepoint.audit import journal as journal_module
from appliance.chokepoint.audit.journal import BLOCK, Journal, recover
from appliance.chokepoint.audit.seal import encode, seal

ENTRY = {"server": "filesystem", "tool": "read_file", "arguments": {"path": "/s/a"}}


@pytest.fixture(autouse=True)
def direct_io(tmp_path: Path) -> None:
    probe = Journal.create(tmp_path / "probe.journal", size=BLOCK)
    if probe is None:
        pytest.skip("this filesystem refuses O_DIRECT: the log falls back to fdatasync")
    probe.close(remove=True)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def power_cut(path: Path, keep: int, extra: bytes = b"") -> None:
    """The log as a power cut could leave it: its first ``keep`` lines (and maybe a piece of
    the next), the rest lost with the page cache. The journal is as the writer left it."""
    path.write_bytes(b"".join(line + b"\n" for line in lines(path)[:keep]) + extra)


def test_the_journal_lives_while_the_log_is_open_and_goes_when_it_closes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    journal = tmp_path / "audit.journal"
    assert journal.stat().st_size == journal_module.SIZE
    assert oct(journal.stat().st_mode & 0o777) == "0o600"
    record = log.append(ENTRY)
    # the line is in the journal, where the direct write put it, byte for byte
    assert lines(path)[-1] + b"\n" in journal.read_bytes()
    assert record["seq"] == 1
    log.close(mark_end=True)
    assert not journal.exists()
    assert verify_file(path).ended


def test_records_the_log_lost_are_recovered_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    for n in range(30):
        log.append({**ENTRY, "n": n})
    whole = path.read_bytes()
    power_cut(path, keep=12)  # header + 11 records; 19 acknowledged records lost
    resumed = AuditLog.open_existing(path)
    assert path.read_bytes() == whole
    assert resumed.append(ENTRY)["seq"] == 31
    resumed.close(mark_end=True)
    result = verify_file(path)
    assert result.ok and result.ended and result.entries == 32  # 30, 1, the end


def test_a_line_cut_in_half_is_replaced_by_the_journal_copy(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    for n in range(5):
        log.append({**ENTRY, "n": n})
    whole = path.read_bytes()
    power_cut(path, keep=4, extra=lines(path)[4][:30])
    assert recover(path) == 2
    assert path.read_bytes() == whole


def test_after_a_wrap_only_lines_that_continue_the_chain_come_back(
    tmp_path: Path, monkeypatch
) -> None:
    """A small journal wraps many times; old lines stay in it but continue nothing."""
    monkeypatch.setattr(journal_module, "SIZE", 2 * BLOCK)
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    for n in range(200):
        log.append({**ENTRY, "n": n, "pad": "x" * (n % 7) * 40})
    whole = path.read_bytes()
    journal = (tmp_path / "audit.journal").read_bytes()
    assert len(journal) == 2 * BLOCK and journal.count(b'"seq":') > 1
    newest = [json.loads(line)["seq"] for line in journal.split(b"\n") if line.startswith(b"{")]
    first_kept = min(n for n in newest if n >= max(newest) - 3)
    power_cut(path, keep=first_kept)  # lines up to first_kept - 1 survived, the rest lost
    assert recover(path) == 200 - first_kept + 1
    assert path.read_bytes() == whole


def test_a_record_bigger_than_the_journal_is_synced_in_the_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(journal_module, "SIZE", 2 * BLOCK)
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    syncs: list[int] = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    log.append({**ENTRY, "content": "y" * (3 * BLOCK)})
    assert syncs  # the log itself was synced for it
    syncs.clear()
    log.append(ENTRY)  # and the next small one goes through the journal again
    assert not syncs
    log.close(mark_end=True)
    assert verify_file(path).ended


def forged(prev: str, seq: int, **fields: object) -> bytes:
    record = {"v": 2, "type": "call", "seq": seq, "ts": "t", "sessionId": "s", **fields}
    line, _ = seal(encode({**record, "prev": prev}))
    return line


@pytest.mark.parametrize(
    "case",
    ["wrong prev", "broken seal", "skipped seq", "not json", "duplicate keys"],
)
def test_journal_lines_that_do_not_continue_the_log_are_never_appended(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    head = log.append(ENTRY)
    log.close()
    journal = tmp_path / "audit.journal"
    good = forged(head["hash"], head["seq"] + 1, tool="ok")
    bad = {
        "wrong prev": forged("0" * 64, head["seq"] + 1, tool="evil"),
        "broken seal": good.replace(b'"ok"', b'"ev"'),
        "skipped seq": forged(head["hash"], head["seq"] + 2, tool="evil"),
        "not json": b'{"seq": 2, "prev": "' + head["hash"].encode() + b'", ',
        "duplicate keys": good[:-1] + b',"tool":"evil"}',
    }[case]
    before = path.read_bytes()
    journal.write_bytes(bad + b"\n" + bytes(BLOCK))
    assert recover(path) == 0
    assert path.read_bytes() == before and not journal.exists()


def test_a_killed_writer_leaves_a_journal_that_resume_clears(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    log.append(ENTRY)
    before = path.read_bytes()  # the process dies here: the page cache kept every line
    resumed = AuditLog.open_existing(path)
    assert path.read_bytes() == before
    resumed.close(mark_end=True)
    assert not (tmp_path / "audit.journal").exists() and verify_file(path).ended


def test_format_1_logs_recover_by_line_hash(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "audit.jsonl"
    header = json.dumps({"type": "header", "v": 1, "seq": 0, "sessionId": "s", "prev": None})
    first = json.dumps({"v": 1, "type": "call", "seq": 1, "sessionId": "s",
                        "prev": hashlib.sha256(header.encode()).hexdigest()})  # fmt: skip
    second = json.dumps({"v": 1, "type": "call", "seq": 2, "sessionId": "s",
                         "prev": hashlib.sha256(first.encode()).hexdigest()})  # fmt: skip
    path.write_text(header + "\n")
    (tmp_path / "audit.journal").write_text(f"{second}\n{first}\n")
    assert recover(path) == 2
    assert path.read_text() == f"{header}\n{first}\n{second}\n"


def test_verify_names_the_journal_of_a_cut_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    log.append(ENTRY)
    power_cut(path, keep=1)
    result = verify_file(path, running=lambda _id: False)
    assert any("audit.journal is beside it" in note for note in result.notes), result
    log.close()


def test_every_acknowledged_record_survives_a_power_cut_under_concurrent_wraps(
    tmp_path: Path, monkeypatch
) -> None:
    """Eight writers, a journal that wraps every few records: cut the log back to what its
    last fdatasync made durable (all a power cut must leave) and recover: every record that
    append() returned for is back, in order, and the chain verifies."""
    import threading

    monkeypatch.setattr(journal_module, "SIZE", 2 * BLOCK)
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    durable = [path.stat().st_size]
    real = os.fdatasync

    def noted(fd: int) -> None:
        size = os.fstat(fd).st_size
        real(fd)
        durable.append(size)

    monkeypatch.setattr(os, "fdatasync", noted)
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(50):
            log.append({**ENTRY, "writer": n, "i": i, "pad": "z" * (i % 5) * 90})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    whole = path.read_bytes()
    assert len(durable) > 3  # it wrapped, several times
    path.write_bytes(whole[: durable[-1]])
    recover(path)
    assert path.read_bytes() == whole
    assert verify_file(path).entries == 400


def test_a_journal_that_is_a_symlink_is_refused_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    log.close()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not a journal")
    (tmp_path / "audit.journal").symlink_to(elsewhere)
    with pytest.raises(OSError):
        recover(path)
    assert elsewhere.read_bytes() == b"not a journal"
    from appliance.chokepoint.audit import AuditWriteError

    with pytest.raises(AuditWriteError, match="cannot recover audit log"):
        AuditLog.open_existing(path)


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_journal_that_is_no_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """Variants of the planted journal: a FIFO (opening one would block the session forever)
    and a folder; resuming refuses both with a clear error, and a new log will not start."""
    import threading

    from appliance.chokepoint.audit import AuditWriteError

    path = tmp_path / "audit.jsonl"
    AuditLog.create(path, "s", {}, [], "p").close()
    planted = tmp_path / "audit.journal"
    os.mkfifo(planted) if kind == "fifo" else planted.mkdir()
    outcome: list[BaseException] = []

    def resume() -> None:
        try:
            AuditLog.open_existing(path)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=resume, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "resuming blocked on the planted journal"
    assert isinstance(outcome[0], AuditWriteError), outcome
    assert "cannot recover audit log" in str(outcome[0])
    assert planted.exists()  # nothing planted is removed or followed
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    os.mkfifo(fresh / "audit.journal") if kind == "fifo" else (fresh / "audit.journal").mkdir()
    with pytest.raises(AuditWriteError, match="cannot create the journal of audit log"):
        AuditLog.create(fresh / "audit.jsonl", "s", {}, [], "p")


def test_a_deferred_record_is_in_the_log_at_once_and_durable_with_the_next_sync(
    tmp_path: Path,
) -> None:
    """append(durable=False) (a call's record after its durable intent): the line is in the
    file at once (a killed process leaves it), and the next durable append carries it through
    the journal, so a power cut after that append loses neither."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    log.append({"type": "intent", "server": "filesystem", "tool": "write_file"})
    before = len(lines(path))
    log.append({**ENTRY, "n": 1}, durable=False)
    assert len(lines(path)) == before + 1  # written at once
    log.append({"type": "intent", "server": "filesystem", "tool": "write_file"})
    whole = path.read_bytes()
    power_cut(path, keep=before)  # the page cache lost both the deferred line and the next
    assert recover(path) == 2
    assert path.read_bytes() == whole


def test_a_deferred_record_a_power_cut_takes_leaves_its_durable_intent(tmp_path: Path) -> None:
    """A power cut before anything syncs the deferred record: it is gone, its intent is not
    (the call then shows as of unknown outcome, never as missing)."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog.create(path, "s", {}, [], "p")
    intent = log.append({"type": "intent", "server": "filesystem", "tool": "write_file"})
    kept = len(lines(path))
    log.append({**ENTRY, "intent": intent["seq"]}, durable=False)
    power_cut(path, keep=kept)
    assert recover(path) == 0  # nothing durable continues the chain past the intent
    assert json.loads(lines(path)[-1])["type"] == "intent"
