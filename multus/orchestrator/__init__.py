"""The meta-plugin's commands: ADD, DEL, CHECK, GC and STATUS over all of a pod's attachments.

The same code runs in the `multus` plugin process and inside the node daemon; only the request's scope
(whether its owner replies before the bookkeeping and reports) and the parts (the cluster view above
all) differ. Guarantees, beyond what upstream gives:

- ADD writes the attachment record before the first delegate runs and after each one, and a failed
  ADD undoes every attachment it started, in reverse order. An attachment that did not get the `ips` or
  `mac` its selection asks for fails the ADD.
- DEL works from that record when the pod, the NAD or the API server is gone; with the record lost or
  damaged it recovers the attachments from libcni's result cache; with neither, while the namespace
  still holds interfaces, it rebuilds the attachments from the pod as ADD makes them; with nothing to
  rebuild from it still succeeds (the runtime must be able to move on) and says on the pod what may
  have leaked. Delegate failures are reported, never hidden. A pod that outlives its sandbox (failed or
  re-created) loses the network-status that listed the sandbox's interfaces.
- CHECK checks every attachment, NAD ones included, against the delegates and the real namespace.
- GC removes attachments of containers that are not in the runtime's valid list, and only those.

Modules: `commands` (the flow), `scope` (one request, deferred work), `parts` (what the commands work
with), `pods`, `records`, `recovery`, `sequence` (delegates in turn, undo), `default_route`, `report`
(network-status, Events), `check`, `hotplug`, `gc`.
"""

from multus.orchestrator.commands import add, delete, run_command, run_delegate, status
from multus.orchestrator.parts import NamespaceOps, Netlink, Parts
from multus.orchestrator.pods import pod_of
from multus.orchestrator.scope import RequestScope, run_bookkeeping

__all__ = [
    "NamespaceOps",
    "Netlink",
    "Parts",
    "RequestScope",
    "add",
    "delete",
    "pod_of",
    "run_bookkeeping",
    "run_command",
    "run_delegate",
    "status",
]
