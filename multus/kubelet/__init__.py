"""What the kubelet says about a pod's devices: its pod-resources gRPC API (`pod_resources.py`) and its
device manager's checkpoint file (`checkpoint.py`). `apis/` holds the generated gRPC bindings
(`tools/gen-kubelet-apis.sh`)."""
