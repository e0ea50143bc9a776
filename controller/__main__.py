"""`multus-controller` and `python -m controller`: parse the command line, run the operator."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from controller.certificates import CertificateError
from controller.runner import run
from controller.settings import SettingsError, parse_settings
from multus.cni.errors import CNIError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = parse_settings(sys.argv[1:] if argv is None else argv)
        run(settings)
    except (SettingsError, CertificateError, CNIError) as error:
        print(f"multus-controller: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
