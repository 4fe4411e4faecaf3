"""``python -m audit.verify``: see audit.verify."""

from __future__ import annotations

import sys

from audit.verify.cli import main

sys.exit(main())
