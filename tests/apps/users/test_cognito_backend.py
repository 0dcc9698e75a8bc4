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
