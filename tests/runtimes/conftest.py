"""The runtime tests' share of the other suites' fixtures: the e2e tests' API client and namespaces, and
the native shim the thick-mode tests build."""

from tests.e2e.conftest import api_client, namespace  # noqa: F401 - fixtures, found by name
from tests.e2e.daemon.conftest import native_shim  # noqa: F401 - a fixture, found by name
