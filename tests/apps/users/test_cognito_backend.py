"""Cognito calls moto cannot serve (ResendConfirmationCode) and Cognito's error mapping,
checked with botocore's Stubber against the real client's request validation."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from apps.users import exceptions as exc
from apps.users.backends.aws import CognitoIdentityBackend
from project import aws
from project.errors import RateLimited


@pytest.fixture
def backend() -> CognitoIdentityBackend:
    return CognitoIdentityBackend(
        user_pool_id="us-east-1_Abc", client_id="client123", region_name="us-east-1"
    )


def test_resend_confirmation_asks_cognito_for_the_account(backend):
    with Stubber(backend.client) as stub:
        stub.add_response(
            "resend_confirmation_code",
            {"CodeDeliveryDetails": {"Destination": "a***@e***", "DeliveryMedium": "EMAIL"}},
            {"ClientId": "client123", "Username": "ana@example.com"},
        )
        backend.resend_confirmation(email="ana@example.com")
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("aws_code", "message", "error"),
    [
        ("TooManyRequestsException", "Rate exceeded", RateLimited),
        ("LimitExceededException", "Attempt limit exceeded", RateLimited),
        ("InvalidParameterException", "User is already confirmed.", exc.UserAlreadyConfirmed),
        (
            "NotAuthorizedException",
            "User cannot be confirmed. Current status is CONFIRMED",
            exc.UserAlreadyConfirmed,
        ),
        ("NotAuthorizedException", "User is disabled.", exc.UserDisabled),
        ("UserNotFoundException", "User does not exist.", exc.UserNotFound),
        ("InternalErrorException", "boom", exc.IdentityUnavailable),
    ],
)
def test_cognito_errors_become_nimbus_errors(backend, aws_code, message, error):
    with Stubber(backend.client) as stub:
        stub.add_client_error("resend_confirmation_code", aws_code, message)
        with pytest.raises(error):
            backend.resend_confirmation(email="ana@example.com")


@pytest.mark.parametrize(
    ("aws_code", "retry_after"),
    [
        ("TooManyRequestsException", 10),
        ("LimitExceededException", 900),
        ("TooManyFailedAttemptsException", 900),
    ],
)
def test_cognito_throttling_says_when_to_retry(backend, aws_code, retry_after):
    with Stubber(backend.client) as stub:
        stub.add_client_error("resend_confirmation_code", aws_code, "Attempt limit exceeded")
        with pytest.raises(RateLimited) as info:
            backend.resend_confirmation(email="ana@example.com")
    assert info.value.detail["retry_after"] == retry_after
    assert "try again in" in info.value.message
    assert "later" not in info.value.message


@pytest.mark.parametrize("aws_code", ["LimitExceededException", "TooManyFailedAttemptsException"])
@pytest.mark.parametrize("operation", ["confirm_sign_up", "confirm_forgot_password"])
def test_an_attempt_limit_spending_a_code_means_too_many_wrong_codes(backend, aws_code, operation):
    spend = {
        "confirm_sign_up": lambda: backend.confirm_sign_up(email="ana@example.com", code="123456"),
        "confirm_forgot_password": lambda: backend.confirm_forgot_password(
            email="ana@example.com", code="123456", new_password="Correct-horse-42"
        ),
    }[operation]
    with Stubber(backend.client) as stub:
        stub.add_client_error(
            operation, aws_code, "Attempt limit exceeded, please try after some time."
        )
        with pytest.raises(
            exc.CodeAttemptsExceeded, match="Too many wrong codes — ask for a new one"
        ):
            spend()


@pytest.fixture
def cognito_identity(settings, backend):
    """The site's identity backend is this Cognito backend (its client stubbed per test)."""
    from apps.users.backends import identity

    settings.NIMBUS_IDENTITY = {
        "default": {
            "BACKEND": "apps.users.backends.aws.CognitoIdentityBackend",
            "OPTIONS": {
                "user_pool_id": "us-east-1_Abc",
                "client_id": "client123",
                "region_name": "us-east-1",
            },
        }
    }
    return identity()


@pytest.mark.django_db
def test_after_wrong_codes_cognitos_expired_code_reads_too_many_wrong_codes(cognito_identity):
    """Cognito voids a code guessed wrong too often and then answers the right one with
    ExpiredCodeException ("Invalid code provided, please request a code again.")."""
    from apps.users import services

    with Stubber(cognito_identity.client) as stub:
        for _ in range(services.WRONG_CODES_BEFORE_VOID):
            stub.add_client_error("confirm_sign_up", "CodeMismatchException", "Invalid code")
        stub.add_client_error(
            "confirm_sign_up",
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.",
        )
        for _ in range(services.WRONG_CODES_BEFORE_VOID):
            with pytest.raises(exc.CodeInvalid):
                services.account_confirm(email="ana@example.com", code="000000")
        with pytest.raises(
            exc.CodeAttemptsExceeded, match="Too many wrong codes — ask for a new one"
        ):
            services.account_confirm(email="ana@example.com", code="123456")


@pytest.mark.django_db
def test_a_code_that_really_expired_still_says_so_and_a_new_code_starts_the_count_again(
    cognito_identity,
):
    from apps.users import services

    with Stubber(cognito_identity.client) as stub:
        stub.add_client_error(
            "confirm_forgot_password", "ExpiredCodeException", "Invalid code provided"
        )
        with pytest.raises(exc.CodeExpired):
            services.password_reset(
                email="ana@example.com", code="123456", new_password="Correct-horse-42-x"
            )
        for _ in range(services.WRONG_CODES_BEFORE_VOID):
            stub.add_client_error(
                "confirm_forgot_password", "CodeMismatchException", "Invalid code"
            )
        stub.add_response("forgot_password", {})
        stub.add_client_error(
            "confirm_forgot_password", "ExpiredCodeException", "Invalid code provided"
        )
        for _ in range(services.WRONG_CODES_BEFORE_VOID):
            with pytest.raises(exc.CodeInvalid):
                services.password_reset(
                    email="ana@example.com", code="000000", new_password="Correct-horse-42-x"
                )
        services.password_forgot(email="ana@example.com")  # a new code
        with pytest.raises(exc.CodeExpired):
            services.password_reset(
                email="ana@example.com", code="123456", new_password="Correct-horse-42-x"
            )


def test_a_challenge_is_refused_not_half_signed_in(backend):
    with Stubber(backend.client) as stub:
        stub.add_response(
            "initiate_auth",
            {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s" * 30, "ChallengeParameters": {}},
        )
        with pytest.raises(exc.CredentialsInvalid) as info:
            backend.sign_in(email="ana@example.com", password="x")
    assert info.value.code == "challenge_required"


def test_missing_pool_settings_are_a_system_check_error():
    errors = CognitoIdentityBackend(client_id="c").check()
    assert [e.id for e in errors] == ["users.E002"]


def test_boto3_is_not_imported_to_verify_a_token(backend):
    # The verifier and issuer need no client: building them must not create one.
    aws.clients_reset()
    backend.verifier()
    assert "_aws_clients" not in backend.__dict__
    assert "cognito-idp" not in aws.cached_services()


def test_the_client_is_the_backends_shared_per_thread_client():
    import threading

    backend = CognitoIdentityBackend(
        user_pool_id="us-east-1_Abc",
        client_id="client123",
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:9/",
    )
    client = backend.client
    assert client is backend.client
    assert client is backend.aws_client("cognito-idp")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:9/"
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(backend.client))
    thread.start()
    thread.join()
    assert other[0] is not client  # boto3 clients are not shared between threads


def test_region_name_defaults_to_none():
    assert CognitoIdentityBackend(user_pool_id="p", client_id="c").options["region_name"] is None


@pytest.mark.django_db
def test_the_confirm_pages_resend_says_when_cognito_lets_it_send_again(cognito_identity, client):
    with Stubber(cognito_identity.client) as stub:
        stub.add_client_error("resend_confirmation_code", "LimitExceededException", "Attempt limit")
        response = client.post("/accounts/confirm/", {"email": "ana@example.com", "resend": "1"})
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "Too many attempts; try again in 15 minutes." in response.content.decode()
