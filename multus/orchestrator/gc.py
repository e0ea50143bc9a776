"""GC: the attachments of every container outside the runtime's list of valid attachments, removed;
those of the listed containers, and only those, kept."""

from __future__ import annotations

from multus.cni.errors import CleanupIncomplete, CNIError
from multus.cni.valid_attachments import parse_valid_attachments
from multus.logs import fields, get_logger
from multus.orchestrator.parts import Parts
from multus.orchestrator.records import recover_record
from multus.orchestrator.scope import RequestScope
from multus.orchestrator.sequence import delete_record

log = get_logger("orchestrator")


async def collect_garbage(scope: RequestScope, parts: Parts) -> None:
    valid = {container_id for container_id, _ in parse_valid_attachments(scope.stdin.document)}
    failures: list[str] = []
    for container_id in parts.records.container_ids():
        if container_id in valid:
            continue
        record = parts.records.load(container_id) or recover_record(
            scope.config, scope.env, parts.runner.cache, container_id
        )
        if record is None:  # damaged, and no cached result names an attachment of it
            log.error("GC: unreadable attachment record dropped", extra=fields(container=container_id))
            parts.records.remove(container_id)
            continue
        try:
            await delete_record(parts.runner, parts.records, scope.env, record)
        except CNIError as error:
            failures.append(str(error))
    if failures:
        raise CleanupIncomplete(f"GC: {len(failures)} container(s) not cleaned up", "; ".join(failures))
