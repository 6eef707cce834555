"""Usage, --help and exit status 1 (PROTOCOL.md §4.2)."""
import pytest

SUBCOMMANDS = ["push", "pull", "request", "serve", "publish", "consume", "stats", "purge",
               "declare", "bench"]


def test_top_level_help_lists_every_subcommand(cli):
    r = cli.run("--help")
    assert r.returncode == 0, r.stderr
    for sub in SUBCOMMANDS:
        assert sub in r.stdout


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help_of_each_subcommand_exits_0_and_shows_usage(cli, sub):
    r = cli.run(sub, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout and sub in r.stdout
    assert r.stderr == ""


def test_no_subcommand_is_usage_error_with_hint(cli):
    r = cli.run()
    assert r.returncode == 1
    assert "--help" in r.stderr and r.stdout == ""


def test_unknown_subcommand_names_the_commands(cli):
    r = cli.run("pubish", "q")
    assert r.returncode == 1
    assert "pubish" in r.stderr and "publish" in r.stderr


def test_unknown_option_is_usage_error(cli):
    r = cli.run("pull", "tcp://127.0.0.1:1", "--frobnicate")
    assert r.returncode == 1
    assert "--frobnicate" in r.stderr and "courier pull --help" in r.stderr


def test_missing_required_argument_is_usage_error(cli):
    r = cli.run("request", "tcp://127.0.0.1:1")
    assert r.returncode == 1
    assert "json" in r.stderr.lower()


def test_bad_number_is_usage_error(cli):
    r = cli.run("pull", "tcp://127.0.0.1:1", "--count", "many")
    assert r.returncode == 1
    assert "--count" in r.stderr


def test_bad_timeout_names_the_accepted_form(cli):
    r = cli.run("pull", "tcp://127.0.0.1:1", "--timeout", "-3")
    assert r.returncode == 1
    assert "seconds" in r.stderr


def test_invalid_json_argument_says_how_to_quote(cli):
    r = cli.run("push", "tcp://127.0.0.1:1", "hello")
    assert r.returncode == 1
    assert "argument 1" in r.stderr and "'\"hello\"'" in r.stderr


def test_invalid_queue_name_is_usage_error(cli):
    r = cli.run("publish", "bad queue!", "1", "--proxy", "tcp://127.0.0.1:1")
    assert r.returncode == 1
    assert "queue name" in r.stderr


def test_serve_without_mode_says_to_add_echo(cli):
    r = cli.run("serve", "tcp://127.0.0.1:1")
    assert r.returncode == 1
    assert "--echo" in r.stderr


def test_bad_endpoint_is_usage_error(cli):
    r = cli.run("pull", "nonsense://x", "--timeout", "1")
    assert r.returncode == 1
    assert "nonsense://x" in r.stderr


def test_version(cli):
    r = cli.run("--version")
    assert r.returncode == 0 and r.stdout.strip()
