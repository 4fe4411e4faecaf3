"""The fixed list of audited actions. An action outside this list is a programming error."""

from __future__ import annotations

from django.db import models


class Action(models.TextChoices):
    # authentication and accounts
    LOGIN = "auth.login", "Login"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    MFA_FAILED = "auth.mfa_failed", "One-time code refused"
    MFA_ENROLLED = "auth.mfa_enrolled", "MFA enrolled"
    LOCKOUT = "auth.lockout", "Account locked"
    LOGOUT = "auth.logout", "Logout"
    SESSION_EXPIRED = "auth.session_expired", "Session expired"
    TOKEN_CREATE = "token.create", "API token created"
    TOKEN_REVOKE = "token.revoke", "API token revoked"
    USER_CREATE = "user.create", "User created"
    USER_UPDATE = "user.update", "User changed"
    USER_ROLE_CHANGE = "user.role_change", "Role changed"
    USER_DEACTIVATE = "user.deactivate", "User deactivated"
    USER_LIST = "user.list", "Users listed"
    ACCESS_DENIED = "access.denied", "Access refused"
    # audit log itself
    AUDIT_VIEW = "audit.view", "Audit log viewed"
    AUDIT_EXPORT = "audit.export", "Audit log exported"
    AUDIT_VERIFY = "audit.verify", "Audit log verified"
    AUDIT_PROOF = "audit.proof", "Audit proof served"
    CHECKPOINT_COSIGN = "audit.cosign", "Checkpoint cosigned"
    # hash sets
    HASHSET_CREATE = "hashset.create", "Hash set created"
    HASHSET_VIEW = "hashset.view", "Hash set viewed"
    HASHSET_IMPORT = "hashset.import", "Hash set imported"
    HASHSET_EXPORT = "hashset.export", "Hash set exported"
    HASHSET_UPDATE = "hashset.update", "Hash set changed"
    HASHSET_PUBLISH = "hashset.publish", "Hash set published"
    HASH_LOOKUP = "hash.lookup", "Hash lookup"
    HASH_MATCH_PDQ = "hash.match_pdq", "PDQ near-match search"
    CLASSIFICATION_CREATE = "classification.create", "Classification recorded"
    # cases
    CASE_CREATE = "case.create", "Case created"
    CASE_VIEW = "case.view", "Case viewed"
    CASE_LIST = "case.list", "Cases listed"
    CASE_SEARCH = "case.search", "Cases searched"
    CASE_UPDATE = "case.update", "Case changed"
    CASE_MEMBER_CHANGE = "case.member_change", "Case members changed"
    NOTE_CREATE = "note.create", "Note added"
    NOTE_UPDATE = "note.update", "Note changed"
    TASK_CREATE = "task.create", "Task created"
    TASK_UPDATE = "task.update", "Task changed"
    EVIDENCE_ADD = "evidence.add", "Evidence added"
    EVIDENCE_VIEW = "evidence.view", "Evidence viewed"
    EVIDENCE_CLASSIFY = "evidence.classify", "Evidence classified"
    LEAD_CREATE = "lead.create", "Lead created"
    LEAD_VIEW = "lead.view", "Lead viewed"
    LEAD_UPDATE = "lead.update", "Lead changed"
    DECONFLICTION_HIT = "deconfliction.hit", "Deconfliction hit"
    # exchange and keys
    KEY_CREATE = "key.create", "Key created"
    KEY_ROTATE = "key.rotate", "Key rotated"
    KEY_REVOKE = "key.revoke", "Key revoked"
    PARTNER_ADD = "partner.add", "Partner added"
    PARTNER_VERIFY = "partner.verify", "Partner verified"
    AGREEMENT_CHANGE = "agreement.change", "Sharing agreement changed"
    SHARE_REQUEST = "share.request", "Share requested"
    SHARE_APPROVE = "share.approve", "Share approved"
    BUNDLE_SEND = "bundle.send", "Bundle sent"
    BUNDLE_RECEIVE = "bundle.receive", "Bundle received"
    BUNDLE_APPLY = "bundle.apply", "Bundle applied"
    BUNDLE_REJECT = "bundle.reject", "Bundle rejected"
    # cases (added with the cases issue)
    CASE_EXPORT = "case.export", "Case data exported"
    ATTACHMENT_ADD = "attachment.add", "Attachment added"
    ATTACHMENT_VIEW = "attachment.view", "Attachment downloaded"
    LEAD_LIST = "lead.list", "Leads listed"
    SHARE_REJECT = "share.reject", "Share rejected"
    IDENTIFIER_ADD = "identifier.add", "Target identifier added"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"
