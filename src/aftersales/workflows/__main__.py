"""Print a shipped workflow as a mermaid diagram: ``python -m aftersales.workflows ticket``."""

from __future__ import annotations

import sys

from aftersales.exceptions import InvalidInput
from aftersales.workflows import SHIPPED, to_mermaid


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    names = args or sorted(SHIPPED)
    try:
        for name in names:
            sys.stdout.write(to_mermaid(name))
    except InvalidInput as error:
        sys.stderr.write(f"{error}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
