"""Every conversation with Kubernetes: the REST client, the watch caches and the cluster views.

- `rest`: credentials (a kubeconfig or the pod's service account) and `RestClient`, JSON over HTTPS.
- `watchcache`: a list-then-watch cache of one kind of object.
- `apiview`, `cacheview`, `fileview`: the `multus.k8s.view.ClusterView`s: the API server asked
  directly, the daemon's caches in front of it, and a folder of YAML files.

What these modules decide about the objects (annotations, NADs, network-status) lives in the pure
`multus.k8s`; this layer only moves it.
"""
