"""Every conversation with Kubernetes: the REST client, the watch caches and the cluster views.

- `credentials`: a kubeconfig or the pod's service account, read into what a connection needs.
- `rest`: `RestClient`, JSON over HTTPS through a transport: HTTP/1.1 on asyncio's streams
  (`transport_asyncio`); `errors`: the classes its failures raise.
- `paths`: the URL path of each object and list the project reads or writes.
- `backoff`: pauses between attempts, doubling to a bound, with jitter.
- `watchcache`: a list-then-watch cache of one kind of object.
- `apiview`, `cacheview`, `fileview`: the `multus.k8s.view.ClusterView`s: the API server asked
  directly, the daemon's caches in front of it, and a folder of YAML files.

What these modules decide about the objects (annotations, NADs, network-status) lives in the pure
`multus.k8s`; this layer only moves it.
"""
