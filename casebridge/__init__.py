"""Casebridge project package.

Kept free of Django and Celery imports on purpose: `casebridge.lib` holds pure helpers
(canonical JSON, environment parsing) that the offline audit verifier imports on a machine
with nothing but `cryptography` installed. The Celery app is loaded by `CasebridgeConfig.ready()`.
"""
