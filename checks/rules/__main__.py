"""``python -m checks.rules``: write ``docs/rules.md`` from the rule classes."""

from __future__ import annotations

import sys

from . import PAGE, page


def main() -> int:
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(page(), encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
