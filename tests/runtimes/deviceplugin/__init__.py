"""A device plugin of the tests' own (`plugin.py`) on the kubelet's device plugin API v1beta1, whose
bindings `tools/gen-kubelet-apis.sh` generates into `v1beta1/`."""
