"""The node daemon (thick mode): the shim's server, with watch caches, metrics and the node config.

Its cluster view is `multus.kube.cacheview.CacheView`: pods of this node and NADs from watch caches, so
a steady-state ADD reads nothing.

- `server`: the socket API (`/cni`, `/healthz`, `/readyz`), bounded and serialised per container.
- `nodeconfig`: `00-multus.conf` in front of the primary CNI config.
- `metrics`: Prometheus metrics.
- `settings`: the daemon config (upstream's keys: each implemented or refused) and environment.
- `main`: wiring, signals.
"""
