"""Writes for agencies, users, logins, accounts and API tokens. Each function is one audited
transaction. Split by subject; everything is importable from `agencies.services`."""

from __future__ import annotations

from agencies.services.login import (
    AccountLocked,
    LoginAttempt,
    login_attempt_reserve,
    login_failure_record,
    login_failure_summaries_write,
    login_locked_until,
    login_success_record,
    logout_record,
    totp_device_confirm,
    totp_device_start,
)
from agencies.services.users import (
    TOKEN_PREFIX,
    IssuedToken,
    NewUser,
    agency_create,
    api_token_create,
    api_token_revoke,
    token_hash,
    user_create,
    user_mfa_reset,
    user_role_change,
    user_set_active,
)

__all__ = [
    "TOKEN_PREFIX",
    "AccountLocked",
    "IssuedToken",
    "LoginAttempt",
    "NewUser",
    "agency_create",
    "api_token_create",
    "api_token_revoke",
    "login_attempt_reserve",
    "login_failure_record",
    "login_failure_summaries_write",
    "login_locked_until",
    "login_success_record",
    "logout_record",
    "token_hash",
    "totp_device_confirm",
    "totp_device_start",
    "user_create",
    "user_mfa_reset",
    "user_role_change",
    "user_set_active",
]
