"""A hard per-test time limit for the black-box suites: no test may hang CI."""
import signal

import pytest


def time_limit_hook(seconds):
    """Returns a pytest_runtest_call hook that fails a test after `seconds`."""
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        def on_alarm(signum, frame):
            raise TimeoutError("test exceeded %d s" % seconds)
        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    return pytest_runtest_call
