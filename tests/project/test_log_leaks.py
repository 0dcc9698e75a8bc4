"""The session-wide guarantee that no log line carries a token, password or secret."""

from __future__ import annotations

import logging

from tests.conftest import find_leaks

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEyMyJ9.c2lnbmF0dXJlLXZhbHVl"


def test_the_leak_check_recognises_tokens_passwords_and_known_values():
    lines = [
        '{"message": "ok"}',
        f'{{"message": "token {JWT}"}}',
        '{"message": "Authorization: Bearer abcdefgh12345"}',
        '{"password": "hunter2"}',
        '{"message": "the value s3cr3t-value shows"}',
        '{"password": "[REDACTED]", "message": "Bearer [REDACTED]"}',
    ]
    assert find_leaks(lines, {"s3cr3t-value"}) == lines[1:5]


def test_log_lines_of_the_session_pass_through_the_redacting_filter(log_lines, never_logged):
    never_logged("plain-secret-value-42")
    logging.getLogger("nimbus.test").warning(
        "signed in with %s and password=plain-secret-value-42", JWT, extra={"token": JWT}
    )
    (line,) = [line for line in log_lines.lines if "signed in with" in line]
    assert find_leaks([line], {"plain-secret-value-42"}) == []
    assert '"token": "[REDACTED]"' in line
