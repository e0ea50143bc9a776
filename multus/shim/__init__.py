"""The CNI plugin the container runtime execs in thick mode: it hands the request to the node daemon.

Only the standard library may be imported here (a test checks it): the shim starts on every pod
operation and must work when copied into a CNI bin dir as the single file `multus_shim.py`. The native
shim in `shim/` (C, static) does exactly the same and is what the DaemonSet installs.
"""
