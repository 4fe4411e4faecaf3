"""Regression tests for the findings of the insider-proof trust review (issue 13), one module per
finding or group, each test named after its finding (test_c1_..., test_h2_..., test_m4_...).

Fixtures shared by several modules live here; a fixture that one module uses stays in that module.
"""

from __future__ import annotations
