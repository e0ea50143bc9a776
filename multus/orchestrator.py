"""The meta-plugin's commands: ADD, DEL, CHECK, GC and STATUS over all of a pod's attachments.

The same code runs in the `multus` plugin process and inside the node daemon; only the `ClusterView`
differs. Guarantees, beyond what upstream gives:

- ADD writes the attachment cache before the first delegate runs and after each one, and a failed
  ADD undoes every attachment it started, in reverse order. An attachment that did not get the `ips` or
  `mac` its selection asks for fails the ADD.
- DEL works from that cache when the pod, the NAD or the API server is gone; with the cache lost or
  damaged it recovers the attachments from libcni's result cache; with neither, while the namespace
  still holds interfaces, it rebuilds the attachments from the pod as ADD makes them; with nothing to
  rebuild from it still succeeds (the runtime must be able to move on) and says on the pod what may
  have leaked. Delegate failures are reported, never hidden. A pod that outlives its sandbox (failed or
  re-created) loses the network-status that listed the sandbox's interfaces.
- CHECK checks every attachment, NAD ones included, against the delegates and the real namespace.
- GC removes attachments of containers that are not in the runtime's valid list, and only those.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from multus.attachment_cache import (
    AttachmentCache,
    AttachmentRecord,
    ContainerRecord,
    SpareFiles,
)
from multus.cni.args import IGNORE_UNKNOWN
from multus.cni.cache import DEFAULT_CACHE_DIR, ResultCache
from multus.cni.config import NetworkConfigList, parse_network_config
from multus.cni.conflist import (
    Attachment,
    ConfigListRunner,
    Later,
    at_once,
    parse_valid_attachments,
)
from multus.cni.environment import CNIEnvironment, Command
from multus.cni.errors import (
    CNIError,
    InterfaceConflict,
    InvalidEnvironment,
    TryAgainLater,
    UnknownContainer,
)
from multus.cni.exec import DelegateExecutor
from multus.cni.results import Result, Route, parse_result
from multus.cni.versions import CHECK_SINCE, LATEST_VERSION, at_least
from multus.config import MultusConfig
from multus.devices import DeviceAllocations
from multus.k8s.delegate_inputs import (
    capability_args,
    check_capabilities,
    check_requests_met,
    extra_cni_args,
    with_cni_args,
)
from multus.k8s.device_info import parse_device_info
from multus.k8s.selection import NetworkSelection
from multus.k8s.selection_json import selection_from_json
from multus.k8s.status import NETWORK_STATUS_ANNOTATION, format_network_status, statuses_from_result
from multus.k8s.view import MIRROR_ANNOTATION, ClusterView, Pod
from multus.logs import fields, get_logger
from multus.netns import NamespaceGone, interface_names, interfaces, replace_default_route
from multus.resolution import Attachment as PodAttachment
from multus.resolution import resolve_attachments

log = get_logger("orchestrator")

POD_NAMESPACE_ARG, POD_NAME_ARG, POD_UID_ARG = "K8S_POD_NAMESPACE", "K8S_POD_NAME", "K8S_POD_UID"
# Runtime-provided runtimeConfig keys that belong to the pod's cluster network only, as upstream does.
CLUSTER_RUNTIME_KEYS = ("portMappings", "bandwidth", "dns", "ips", "mac", "io.kubernetes.cri.pod-annotations")


def pod_of(env: CNIEnvironment) -> tuple[str, str]:
    """(namespace, name) of the pod the runtime names in CNI_ARGS; empty when it names none."""
    args = env.args_dict
    return args.get(POD_NAMESPACE_ARG, ""), args.get(POD_NAME_ARG, "")


@dataclass(frozen=True)
class Hooks:
    """What a long-running host (the node daemon) adds to a request.

    `observer` hears of every delegate run (plugin type, command, seconds). `defer`, when set, takes the
    pod's report (an ADD's network-status and Events, a DEL's clearing of network-status) to run after
    the reply: the pod's networking is done by then, and the report, retried until written, need not
    hold up the runtime. `after_reply`, when set,
    takes the bookkeeping of an ADD or a DEL (the result cache, the record and its fsync, log lines) to
    run once the reply is sent, before the container's next request; a DEL after a crash in between
    still finds the record written before the first delegate ran. `spares`, when set, supplies the
    files that the record is written to.
    """

    observer: Callable[[str, str, float], None] | None = None
    defer: Callable[[Coroutine[Any, Any, None]], None] | None = None
    after_reply: Later | None = None
    spares: SpareFiles | None = None


REPORT_ATTEMPTS = 8
REPORT_FIRST_PAUSE = 0.5


class Orchestrator:
    """Runs one request's command. `results_dir` is libcni's cache folder (default `/var/lib/cni`)."""

    def __init__(
        self,
        config: MultusConfig,
        view: ClusterView | None,
        env: CNIEnvironment,
        *,
        results_dir: Path = DEFAULT_CACHE_DIR,
        runtime_config: Mapping[str, Any] | None = None,
        hooks: Hooks = Hooks(),
    ) -> None:
        self.config = config
        self.view = view
        self.env = env
        self.hooks = hooks
        search = [str(config.bin_dir), *env.path]
        executor = DelegateExecutor(search, timeout=config.delegate_timeout, observer=hooks.observer)
        self._pending: list[Callable[[], None]] = []  # bookkeeping that waits for the reply
        self.runner = ConfigListRunner(executor, ResultCache(results_dir))
        self.cache = AttachmentCache(config.cni_dir, hooks.spares)
        self.runtime_config = dict(runtime_config or {})

    # ADD ------------------------------------------------------------------------------------------

    async def add(self) -> Result:
        await self._wait_until_ready()
        pod = await self._pod()
        taken = interface_names(self.env.netns)
        try:
            attachments = await self._resolve(pod, taken)
        except CNIError as error:
            if pod is not None:
                await self._event(pod, "Warning", "NoNetworkFound", str(error))
            raise
        try:
            conflists = self._check_delegates(attachments)
        except CNIError as error:
            if pod is not None:
                await self._event(pod, "Warning", "FailedAddingInterfaces", str(error))
            raise
        record = self._new_record(pod, attachments)
        self.cache.save(record, durable=False)
        try:
            results = await self._add_all(attachments, conflists, record)
            await self._check_requests_met(
                [
                    (attachment.selection, attachment.ifname, result)
                    for attachment, result in zip(attachments, results, strict=True)
                    if attachment.selection is not None
                ]
            )
            if any(attachment.default_route for attachment in attachments):
                self._settle(replied=False)  # the route rewrites the cached results: they must be there
                await asyncio.to_thread(self._apply_default_route, attachments, results, record)
            # With the results, for CHECK; then on disk, after the reply (see AttachmentCache).
            self._later(functools.partial(self.cache.save, record, durable=False))
            self._later(functools.partial(self.cache.sync, record.container_id))
            if pod is not None and self.hooks.defer is None:
                # A pod re-created meanwhile gets no status, and no networks either.
                await self._report(pod, attachments, results, record)
        except Exception as error:  # whatever failed, the attachments made so far must go
            self._settle(replied=False)  # the undo's DELs want their prevResults
            await self._undo(record)
            if pod is not None:
                await self._event(pod, "Warning", "FailedAddingInterfaces", str(error))
            raise
        self._settle(replied=True)
        if pod is not None and self.hooks.defer is not None:
            report = functools.partial(self._report, pod, attachments, results, record)
            self.hooks.defer(self._until_written(report, record))
        return results[0].convert_to(self.config.cni_version)

    async def _resolve(self, pod: Pod | None, taken: set[str]) -> list[PodAttachment]:
        """The pod's attachments, as ADD makes them: the cluster network also takes the runtime's own
        runtimeConfig (port mappings, bandwidth...), as upstream does."""
        devices = DeviceAllocations.from_checkpoint(self.config.device_checkpoint)
        attachments = await resolve_attachments(
            self.config, self.view, pod, self.env.ifname, taken, devices=devices
        )
        for attachment in attachments:
            if attachment.is_default:
                attachment.capability_args = {
                    key: value for key, value in self.runtime_config.items() if key in CLUSTER_RUNTIME_KEYS
                } | attachment.capability_args
        return attachments

    def _later(self, work: Callable[[], None]) -> None:
        """`work` after the reply when the host runs such work, now otherwise."""
        if self.hooks.after_reply is None:
            work()
        else:
            self._pending.append(work)

    def _settle(self, *, replied: bool) -> None:
        """The pending bookkeeping: handed to the host to run after its reply, or done now (before an
        undo, whose DELs want the cached results)."""
        pending, self._pending = self._pending, []
        if replied and self.hooks.after_reply is not None:
            for work in pending:
                self.hooks.after_reply(work)
        else:
            run_bookkeeping(pending, {"container": self.env.container_id})

    def _check_delegates(self, attachments: list[PodAttachment]) -> list[NetworkConfigList]:
        """Before anything runs: every config parses and every plugin binary exists, IPAM plugins too.
        Found later, these would fail the undo's DEL of that attachment too, and keep it in the cache for
        ever."""
        conflists = [_conflist(attachment.network, attachment.config) for attachment in attachments]
        for attachment, conflist in zip(attachments, conflists, strict=True):
            for plugin in conflist.plugins:
                try:
                    self.runner.executor.find(plugin.type)
                    if plugin.ipam is not None and plugin.ipam.type:
                        self.runner.executor.find(plugin.ipam.type)
                except CNIError as error:
                    raise type(error)(
                        f"network {attachment.network}: {error.msg}", error.details, code=error.code
                    ) from None
        return conflists

    async def _add_all(
        self, attachments: list[PodAttachment], conflists: list[NetworkConfigList], record: ContainerRecord
    ) -> list[Result]:
        """Every attachment's ADD, in order. On a failure the record keeps only those that started, for
        the undo."""
        outcomes = await self.runner.add_in_turn(
            [
                (conflist, self._cni_attachment(entry))
                for conflist, entry in zip(conflists, record.attachments, strict=True)
            ],
            later=self._later,
        )
        added = [
            (attachment, entry, outcome)
            for attachment, entry, outcome in zip(attachments, record.attachments, outcomes, strict=True)
            if isinstance(outcome, Result)
        ]
        self._later(functools.partial(self._note_added, added, record))
        failure = next((outcome for outcome in outcomes if isinstance(outcome, CNIError)), None)
        if failure is not None:
            record.attachments = [
                entry
                for entry, outcome in zip(record.attachments, outcomes, strict=True)
                if outcome is not None
            ]
            raise failure
        return [result for _, _, result in added]

    async def _check_requests_met(self, added: list[tuple[NetworkSelection, str, Result]]) -> None:
        """Each attachment got the `ips` and `mac` its selection asks for (through CNI_ARGS a plugin may
        ignore them). A MAC is read from the namespace, else from the result's interface."""
        asked = [
            (selection, ifname, result)
            for selection, ifname, result in added
            if selection.ips or selection.mac
        ]
        present = {}
        if any(selection.mac for selection, _, _ in asked):
            present = await asyncio.to_thread(interfaces, self.env.netns)
        for selection, ifname, result in asked:
            link = present.get(ifname)
            mac = link.mac if link is not None else _result_mac(result, ifname)
            check_requests_met(selection, ifname, result, mac)

    def _note_added(
        self, added: list[tuple[PodAttachment, AttachmentRecord, Result]], record: ContainerRecord
    ) -> None:
        """The results into the record, and a log line each: bookkeeping, done before anything reads
        the record's results (its save, an undo's DELs)."""
        for attachment, entry, result in added:
            entry.result = result.to_dict()
            context = fields(
                container=self.env.container_id,
                pod=_pod_ref(record),
                network=attachment.network,
                ifname=attachment.ifname,
            )
            log.info("attachment added", extra=context)

    def _apply_default_route(
        self, attachments: list[PodAttachment], results: list[Result], record: ContainerRecord
    ) -> None:
        """Point the pod's default route at the one attachment that asked for it (docs/reference.md §4)."""
        for chosen, attachment in enumerate(attachments):
            for gateway in attachment.default_route:
                family = ipaddress.ip_address(gateway).version
                replace_default_route(self.env.netns, attachment.ifname, gateway)
                for index, result in enumerate(results):
                    results[index] = _with_default_route(result, family, gateway if index == chosen else None)
                    entry = record.attachments[index]
                    entry.result = results[index].to_dict()
                    self._rewrite_result_cache(entry, results[index])

    def _rewrite_result_cache(self, entry: AttachmentRecord, result: Result) -> None:
        network = str(entry.config.get("name", ""))
        cached = self.runner.cache.read(network, self.env.container_id, entry.ifname)
        if cached is not None:
            self.runner.cache.write(replace(cached, result=result))

    async def _report(
        self, pod: Pod, attachments: list[PodAttachment], results: list[Result], record: ContainerRecord
    ) -> None:
        statuses, messages = [], []
        for attachment, delegate_result in zip(attachments, results, strict=True):
            # The delegate's own version; network-status is built from the 1.x form (0.2.0 has no `ips`).
            result = delegate_result.convert_to(LATEST_VERSION)
            device = parse_device_info(attachment.device_info) if attachment.device_info else None
            statuses.extend(
                statuses_from_result(
                    result,
                    network=attachment.network,
                    interface=attachment.ifname,
                    default=attachment.is_default,
                    device_info=device,
                )
            )
            ips = [str(ip.address) for ip in result.ips]
            messages.append(f"Add {attachment.ifname} [{', '.join(ips)}] from {attachment.network}")
        if self.view is not None:
            await self.view.write_network_status(pod, format_network_status(statuses))
        # Only once the status is written: a failed write undoes them all.
        await asyncio.gather(*(self._event(pod, "Normal", "AddedInterface", message) for message in messages))
        log.info("pod reported", extra=fields(container=record.container_id, pod=_pod_ref(record)))

    async def _until_written(self, write: Callable[[], Awaitable[None]], record: ContainerRecord) -> None:
        """A deferred report: retried with growing pauses while the API server is unreachable; a pod
        re-created meanwhile is left alone (its sandbox is gone and the runtime deletes it)."""
        pause = REPORT_FIRST_PAUSE
        context = {"container": record.container_id, "pod": _pod_ref(record)}
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            try:
                await write()
                return
            except UnknownContainer as error:
                log.error(
                    "network-status not written: the pod changed", extra=fields(**context, error=str(error))
                )
                return
            except CNIError as error:
                log.error(
                    "network-status not written yet",
                    extra=fields(**context, attempt=attempt, error=str(error)),
                )
            await asyncio.sleep(pause)
            pause *= 2
        log.error("network-status given up", extra=fields(**context, attempts=REPORT_ATTEMPTS))

    def _new_record(self, pod: Pod | None, attachments: list[PodAttachment]) -> ContainerRecord:
        base_args = [(key, value) for key, value in self.env.args if key != IGNORE_UNKNOWN]
        return ContainerRecord(
            container_id=self.env.container_id,
            netns=self.env.netns,
            pod_namespace=pod.namespace if pod else pod_of(self.env)[0],
            pod_name=pod.name if pod else pod_of(self.env)[1],
            pod_uid=pod.uid if pod else self.env.args_dict.get(POD_UID_ARG, ""),
            cni_version=self.config.cni_version,
            attachments=[
                AttachmentRecord(
                    network=a.network,
                    ifname=a.ifname,
                    config=a.config,
                    capability_args=a.capability_args,
                    cni_args=[(IGNORE_UNKNOWN, "1"), *base_args, *a.cni_args],
                    is_default=a.is_default,
                    device_info=a.device_info,
                )
                for a in attachments
            ],
        )

    async def _pod(self) -> Pod | None:
        namespace, name = pod_of(self.env)
        if not name or self.view is None:
            return None
        pod = await self.view.get_pod(namespace, name)
        if pod is None:
            raise UnknownContainer(f"pod {namespace}/{name} not found")
        expected = self.env.args_dict.get(POD_UID_ARG, "")
        if not _same_pod(pod, expected):
            raise UnknownContainer(
                f"pod {namespace}/{name} has UID {pod.uid}, the runtime asked for {expected}",
                "the pod was deleted and re-created",
            )
        return pod

    async def _wait_until_ready(self) -> None:
        indicator = self.config.readiness_indicator_file
        if indicator is None:
            return
        limit = self.config.readiness_timeout
        deadline = time.monotonic() + limit
        while not indicator.exists():
            if time.monotonic() >= deadline:
                raise TryAgainLater(
                    f"readinessindicatorfile {indicator} did not appear in {limit:g}s",
                    "the cluster network is not ready yet",
                )
            await asyncio.sleep(0.1)

    # DEL ------------------------------------------------------------------------------------------

    async def delete(self) -> None:
        record = self.cache.load(self.env.container_id)
        if record is None:
            record = self._recover_record(self.env.container_id)
            if record is None:
                record = await self._rebuild_record()
            if record is None:
                return
        # The runtime's DEL: what is removed from the caches, and logged, can wait for the reply.
        await self._delete_record(record, later=self.hooks.after_reply or at_once)
        if self.view is None or not record.pod_name:
            return
        clear = functools.partial(self._clear_status, record)
        if self.hooks.defer is not None:
            self.hooks.defer(self._until_written(clear, record))
            return
        try:
            await clear()
        except CNIError as error:  # the attachments are gone: the DEL succeeded, whatever the API says
            log.error(
                "network-status not cleared",
                extra=fields(container=record.container_id, pod=_pod_ref(record), error=str(error)),
            )

    async def _clear_status(self, record: ContainerRecord) -> None:
        """Remove the pod's network-status when the pod outlives this sandbox (failed, or re-created by
        the kubelet): it lists interfaces that are gone. A terminating pod, a missing one, another pod
        of the same name, or one without the annotation costs no write. (The runtime's second DEL has
        no record left, so it never gets here.)"""
        assert self.view is not None
        namespace, name = record.pod_namespace, record.pod_name
        context = {"container": record.container_id, "pod": _pod_ref(record)}
        pod = await self.view.get_pod(namespace, name)
        if pod is not None and not pod.terminating:
            # Rare (the usual DEL is of a pod being deleted), so decided on the cluster's own copy: a
            # cache may lag behind our ADD's write (a result the runtime refused comes back at once).
            pod = await self.view.get_pod(namespace, name, fresh=True)
        expected = self.env.args_dict.get(POD_UID_ARG) or record.pod_uid
        if pod is None:
            kept = "the pod is gone"
        elif pod.terminating:
            kept = "the pod is being deleted"
        elif not _same_pod(pod, expected):
            kept = f"the pod has another UID ({pod.uid})"
        elif NETWORK_STATUS_ANNOTATION not in pod.annotations:
            kept = "the pod has none"
        else:
            await self.view.write_network_status(pod, None)
            log.info("network-status cleared", extra=fields(**context))
            return
        log.info("network-status left alone", extra=fields(**context, reason=kept))

    async def _delete_record(
        self, record: ContainerRecord, *, later: Later = at_once, save: bool = True
    ) -> None:
        """DEL every attachment in reverse, each once the one before has ended; drop those that succeeded
        from the cache, report the rest. `later` takes the removals from the caches and their log lines;
        `save=False` leaves the record on disk to the caller (a part of it being deleted)."""
        ordered = list(reversed(record.attachments))
        jobs = [self._delete_job(entry, record) for entry in ordered]
        readable = [job for job in jobs if not isinstance(job, CNIError)]
        deleted = iter(await self.runner.delete_in_turn(readable, later=later))
        failures: list[str] = []
        first: CNIError | None = None
        for entry, job in zip(ordered, jobs, strict=True):
            context = {"container": record.container_id, "pod": _pod_ref(record), "network": entry.network}
            failure = job if isinstance(job, CNIError) else next(deleted)
            if failure is None:
                record.attachments.remove(entry)
                deleted_line = fields(**context, ifname=entry.ifname)
                later(functools.partial(log.info, "attachment deleted", extra=deleted_line))
                continue
            first = first or failure
            failures.append(f"{entry.network} ({entry.ifname}): {failure}")
            log.error("attachment not deleted", extra=fields(**context, error=str(failure)))
        if first is None:
            if save:
                later(functools.partial(self.cache.remove, record.container_id))
            return
        if save:
            self.cache.save(record)  # what is left, for the runtime's next DEL
        raise type(first)(
            f"DEL of container {record.container_id}: {len(failures)} attachment(s) not deleted: {first.msg}",
            "; ".join(failures),
            code=first.code,
        )

    def _delete_job(
        self, entry: AttachmentRecord, record: ContainerRecord
    ) -> tuple[NetworkConfigList, Attachment, dict[str, Any] | None] | CNIError:
        """What `delete_in_turn` needs for one entry, or why the entry no longer reads (it is reported,
        the others are still deleted)."""
        try:
            return _conflist(entry.network, entry.config), self._cni_attachment(entry, record), entry.result
        except CNIError as error:
            return error

    async def _undo(self, record: ContainerRecord) -> None:
        """Undo a failed ADD: DEL every attachment of the record (those that started), in reverse."""
        try:
            await self._delete_record(record)
        except CNIError as error:
            log.error(
                "undo of a failed ADD left attachments behind",
                extra=fields(container=record.container_id, pod=_pod_ref(record), error=str(error)),
            )

    def _recover_record(self, container_id: str) -> ContainerRecord | None:
        """Rebuild the container's record from libcni's result cache, which every delegate ADD wrote."""
        # The runtime's libcni caches its own call of us under our network's name (in /var/lib/cni, the
        # default folder): that entry is the pod's whole multus network, not one of its attachments.
        entries = [
            entry
            for entry in self.runner.cache.entries(container_id=container_id)
            if entry.network_name != self.config.name
        ]
        if not entries:
            return None
        namespace, name = pod_of(self.env)
        log.info(
            "attachment cache missing or damaged: recovering from the result cache",
            extra=fields(container=container_id, pod=f"{namespace}/{name}", found=len(entries)),
        )
        return ContainerRecord(
            container_id=container_id,
            netns=self.env.netns or entries[0].netns,
            pod_namespace=namespace,
            pod_name=name,
            cni_version=self.config.cni_version,
            attachments=[
                AttachmentRecord(
                    network=entry.network_name,
                    ifname=entry.ifname,
                    config=json.loads(entry.config),
                    capability_args=entry.capability_args,
                    cni_args=list(entry.cni_args),
                    result=entry.result.to_dict() if entry.result else None,
                )
                for entry in entries
            ],
        )

    async def _rebuild_record(self) -> ContainerRecord | None:
        """DEL with neither record nor cached result. Normal for the runtime's second DEL: the namespace
        is gone or holds only `lo`, and there is nothing to do (None). Interfaces left there mean an ADD's
        record was lost: its attachments are rebuilt as ADD makes them, to be deleted, and the pod is told
        which, and which interfaces nothing could be rebuilt for (their allocations may leak; the DEL
        still succeeds, so that the runtime can move on)."""
        namespace, name = pod_of(self.env)
        context = fields(container=self.env.container_id, pod=f"{namespace}/{name}")
        try:
            left = sorted(interface_names(self.env.netns) - {"lo"}) if self.env.netns else []
        except (NamespaceGone, InvalidEnvironment):  # no namespace there: no interface of it either
            left = []
        if not left:
            log.info("nothing to delete", extra=context)
            return None
        attachments, problems = await self._rebuild_attachments()
        message = (
            f"DEL of container {self.env.container_id}: no attachment record and no cached result, but the "
            f"pod's namespace still holds {', '.join(left)}"
        )
        if attachments:
            networks = ", ".join(f"{a.network} ({a.ifname})" for a in attachments)
            message += f"; rebuilt {networks} from the pod to delete them"
        unknown = [ifname for ifname in left if ifname not in {a.ifname for a in attachments}]
        if unknown:
            why = f" ({'; '.join(problems)})" if problems else ""
            message += f"; nothing to rebuild {', '.join(unknown)} from{why}: IP allocations may have leaked"
        (log.error if unknown else log.warning)(message, extra=context)
        target = Pod(namespace, name, self.env.args_dict.get(POD_UID_ARG, "")) if name else None
        if target is not None:
            reason = "AttachmentsMayHaveLeaked" if unknown else "AttachmentsRebuilt"
            await self._event(target, "Warning", reason, message)
        return self._new_record(target, attachments) if attachments else None

    async def _rebuild_attachments(self) -> tuple[list[PodAttachment], list[str]]:
        """The attachments ADD made, as far as they can be told now, and what hid the others: the pod
        (gone, re-created, or the API cannot say) or what its networks need (a NAD deleted...). As
        upstream, the networks of every pod (the cluster network, defaultNetworks) are rebuilt even
        when the pod's own cannot be."""
        problems: list[str] = []
        try:
            pod = await self._pod()
        except CNIError as error:
            pod = None
            problems.append(str(error))
        if pod is not None:
            try:
                return await self._resolve(pod, set()), problems
            except CNIError as error:
                problems.append(str(error))
        try:
            return await self._resolve(None, set()), problems
        except CNIError as error:
            return [], [*problems, str(error)]

    # Hot-plug: the daemon's /delegate ----------------------------------------------------------------

    async def add_delegate(self, delegate: dict[str, Any], attributes: Mapping[str, Any]) -> Result:
        """Attach one more network (`CNI_IFNAME`) to a pod already attached, as the dynamic-networks
        controller asks. The attachment joins the pod's record, so the pod's final DEL removes it too
        (upstream forgets hot-plugged attachments and leaks them)."""
        record = self.cache.load(self.env.container_id)
        if record is None:
            raise UnknownContainer(f"/delegate: container {self.env.container_id} has no record to add to")
        requested = {key: attributes[key] for key in ("ips", "mac", "cni-args") if key in attributes}
        selection = selection_from_json(
            {"name": "delegate", **requested},
            index=0,
            annotation="interfaceAttributes",
            default_namespace=record.pod_namespace or "default",
        )
        config = with_cni_args(delegate, selection.cni_args)
        network = str(config.get("name") or "")
        conflist = _conflist(network or "delegate", config)
        check_capabilities(selection, config)
        taken = interface_names(self.env.netns)
        if self.env.ifname in taken or any(entry.ifname == self.env.ifname for entry in record.attachments):
            raise InterfaceConflict(f"/delegate: interface {self.env.ifname} already exists in the pod")
        base_args = [(key, value) for key, value in self.env.args if key != IGNORE_UNKNOWN]
        entry = AttachmentRecord(
            network=network,
            ifname=self.env.ifname,
            config=config,
            capability_args=capability_args(selection),
            cni_args=[(IGNORE_UNKNOWN, "1"), *base_args, *extra_cni_args(selection)],
        )
        record.attachments.append(entry)
        self.cache.save(record)
        try:
            result = await self.runner.add(conflist, self._cni_attachment(entry, record), later=self._later)
            await self._check_requests_met([(selection, entry.ifname, result)])
        except Exception:
            self._settle(replied=False)  # the undo's DEL wants the cached result
            try:
                await self._delete_record(record.model_copy(update={"attachments": [entry]}), save=False)
            except CNIError:  # logged; the entry stays on the pod's record, for the pod's final DEL
                pass
            else:
                record.attachments.remove(entry)
            self.cache.save(record)
            raise
        entry.result = result.to_dict()
        self._later(functools.partial(self.cache.save, record, durable=False))
        self._settle(replied=True)
        return result.convert_to(conflist.version)

    async def delete_delegate(self) -> None:
        """Remove one hot-plugged (or any) attachment of the pod, by `CNI_IFNAME`; gone already is fine."""
        record = self.cache.load(self.env.container_id)
        entry = next((e for e in record.attachments if e.ifname == self.env.ifname), None) if record else None
        if record is None or entry is None:
            return
        conflist = _conflist(entry.network, entry.config)
        await self.runner.delete(conflist, self._cni_attachment(entry, record), kept_result=entry.result)
        record.attachments.remove(entry)
        self.cache.save(record)

    # CHECK ----------------------------------------------------------------------------------------

    async def check(self) -> None:
        record = self.cache.load(self.env.container_id)
        if record is None:
            raise UnknownContainer(f"CHECK: no attachment record for container {self.env.container_id}")
        try:
            present = await asyncio.to_thread(interfaces, self.env.netns)
        except NamespaceGone as error:
            raise UnknownContainer(f"CHECK: {error.msg}") from error
        for entry in record.attachments:
            conflist = _conflist(entry.network, entry.config)
            # Before 0.4.0 plugins have no CHECK: such a network is checked in the namespace only.
            if at_least(conflist.version, CHECK_SINCE):
                await self.runner.check(conflist, self._cni_attachment(entry, record))
            _check_interface(entry, present)

    # GC and STATUS --------------------------------------------------------------------------------

    async def gc(self, stdin_config: Mapping[str, Any]) -> None:
        """Remove every attachment of containers outside the runtime's valid list."""
        valid = {container_id for container_id, _ in parse_valid_attachments(stdin_config)}
        failures: list[str] = []
        for container_id in self.cache.container_ids():
            if container_id in valid:
                continue
            record = self.cache.load(container_id) or self._recover_record(container_id)
            if record is None:  # damaged, and no cached result names an attachment of it
                log.error("GC: unreadable attachment record dropped", extra=fields(container=container_id))
                self.cache.remove(container_id)
                continue
            try:
                await self._delete_record(record)
            except CNIError as error:
                failures.append(str(error))
        if failures:
            raise CNIError(f"GC: {len(failures)} container(s) not cleaned up", "; ".join(failures))

    async def status(self) -> None:
        indicator = self.config.readiness_indicator_file
        if indicator is not None and not indicator.exists():
            raise CNIError(
                f"readinessindicatorfile {indicator} does not exist",
                "the cluster network is not ready",
                code=50,
            )
        cluster = await resolve_attachments(self.config, self.view, None, "eth0", set())
        await self.runner.status(_conflist(cluster[0].network, cluster[0].config))

    # helpers --------------------------------------------------------------------------------------

    def _cni_attachment(self, entry: AttachmentRecord, record: ContainerRecord | None = None) -> Attachment:
        # The record's container, not the request's: GC deletes containers other than (and without) its own.
        netns = self.env.netns or (record.netns if record else "")
        return Attachment(
            container_id=record.container_id if record else self.env.container_id,
            ifname=entry.ifname,
            netns=netns if netns and os.path.exists(netns) else "",
            cni_args=tuple(entry.cni_args),
            capability_args=entry.capability_args,
        )

    async def _event(self, pod: Pod, kind: str, reason: str, message: str) -> None:
        """Events are best effort: failing to record one must not fail the pod's networking."""
        if self.view is None:
            return
        try:
            await self.view.record_event(pod, "Warning" if kind == "Warning" else "Normal", reason, message)
        except CNIError as error:
            log.error(
                "event not recorded",
                extra=fields(pod=f"{pod.namespace}/{pod.name}", reason=reason, error=str(error)),
            )


def run_bookkeeping(work: list[Callable[[], None]], context: dict[str, str]) -> None:
    """Bookkeeping once the delegates ran: a step that fails is logged (the attachments stand, and an
    undo still has to run), and the others still run."""
    for step in work:
        try:
            step()
        except Exception as error:
            log.error("bookkeeping failed", extra=fields(**context, error=str(error)))


def _conflist(network: str, config: dict[str, Any]) -> NetworkConfigList:
    try:
        return _parsed_config(json.dumps(config, sort_keys=True))
    except CNIError as error:
        raise type(error)(f"network {network}: {error.msg}", error.details, code=error.code) from None


@functools.lru_cache(maxsize=512)
def _parsed_config(text: str) -> NetworkConfigList:
    """Parsed once per distinct config (the result is frozen): pod after pod attaches the same networks,
    and each DEL reads back the configs its ADD ran."""
    return parse_network_config(text)


def _with_default_route(result: Result, family: int, gateway: str | None) -> Result:
    """`result` without default routes of `family`, plus one via `gateway` when given."""
    routes = tuple(route for route in result.routes if not (route.is_default and route.family == family))
    if gateway is not None:
        destination = ipaddress.ip_interface("0.0.0.0/0" if family == 4 else "::/0")
        routes = (*routes, Route(destination, ipaddress.ip_address(gateway)))
    return replace(result, routes=routes)


def _check_interface(entry: AttachmentRecord, present: Mapping[str, Any]) -> None:
    iface = present.get(entry.ifname)
    if iface is None:
        raise UnknownContainer(f"CHECK: interface {entry.ifname} of network {entry.network} is missing")
    if entry.result is None:
        return
    index = _interface_index(entry)
    expected = {
        str(ip.address)
        for ip in parse_result(entry.result).ips
        if index is None or ip.interface in (None, index)
    }
    missing = sorted(expected - set(iface.addresses))
    if missing:
        raise UnknownContainer(
            f"CHECK: interface {entry.ifname} of network {entry.network} lacks {', '.join(missing)}"
        )


def _result_mac(result: Result, ifname: str) -> str | None:
    """The MAC the result gives the sandbox interface `ifname`, if any."""
    return next((link.mac for link in result.interfaces if link.name == ifname and link.sandbox), None)


def _interface_index(entry: AttachmentRecord) -> int | None:
    assert entry.result is not None
    for index, link in enumerate(entry.result.get("interfaces", [])):
        if link.get("name") == entry.ifname and link.get("sandbox"):
            return index
    return None


def _same_pod(pod: Pod, expected_uid: str) -> bool:
    """Whether `pod` is the one the runtime means: its UID, when the runtime names one. A mirror pod
    carries its own UID, not the static pod's that the runtime knows."""
    return not expected_uid or pod.uid == expected_uid or MIRROR_ANNOTATION in pod.annotations


def _pod_ref(record: ContainerRecord) -> str:
    return f"{record.pod_namespace}/{record.pod_name}" if record.pod_name else ""


async def run_command(
    env: CNIEnvironment,
    stdin: bytes,
    config: MultusConfig,
    view: ClusterView | None,
    *,
    results_dir: Path = DEFAULT_CACHE_DIR,
    hooks: Hooks = Hooks(),
) -> dict[str, Any] | None:
    """Run the request; the JSON reply for ADD (the cluster network's result), None for the rest."""
    try:
        raw = json.loads(stdin)
    except ValueError:
        raw = {}
    runtime_config = raw.get("runtimeConfig") if isinstance(raw.get("runtimeConfig"), dict) else {}
    orchestrator = Orchestrator(
        config, view, env, results_dir=results_dir, runtime_config=runtime_config, hooks=hooks
    )
    if env.command == Command.ADD:
        return (await orchestrator.add()).to_dict()
    if env.command == Command.DEL:
        await orchestrator.delete()
    elif env.command == Command.CHECK:
        await orchestrator.check()
    elif env.command == Command.GC:
        await orchestrator.gc(raw)
    elif env.command == Command.STATUS:
        await orchestrator.status()
    else:
        raise InvalidEnvironment(f"CNI_COMMAND {env.command} is not run by the orchestrator")
    return None


async def run_delegate(
    env: CNIEnvironment,
    delegate: bytes,
    attributes: Mapping[str, Any],
    config: MultusConfig,
    view: ClusterView | None,
    *,
    results_dir: Path = DEFAULT_CACHE_DIR,
    hooks: Hooks = Hooks(),
) -> dict[str, Any] | None:
    """A hot-plug request: ADD or DEL of the one delegate config `delegate` as the pod's `CNI_IFNAME`."""
    raw = parse_network_config(delegate).to_dict() if env.command == Command.ADD else {}
    orchestrator = Orchestrator(config, view, env, results_dir=results_dir, hooks=hooks)
    if env.command == Command.ADD:
        return (await orchestrator.add_delegate(raw, attributes)).to_dict()
    if env.command == Command.DEL:
        await orchestrator.delete_delegate()
        return None
    raise InvalidEnvironment(f"/delegate serves ADD and DEL, not {env.command}")
