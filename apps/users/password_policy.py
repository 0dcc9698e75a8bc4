"""The password policy, in one place: the local provider, the forms and the Cognito user
pool the infra generator emits all read :data:`PASSWORD_POLICY`.

The dict uses Cognito's ``PasswordPolicy`` keys so the infra generator can pass it through
unchanged (``Policies={"PasswordPolicy": PASSWORD_POLICY}``).
"""

from __future__ import annotations

from typing import Any

from apps.users.exceptions import PasswordTooWeak

PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 8,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": True,
    "TemporaryPasswordValidityDays": 7,
}

#: The characters Cognito counts as symbols.
SYMBOLS = frozenset("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")


def password_problems(password: str) -> list[str]:
    """What is wrong with ``password`` under the policy (empty when it is acceptable)."""
    problems = []
    if len(password) < PASSWORD_POLICY["MinimumLength"]:
        problems.append(f"at least {PASSWORD_POLICY['MinimumLength']} characters")
    if PASSWORD_POLICY["RequireUppercase"] and not any(c.isupper() for c in password):
        problems.append("an upper-case letter")
    if PASSWORD_POLICY["RequireLowercase"] and not any(c.islower() for c in password):
        problems.append("a lower-case letter")
    if PASSWORD_POLICY["RequireNumbers"] and not any(c.isdigit() for c in password):
        problems.append("a digit")
    if PASSWORD_POLICY["RequireSymbols"] and not any(c in SYMBOLS for c in password):
        problems.append("a symbol")
    return problems


def password_validate(*, password: str) -> None:
    """Raise :class:`PasswordTooWeak` listing every unmet rule."""
    problems = password_problems(password)
    if problems:
        raise PasswordTooWeak("The password needs " + ", ".join(problems) + ".", problems=problems)


class PolicyPasswordValidator:
    """Django ``AUTH_PASSWORD_VALIDATORS`` entry enforcing the same policy."""

    def validate(self, password: str, user: Any = None) -> None:
        password_validate(password=password)

    def get_help_text(self) -> str:
        return (
            f"At least {PASSWORD_POLICY['MinimumLength']} characters with an upper-case "
            "letter, a lower-case letter, a digit and a symbol."
        )
