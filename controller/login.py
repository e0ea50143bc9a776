"""kopf's login with the controller's own credentials (`multus.kube.credentials`), so kopf and the
controller's own calls reach the same server as the same user, from one kubeconfig reader.

kopf logs in again when the API server answers 401; the bearer token is read then, so a rotated
service-account token is picked up.
"""

from __future__ import annotations

import kopf

from multus.kube.credentials import Credentials


def connection_info(credentials: Credentials) -> kopf.ConnectionInfo:
    """kopf's view of `credentials`. Inline data wins over a file naming the same part, as in kubectl."""
    tls = credentials.tls
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_path=None if tls.ca_data else tls.ca_file,
        ca_data=tls.ca_data,
        insecure=not tls.verify,
        certificate_path=None if tls.cert_data else tls.cert_file,
        certificate_data=tls.cert_data,
        private_key_path=None if tls.key_data else tls.key_file,
        private_key_data=tls.key_data,
        token=credentials.current_token(),
    )
