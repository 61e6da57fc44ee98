"""`python -m bench NAME [args]` runs one benchmark; `python -m bench all` runs each small."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit("usage: python -m bench NAME [args] | all")
    if argv[0] == "all":
        names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]))
        for name in names:
            mod = importlib.import_module(f"bench.{name}")
            print(json.dumps({"bench": name, **mod.main(list(getattr(mod, "SMALL", [])))}))
        return
    mod = importlib.import_module(f"bench.{argv[0]}")
    print(json.dumps({"bench": argv[0], **mod.main(argv[1:])}))


if __name__ == "__main__":
    main(sys.argv[1:])
