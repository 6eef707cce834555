"""A full disk under --data: PUTs get ERROR 503, the proxy keeps running, and
consumers and ACKs keep working (PROTOCOL.md §3.2, 503). Needs a small
filesystem: a tmpfs mounted for the test, so it runs as root only."""
import os
import subprocess

import pytest

BODY = b"x" * 200000


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24M", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): %s" % r.stderr.decode().strip())
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_answers_503_and_consumers_keep_working(proxies, connect, small_disk):
    p = proxies.start(data_dir=small_disk / "data")
    c = connect(p)
    q = "diskfull"
    stored = 0
    refused = None
    for i in range(200):                       # 200 x 200 kB cannot fit in 24 MB
        tag = 1000 + i
        c.send("PUT", {"q": q, "tag": tag}, BODY)
        m = c.recv()
        if m.cmd == "ERROR":
            refused = m.header
            break
        assert m.cmd == "CONFIRM" and m.header["tag"] == tag
        stored += 1
    assert refused is not None, "the disk never filled up"
    assert refused["code"] == 503 and refused.get("tag") == 1000 + stored, refused
    assert "disk" in refused["reason"]
    assert p.alive(), "the proxy must keep running on a full disk"

    # Consumers and ACKs keep working: everything stored is delivered.
    c.consume(q, credit=stored, batch=stored)
    got = []
    while len(got) < stored:
        m = c.expect("DELIVER")
        ids = m.header["d"] if "n" in m.header else [m.header["d"]]
        got.extend(ids)
        c.send("ACK", {"d": ids})
    c.send("CANCEL", {"q": q})
    c.expect("CANCELLED")
    c.ping()
    c.ping()
    # Drained, the journal reuses its freed pages: PUTs are taken again.
    assert c.put(q, BODY)["seq"] > 0
    assert p.alive()
