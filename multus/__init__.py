"""A Multus-compatible CNI meta-plugin: extra network interfaces for Kubernetes pods.

Layers, lowest first (a test enforces the import direction):

- `multus.cni`: the CNI specification: versions, configs, results, errors, running delegate plugins.
- `multus.k8s`: NPWG annotations, NetworkAttachmentDefinition resolution, network-status, API access.
- `multus.netns`: what the meta-plugin does in a pod's network namespace itself (pyroute2).
- `multus` (orchestrator) and its entry points: the in-process CLI and the node daemon.
- `multus.shim`: the tiny client the container runtime execs; it imports nothing of the project.
"""


def version() -> str:
    """The installed package's version (pyproject.toml), for `--version`."""
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415  only `--version` pays for it
    from importlib.metadata import version as installed  # noqa: PLC0415

    try:
        return installed("multus-py")
    except PackageNotFoundError:
        return "unknown"
