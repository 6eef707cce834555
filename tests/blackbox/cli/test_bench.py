"""`courier bench`: a short run of each mode prints a sane summary."""
import json


def check(summary, count):
    assert summary["count"] == count
    assert summary["msgs_per_s"] > 0 and summary["mb_per_s"] > 0
    lat = summary["latency_us"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]


def test_bench_pipeline_json(cli):
    r = cli.run("bench", "pipeline", "--count", 2000, "--size", 64, "--json")
    assert r.returncode == 0, r.stderr
    check(json.loads(r.stdout), 2000)


def test_bench_request_text(cli):
    r = cli.run("bench", "request", "--count", 300, "--window", 4)
    assert r.returncode == 0, r.stderr
    assert "msgs/s" in r.stdout and "MB/s" in r.stdout and "p99.9" in r.stdout


def test_bench_proxy_json(cli, proxy, qname):
    r = cli.run("bench", "proxy", "--proxy", proxy.endpoint, "--queue", qname(), "--count", 300,
                "--json", timeout=60)
    assert r.returncode == 0, r.stderr
    check(json.loads(r.stdout), 300)


def test_bench_unknown_mode_is_usage_error(cli):
    assert cli.run("bench", "warp").returncode == 1
