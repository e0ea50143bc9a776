"""The Kubernetes side of the NPWG spec: pod annotations, NetworkAttachmentDefinitions, network-status.

Everything here is pure: no API calls, no netlink, no processes. Every malformed input raises a
`multus.cni.errors.CNIError` subclass whose message names the annotation or object and the field.

- `annotations`, `selection`, `selection_json`: the networks annotation and what each element asks for.
- `nad`: NetworkAttachmentDefinitions, their names and `spec.config`.
- `namespaces`: which NADs a pod may use; `interfaces`: each attachment's interface name.
- `delegate_inputs`: the capability args and CNI_ARGS a delegate receives from a selection.
- `status`, `device_info`, `addresses`: network-status and what its entries say.
- `constants`, `names`, `json_boundary`, `view`: names, naming rules, JSON errors, the cluster's interface.

Nothing is exported from the package itself: each module is imported where it is used, so the `multus`
executable, a new process per pod operation, loads only the modules (and records) it needs.
"""
