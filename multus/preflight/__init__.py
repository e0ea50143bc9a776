"""`multusctl preflight`: what will behave differently when a cluster running upstream Multus v4.3 (thick)
switches to multus-py, found before anything is changed.

`gather` reads the cluster: upstream's daemon ConfigMap (`kube-system/multus-daemon-config`, key
`daemon-config.json`), the NetworkAttachmentDefinitions and pods of every namespace (or of those asked
for) and the nodes' container runtimes. `findings` judges that, with the node's CNI conf dir (its
primary config and the `00-multus.conf` upstream wrote), by the rules multus-daemon and the meta-plugin
apply themselves (`multus.daemon.settings`, `multus.daemon.nodeconfig`, `multus.k8s`), and lists one
`Finding` per difference:

- error: breaks after the switch (the daemon does not start, a pod cannot start or loses networks);
- warning: works, differently;
- note: for information; it changes nothing that runs now.

Modules: `gather` (the cluster read into a `Snapshot`), `checks` (`findings`: every check in one list),
the checks by subject, `daemon_config` (its keys and their meaning), `networks` (NADs and pods),
`node_config` (the conf dir and the runtimes' libcni) and `metrics`; `finding` (`Finding`, `Severity`,
the report).
"""

from multus.preflight.checks import findings
from multus.preflight.finding import Finding, Severity, changes, report
from multus.preflight.gather import (
    DEFAULT_CONFIG_KEY,
    DEFAULT_CONFIG_MAP,
    PreflightError,
    Snapshot,
    Sources,
    gather,
)

__all__ = [
    "DEFAULT_CONFIG_KEY",
    "DEFAULT_CONFIG_MAP",
    "Finding",
    "PreflightError",
    "Severity",
    "Snapshot",
    "Sources",
    "changes",
    "findings",
    "gather",
    "report",
]
