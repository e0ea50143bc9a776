"""The node daemon (thick mode): the shim's server, with watch caches, metrics and the node config.

- `server`: the socket API (`/cni`, `/healthz`, `/readyz`), bounded and serialised per container.
- `watchcache`, `cacheview`: pods of this node and NADs, so a steady-state ADD reads nothing.
- `nodeconfig`: `00-multus.conf` in front of the primary CNI config.
- `metrics`: Prometheus metrics.
- `settings`: the daemon config (upstream's keys: each implemented or refused) and environment.
- `main`: wiring, signals.
"""
