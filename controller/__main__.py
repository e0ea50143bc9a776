"""`multus-controller` and `python -m controller`: parse the command line, run the operator.

`multus-controller uninstall ...` instead takes the controller's traces out of the cluster
(`controller.uninstall`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from controller.certificates import CertificateError
from controller.runner import run
from controller.settings import SettingsError, parse_settings
from controller.uninstall import main as uninstall
from multus import version
from multus.cni.errors import CNIError


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--version"]:
        print(f"multus-controller {version()}")
        return 0
    try:
        if arguments[:1] == ["uninstall"]:
            return uninstall(arguments[1:])
        run(parse_settings(arguments))
    except (SettingsError, CertificateError, CNIError) as error:
        print(f"multus-controller: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
