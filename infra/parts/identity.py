"""Cognito: user pool (the users app's password policy), app client, groups, hosted UI."""

from __future__ import annotations

from troposphere import GetAtt, If, Join, NoValue, Ref, Sub, awslambda, cognito

from infra.context import Stack
from infra.parts import federation

GROUPS = {"operators": "Operators reach the Django admin."}
TRIGGERS = ("PreSignUp", "PostConfirmation", "PreTokenGeneration")


def add_user_pool(stack: Stack) -> None:
    function = stack.alias_arn()
    stack.add(
        cognito.UserPool(
            "UserPool",
            UserPoolName=stack.prefix,
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            DeletionProtection="ACTIVE" if stack.inputs.stage == "prod" else "INACTIVE",
            Policies=cognito.Policies(
                PasswordPolicy=cognito.PasswordPolicy(**dict(stack.inputs.password_policy))
            ),
            AccountRecoverySetting=cognito.AccountRecoverySetting(
                RecoveryMechanisms=[cognito.RecoveryOption(Name="verified_email", Priority=1)]
            ),
            AdminCreateUserConfig=cognito.AdminCreateUserConfig(AllowAdminCreateUserOnly=False),
            # Triggers point at the function only once it exists (second deploy).
            LambdaConfig=If(
                "FunctionReady",
                cognito.LambdaConfig(**{trigger: function for trigger in TRIGGERS}),
                NoValue,
            ),
        ),
        name="UserPool",
    )
    stack.add(
        awslambda.Permission(
            "UserPoolInvoke",
            Condition="FunctionReady",
            FunctionName=stack.alias_name(),
            Action="lambda:InvokeFunction",
            Principal="cognito-idp.amazonaws.com",
            SourceArn=GetAtt("UserPool", "Arn"),
        )
    )
    callback = Join("", [stack.named["SiteUrl"], "/accounts/callback/"])
    stack.add(
        cognito.UserPoolClient(
            "UserPoolClient",
            ClientName=f"{stack.prefix}-web",
            UserPoolId=Ref("UserPool"),
            GenerateSecret=False,
            ExplicitAuthFlows=[
                "ALLOW_USER_PASSWORD_AUTH",
                "ALLOW_USER_SRP_AUTH",
                "ALLOW_REFRESH_TOKEN_AUTH",
            ],
            PreventUserExistenceErrors="ENABLED",
            EnableTokenRevocation=True,
            AllowedOAuthFlowsUserPoolClient=True,
            AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid", "email", "profile"],
            SupportedIdentityProviders=federation.supported_identity_providers(),
            CallbackURLs=[callback],
            LogoutURLs=[Join("", [stack.named["SiteUrl"], "/"])],
            AccessTokenValidity=60,
            IdTokenValidity=60,
            RefreshTokenValidity=30,
            TokenValidityUnits=cognito.TokenValidityUnits(
                AccessToken="minutes", IdToken="minutes", RefreshToken="days"
            ),
        )
    )
    for group, description in GROUPS.items():
        stack.add(
            cognito.UserPoolGroup(
                f"UserPoolGroup{group.capitalize()}",
                GroupName=group,
                Description=description,
                UserPoolId=Ref("UserPool"),
            )
        )
    stack.add(
        cognito.UserPoolDomain(
            "UserPoolDomain",
            UserPoolId=Ref("UserPool"),
            # Hosted-UI prefixes are global: the account id keeps ours unique.
            Domain=Sub(f"{stack.prefix}-${{AWS::AccountId}}"),
        )
    )
    stack.export_env("COGNITO_USER_POOL_ID", Ref("UserPool"), "Cognito user pool id")
    stack.export_env("COGNITO_CLIENT_ID", Ref("UserPoolClient"), "Cognito app client id")
    stack.export_env("COGNITO_REGION", Ref("AWS::Region"), "Cognito's region")
    issuer = Sub("https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}")
    stack.export_env("COGNITO_ISSUER", issuer, "Issuer (iss) of the pool's tokens")
    stack.export_env(
        "COGNITO_JWKS_URL",
        Sub(
            "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/${UserPool}/.well-known/jwks.json"
        ),
        "The pool's signing keys",
    )
    stack.export_env(
        "COGNITO_HOSTED_UI_DOMAIN",
        Sub(f"{stack.prefix}-${{AWS::AccountId}}.auth.${{AWS::Region}}.amazoncognito.com"),
        "Cognito hosted UI domain",
    )
