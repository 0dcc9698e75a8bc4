"""Operators' view of accounts: search, name, groups, disable/enable, sign out, delete,
resend confirmation.

Every change goes through :mod:`apps.users.services`, so it reaches the identity provider
(Cognito or the local one) as well as this database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.users import services
from apps.users.models import Profile, User
from project.errors import NimbusError


class ProfileInline(admin.StackedInline[Profile, User]):
    model = Profile
    can_delete = False
    extra = 0


@admin.register(User)
class UserAdmin(admin.ModelAdmin[User]):
    list_display = ["email", "name", "is_active", "email_verified", "is_staff", "date_joined"]
    search_fields = ["email", "name", "subject"]
    list_filter = ["is_active", "email_verified", "is_staff", "groups"]
    ordering = ["email"]
    fields = [
        "email",
        "name",
        "groups",
        "is_active",
        "email_verified",
        "is_staff",
        "is_superuser",
        "issuer",
        "subject",
        "date_joined",
        "last_login",
        "tokens_valid_after",
        "linked_sign_ins",
    ]
    # State the provider owns changes only through the actions, never by editing a field.
    readonly_fields = [
        "email",
        "is_active",
        "email_verified",
        "is_staff",
        "is_superuser",
        "issuer",
        "subject",
        "date_joined",
        "last_login",
        "tokens_valid_after",
        "linked_sign_ins",
    ]
    filter_horizontal = ["groups"]
    inlines = [ProfileInline]

    @admin.display(description="Linked sign-ins")
    def linked_sign_ins(self, obj: User) -> str:
        """Federated identities that sign in to the account (``IdentityLink``)."""
        links = obj.identity_links.order_by("created_at") if obj.pk else []
        return (
            ", ".join(
                f"{link.provider or 'identity'} ({link.subject}, {link.created_at:%Y-%m-%d})"
                for link in links
            )
            or "—"
        )

    actions = ["disable_accounts", "enable_accounts", "sign_out_everywhere", "resend_confirmation"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts are made by signing up with the provider

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change and "name" in form.changed_data:
            name = obj.name
            obj.name = form.initial.get("name", "")  # the stored one, until the provider agrees
            try:
                services.account_name_set(user=obj, name=name)
            except NimbusError as error:
                # The provider keeps the old name (and the next sign-in would copy it back).
                self.message_user(
                    request,
                    f"{obj}: the provider refused the name, which stays {obj.name!r}: "
                    f"{error.message}",
                    messages.ERROR,
                )
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        self._each(request, [obj], "Deleted", services.account_delete, quiet=True)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, "Deleted", services.account_delete, quiet=True)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if "groups" not in form.changed_data:
            return
        user = form.instance
        names = sorted(user.groups.values_list("name", flat=True))
        try:
            services.account_groups_set(user=user, groups=names)
        except NimbusError as error:
            # The provider keeps the old groups; say so rather than fail the whole save.
            self.message_user(
                request, f"{user}: the provider refused the groups: {error.message}", messages.ERROR
            )

    def _each(
        self,
        request: HttpRequest,
        queryset: Iterable[User],
        verb: str,
        fn: Any,
        *,
        quiet: bool = False,
    ) -> None:
        """Apply a service to each account; a refusal is reported and the rest go on.

        ``quiet``: Django's delete views say what they deleted themselves."""
        done = 0
        for user in list(queryset):
            try:
                fn(user=user)
                done += 1
            except NimbusError as error:  # an identity error, or the provider's throttling
                self.message_user(
                    request, f"{user}: {error.message} ({error.code})", messages.ERROR
                )
        if done and not quiet:
            self.message_user(request, f"{verb} {done} account(s).", messages.SUCCESS)

    @admin.action(description="Disable and sign out everywhere", permissions=["change"])
    def disable_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(
            request, queryset.exclude(pk=request.user.pk or 0), "Disabled", services.account_disable
        )

    @admin.action(description="Enable", permissions=["change"])
    def enable_accounts(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, "Enabled", services.account_enable)

    @admin.action(description="Sign out everywhere", permissions=["change"])
    def sign_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(request, queryset, "Signed out", services.account_sign_out)

    @admin.action(description="Resend the confirmation code", permissions=["change"])
    def resend_confirmation(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        def resend(*, user: User) -> None:
            services.account_resend_confirmation(email=user.email)

        self._each(request, queryset.filter(email_verified=False), "Sent a code to", resend)
