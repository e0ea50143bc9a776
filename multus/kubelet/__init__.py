"""What the kubelet and its device plugins say about a pod's devices: the kubelet's pod-resources gRPC
API (`pod_resources.py`), its device manager's checkpoint file (`checkpoint.py`), and the device-info
files device plugins write (`device_info_files.py`). `apis/` holds the generated gRPC bindings
(`tools/gen-kubelet-apis.sh`)."""
