"""Forms of the account pages; the provider does the real checking (services)."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.users.password_policy import PolicyPasswordValidator

_POLICY_HELP = PolicyPasswordValidator().get_help_text()


def _password(label: str, *, autocomplete: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        max_length=256,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class SignInEmailField(forms.EmailField):
    """Email addresses are sign-in names: compared lower-cased everywhere."""

    def to_python(self, value: Any) -> str:
        return str(super().to_python(value)).strip().lower()


def _email(autofocus: bool = True) -> forms.EmailField:
    attrs = {"autocomplete": "email"}
    if autofocus:
        attrs["autofocus"] = "autofocus"
    return SignInEmailField(
        label="Email address", max_length=254, widget=forms.EmailInput(attrs=attrs)
    )


def _code() -> forms.CharField:
    return forms.CharField(
        label="Code from the email",
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class _NewPasswordMixin(forms.Form):
    """Two entries of a new password that must match."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("new_password") != data.get("new_password2"):
            self.add_error("new_password2", "The two passwords differ.")
        return data


class SignUpForm(forms.Form):
    email = _email()
    name = forms.CharField(
        label="Your name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = _password("Password", autocomplete="new-password", help_text=_POLICY_HELP)


class ConfirmForm(forms.Form):
    email = _email(autofocus=False)
    code = _code()


class ResendForm(forms.Form):
    email = _email(autofocus=False)


class SignInForm(forms.Form):
    email = _email()
    password = _password("Password", autocomplete="current-password")


class ForgotForm(forms.Form):
    email = _email()


class SignInLinkForm(forms.Form):
    email = _email(autofocus=False)


class ResetForm(_NewPasswordMixin):
    email = _email(autofocus=False)
    code = _code()
    new_password = _password("New password", autocomplete="new-password", help_text=_POLICY_HELP)
    new_password2 = _password("New password again", autocomplete="new-password")


class ChangePasswordForm(_NewPasswordMixin):
    old_password = _password("Current password", autocomplete="current-password")
    new_password = _password("New password", autocomplete="new-password", help_text=_POLICY_HELP)
    new_password2 = _password("New password again", autocomplete="new-password")


class SettingsForm(forms.Form):
    name = forms.CharField(
        label="Your name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    timezone = forms.CharField(label="Time zone", max_length=64, required=False)
    email_notifications = forms.BooleanField(
        label="Email me about my files",
        required=False,
        help_text="An e-mail when a file is approved or rejected; each one has an unsubscribe link.",
    )
