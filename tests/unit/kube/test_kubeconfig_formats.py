"""A kubeconfig is YAML; one written as JSON is read without importing yaml (the `multus` executable
reads it on every pod operation). Both give the same credentials, and a broken one names its file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from multus.kube.credentials import ConfigError, load_credentials

YAML = """\
apiVersion: v1
kind: Config
current-context: c
contexts:
- name: c
  context: {cluster: k, user: u}
clusters:
- name: k
  cluster: {server: "http://127.0.0.1:8080"}
users:
- name: u
  user: {token: secret}
"""
DOCUMENT = {
    "apiVersion": "v1",
    "kind": "Config",
    "current-context": "c",
    "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:8080"}}],
    "users": [{"name": "u", "user": {"token": "secret"}}],
}


def read_in_a_fresh_interpreter(path: Path) -> dict[str, object]:
    """The server and token read from `path`, and whether yaml was imported to read it."""
    probe = f"""
import json, sys
from pathlib import Path
from multus.kube.credentials import load_credentials
found = load_credentials(Path({str(path)!r}))
print(json.dumps({{"server": found.server, "token": found.token, "yaml": "yaml" in sys.modules}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, check=True, text=True, timeout=60
    )
    decoded: dict[str, object] = json.loads(done.stdout)
    return decoded


def test_json_and_yaml_kubeconfigs_give_the_same_credentials_and_only_yaml_imports_yaml(
    tmp_path: Path,
) -> None:
    as_yaml, as_json = tmp_path / "yaml", tmp_path / "json"
    as_yaml.write_text(YAML)
    as_json.write_text(json.dumps(DOCUMENT, indent=2))

    from_yaml, from_json = read_in_a_fresh_interpreter(as_yaml), read_in_a_fresh_interpreter(as_json)

    assert from_yaml == {"server": "http://127.0.0.1:8080", "token": "secret", "yaml": True}
    assert from_json == {"server": "http://127.0.0.1:8080", "token": "secret", "yaml": False}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("clusters: [unclosed", "while parsing a flow"),
        ('{"clusters": [', "while parsing a flow"),  # the message is YAML's, as before
        ("[]", "not a kubeconfig"),
    ],
    ids=["bad-yaml", "bad-json-read-as-yaml", "not-a-mapping"],
)
def test_a_broken_kubeconfig_is_a_config_error_naming_the_file(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)

    with pytest.raises(ConfigError, match=f"^kubeconfig {path}: ") as raised:
        load_credentials(path)

    assert says in str(raised.value)


def test_a_missing_kubeconfig_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^kubeconfig {tmp_path / 'absent'}: .*No such file"):
        load_credentials(tmp_path / "absent")
