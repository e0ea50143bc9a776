"""Running a config list for one attachment: ADD, CHECK, DEL, STATUS and GC, as libcni does.

- ADD runs the plugins in order, each getting the previous result (in the list's version) as
  `prevResult`; the last result is cached and returned. A failing plugin stops the list; as the spec
  says, undoing the partial ADD is the caller's DEL.
- DEL runs them in reverse with the ADD's result as `prevResult` (0.4.0+; the caller's copy, or the
  cached one), then drops the cache entry. A missing or damaged cache entry does not stop a DEL: the
  plugins still get to clean up.
- A pod's several lists run in turn (`add_in_turn`, `delete_in_turn`): one after the other, with the
  bookkeeping of one overlapping the run of the next.
- CHECK (0.4.0+, skipped when `disableCheck`) runs them in order with the cached result.
- STATUS (1.1.0+; earlier versions have no STATUS, so there is nothing to ask) stops at the first
  plugin that is not ready and keeps its code (50, 51).
- GC (skipped when `disableGC`) deletes cached attachments of the network that are not in the valid
  set, then (1.1.0+) sends GC to every plugin with the valid set under both `cni.dev/valid-attachments`
  and its older name `cni.dev/attachments`.

`runtimeConfig` gets only the capability arguments a plugin declares in `capabilities`, merged over any
`runtimeConfig` the config already has.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from multus.cni.attachment import Attachment, plugin_stdin
from multus.cni.cache import CachedAttachment, ResultCache
from multus.cni.config import NetworkConfigList
from multus.cni.environment import CNIEnvironment, Command
from multus.cni.errors import (
    CNIError,
    IncompatibleVersion,
    InvalidConfig,
    InvalidEnvironment,
    UnknownContainer,
)
from multus.cni.exec import DelegateExecutor, plugin_result
from multus.cni.ipam import ARGS_READ_BY_IPAM, cni_args_problem, ipam_type
from multus.cni.results import Result
from multus.cni.valid_attachments import LEGACY_ATTACHMENTS_KEY, VALID_ATTACHMENTS_KEY
from multus.cni.versions import CHECK_SINCE, GC_SINCE, PREV_RESULT_ON_DEL_SINCE, STATUS_SINCE, at_least

log = logging.getLogger(__name__)

# Takes bookkeeping (a write to or a removal from the result cache) to run when the caller chooses.
Later = Callable[[Callable[[], None]], None]


def at_once(work: Callable[[], None]) -> None:
    """The `Later` that runs the work there and then."""
    work()


class ConfigListRunner:
    """Runs config lists with `executor`, keeping ADD results in `cache` for DEL, CHECK and GC.

    ADD and DEL hand their change to the cache to `later`, by default at once. A caller that answers
    first must run it before anything else touches the container: DEL then finds no prevResult only if
    the process dies in between.
    """

    def __init__(self, executor: DelegateExecutor, cache: ResultCache) -> None:
        self.executor = executor
        self.cache = cache

    async def add(
        self, conflist: NetworkConfigList, attachment: Attachment, *, later: Later = at_once
    ) -> Result:
        self._preflight(conflist, attachment)
        result = await self._add(conflist, attachment, later, _Turn(given=True))
        assert result is not None  # only a refused turn gives none
        return result

    async def add_in_turn(
        self, lists: Sequence[tuple[NetworkConfigList, Attachment]], *, later: Later = at_once
    ) -> list[Result | CNIError | None]:
        """ADD each list in order, as one `add` after the other would, stopping at the first failure.

        Except that a list starts as soon as the plugins of the one before it have exited with success,
        with its first plugin's input made beforehand: the previous result is read and cached while this
        list runs. A plugin that exits 0 but prints an invalid result thus fails once the next list has
        started.

        Gives, per list, its result, its error, or None if it did not start: the caller undoes every list
        that did not give None. An exception other than a `CNIError` is raised once every list has ended.
        A list refused before it runs (see `_preflight`) fails them all before any plugin runs: only its
        error is given.
        """
        for index, (conflist, attachment) in enumerate(lists):
            try:
                self._preflight(conflist, attachment)
            except CNIError as exc:
                return [exc if position == index else None for position in range(len(lists))]
        turns = [_Turn(given=index == 0) for index in range(len(lists))]

        async def in_turn(index: int, conflist: NetworkConfigList, attachment: Attachment) -> Result | None:
            following = turns[index + 1] if index + 1 < len(turns) else None
            try:
                return await self._add(conflist, attachment, later, turns[index], following)
            except BaseException:
                for turn in turns[index + 1 :]:
                    turn.refuse()
                raise

        return _settled(
            await asyncio.gather(
                *(in_turn(index, conflist, attachment) for index, (conflist, attachment) in enumerate(lists)),
                return_exceptions=True,
            )
        )

    async def _add(
        self,
        conflist: NetworkConfigList,
        attachment: Attachment,
        later: Later,
        turn: _Turn,
        following: _Turn | None = None,
    ) -> Result | None:
        """The list's ADD once `turn` is given (None if it is refused); gives `following` as soon as the
        last plugin has exited with success."""
        env = attachment.environment(Command.ADD)
        if not conflist.plugins:
            raise InvalidConfig(f"network {conflist.name!r} has no plugins")
        stdin = plugin_stdin(conflist, conflist.plugins[0], capability_args=attachment.capability_args)
        if not await turn.taken():
            return None
        last = len(conflist.plugins) - 1
        result: Result | None = None
        for position, plugin in enumerate(conflist.plugins):
            if position:
                stdin = plugin_stdin(
                    conflist, plugin, prev_result=result, capability_args=attachment.capability_args
                )
            try:
                # The next list spawns its plugin before we read our result.
                succeeded = following.give if position == last and following is not None else None
                stdout = await self.executor.execute(plugin.type, env, stdin, succeeded=succeeded)
                result = plugin_result(plugin.type, stdout, conflist.version).convert_to(conflist.version)
            except CNIError as exc:
                raise _naming(exc, conflist, position, Command.ADD) from exc
        assert result is not None  # the list has plugins
        later(functools.partial(self._remember, conflist, attachment, result))
        return result

    def _preflight(self, conflist: NetworkConfigList, attachment: Attachment) -> None:
        """Refuse, before anything runs, an attachment whose result could not be cached (found after its
        plugins ran, the failure would stay behind with them; thick mode would only log it) or whose
        CNI_ARGS its plugins would refuse (on DEL too, for ever)."""
        self.cache.path(conflist.name, attachment.container_id, attachment.ifname)
        refused = _refused_args(conflist, attachment)
        if refused is not None:
            raise refused

    def _remember(self, conflist: NetworkConfigList, attachment: Attachment, result: Result) -> None:
        """Cache an ADD's result for its DEL, CHECK and GC: a small file, not synced, as libcni's."""
        entry = CachedAttachment(
            network_name=conflist.name,
            container_id=attachment.container_id,
            ifname=attachment.ifname,
            config=conflist.to_bytes(),
            netns=attachment.netns,
            cni_args=attachment.cni_args,
            capability_args=dict(attachment.capability_args),
            result=result,
        )
        self.cache.write(entry)

    async def check(self, conflist: NetworkConfigList, attachment: Attachment) -> None:
        """CHECK against the cached result; IncompatibleVersion before 0.4.0, which has no CHECK."""
        if not at_least(conflist.version, CHECK_SINCE):
            raise IncompatibleVersion(
                f"network {conflist.name!r} uses cniVersion {conflist.version}, "
                f"and CHECK needs {CHECK_SINCE} or later"
            )
        if conflist.disable_check:
            return
        env = attachment.environment(Command.CHECK)
        cached = self.cache.read(conflist.name, attachment.container_id, attachment.ifname)
        if cached is None or cached.result is None:
            raise UnknownContainer(
                f"network {conflist.name!r} has no cached result for container {attachment.container_id} "
                f"interface {attachment.ifname}: nothing was added to check"
            )
        for position, plugin in enumerate(conflist.plugins):
            stdin = plugin_stdin(
                conflist, plugin, prev_result=cached.result, capability_args=attachment.capability_args
            )
            try:
                await self.executor.execute(plugin.type, env, stdin)
            except CNIError as exc:
                raise _naming(exc, conflist, position, Command.CHECK) from exc

    async def delete(
        self,
        conflist: NetworkConfigList,
        attachment: Attachment,
        *,
        later: Later = at_once,
        kept_result: Mapping[str, Any] | None = None,
    ) -> None:
        """DEL in reverse order, with the ADD's result as `prevResult`: `kept_result` when the caller kept
        it (in the list's version), the cached one otherwise. Capability arguments fall back to those
        cached at ADD, so a DEL from a runtime that no longer knows them (port mappings, bandwidth) still
        hands them to the plugins."""
        await self._delete(conflist, attachment, later, kept_result, turn=_Turn(given=True))

    async def delete_in_turn(
        self,
        lists: Sequence[tuple[NetworkConfigList, Attachment, Mapping[str, Any] | None]],
        *,
        later: Later = at_once,
    ) -> list[CNIError | None]:
        """DEL each (list, attachment, kept result) in the order given, as one `delete` after the other
        would: each once the one before has ended, whatever its outcome. Its first plugin's input is made
        while the one before runs.

        Gives, per list, None or its error. An exception other than a `CNIError` is raised once every
        list has ended.
        """
        turns = [_Turn(given=index == 0) for index in range(len(lists))]

        async def in_turn(
            index: int, conflist: NetworkConfigList, attachment: Attachment, kept: Mapping[str, Any] | None
        ) -> None:
            following = turns[index + 1] if index + 1 < len(turns) else None
            try:
                await self._delete(conflist, attachment, later, kept, turn=turns[index], following=following)
            finally:
                if following is not None:
                    following.give()

        return _settled(
            await asyncio.gather(
                *(in_turn(index, *job) for index, job in enumerate(lists)), return_exceptions=True
            )
        )

    async def _delete(
        self,
        conflist: NetworkConfigList,
        attachment: Attachment,
        later: Later,
        kept_result: Mapping[str, Any] | None,
        *,
        turn: _Turn,
        following: _Turn | None = None,
    ) -> None:
        """The list's DEL once `turn` is given; gives `following` as soon as the last plugin has exited
        with success (the caller gives it after a failure)."""
        env = attachment.environment(Command.DEL)
        refused = _refused_args(conflist, attachment)
        if refused is not None:  # its ADD was refused before anything ran: nothing to undo
            log.warning("DEL of %s skips plugins that refuse its input: %s", conflist.name, refused.msg)
            await turn.taken()  # the caller gives `following` as this returns
            return
        prev_result: Result | Mapping[str, Any] | None = kept_result
        capability_args = attachment.capability_args
        if kept_result is None and (cached := self._cached_for_delete(conflist, attachment)) is not None:
            prev_result = cached.result
            capability_args = capability_args or cached.capability_args
        if not at_least(conflist.version, PREV_RESULT_ON_DEL_SINCE):
            prev_result = None
        inputs = [
            (
                position,
                plugin,
                plugin_stdin(conflist, plugin, prev_result=prev_result, capability_args=capability_args),
            )
            for position, plugin in reversed(list(enumerate(conflist.plugins)))
        ]
        await turn.taken()  # given once the list before has ended, whatever became of it
        for position, plugin, stdin in inputs:
            succeeded = following.give if following is not None and position == 0 else None
            try:
                await self.executor.execute(plugin.type, env, stdin, succeeded=succeeded)
            except CNIError as exc:
                raise _naming(exc, conflist, position, Command.DEL) from exc
        later(functools.partial(self.cache.delete, conflist.name, attachment.container_id, attachment.ifname))

    async def status(self, conflist: NetworkConfigList) -> None:
        if not at_least(conflist.version, STATUS_SINCE):
            return
        env = CNIEnvironment(Command.STATUS)
        for position, plugin in enumerate(conflist.plugins):
            try:
                await self.executor.execute(plugin.type, env, plugin_stdin(conflist, plugin))
            except CNIError as exc:
                raise _naming(exc, conflist, position, Command.STATUS) from exc

    async def gc(self, conflist: NetworkConfigList, valid_attachments: Iterable[tuple[str, str]]) -> None:
        """Remove what is left of every attachment of this network outside `valid_attachments`.

        `valid_attachments` holds the (container ID, interface name) pairs still in use on this network.
        It is required: an absent list must never be read as "nothing is valid". Every failure is
        collected, and the first one is raised with the others in its details.
        """
        if conflist.disable_gc:
            return
        valid = set(valid_attachments)
        failures: list[CNIError] = []
        for entry in await asyncio.to_thread(self.cache.entries, conflist.name):
            if (entry.container_id, entry.ifname) in valid:
                continue
            try:
                stale = Attachment(
                    entry.container_id, entry.ifname, entry.netns, entry.cni_args, entry.capability_args
                )
                await self.delete(conflist, stale)
            except CNIError as exc:
                failures.append(exc)
        if at_least(conflist.version, GC_SINCE):
            listed = [{"containerID": container, "ifname": ifname} for container, ifname in sorted(valid)]
            extra = {VALID_ATTACHMENTS_KEY: listed, LEGACY_ATTACHMENTS_KEY: listed}
            env = CNIEnvironment(Command.GC)
            for position, plugin in enumerate(conflist.plugins):
                try:
                    await self.executor.execute(plugin.type, env, plugin_stdin(conflist, plugin, extra=extra))
                except CNIError as exc:
                    failures.append(_naming(exc, conflist, position, Command.GC))
        if failures:
            first = failures[0]
            details = "; ".join(str(failure) for failure in failures)
            context = f"GC of network {conflist.name!r}: {len(failures)} failure(s), first"
            raise first.with_context(context, details=details)

    def _cached_for_delete(
        self, conflist: NetworkConfigList, attachment: Attachment
    ) -> CachedAttachment | None:
        try:
            return self.cache.read(conflist.name, attachment.container_id, attachment.ifname)
        except CNIError as exc:
            log.warning("DEL of %s proceeds without its cached result: %s", conflist.name, exc)
            return None


_Outcome = TypeVar("_Outcome")


def _settled(outcomes: list[_Outcome | BaseException]) -> list[_Outcome | CNIError]:
    """Gathered outcomes with their CNI errors; any other exception, a bug, is raised."""
    settled: list[_Outcome | CNIError] = []
    for outcome in outcomes:
        if isinstance(outcome, CNIError) or not isinstance(outcome, BaseException):
            settled.append(outcome)
        else:
            raise outcome
    return settled


class _Turn:
    """When a list of `add_in_turn` may start: given by the list before it, refused after a failure."""

    def __init__(self, *, given: bool) -> None:
        self._decided: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if given:
            self.give()

    def give(self) -> None:
        if not self._decided.done():
            self._decided.set_result(True)

    def refuse(self) -> None:
        if not self._decided.done():
            self._decided.set_result(False)

    async def taken(self) -> bool:
        return await self._decided


def _refused_args(conflist: NetworkConfigList, attachment: Attachment) -> CNIError | None:
    """Why an IPAM plugin of the list would refuse the attachment's CNI_ARGS (host-local and static
    read `IP`, static `GATEWAY`), or None."""
    if not any(key in ARGS_READ_BY_IPAM for key, _ in attachment.cni_args):
        return None
    for position, plugin in enumerate(conflist.plugins):
        kind = ipam_type(plugin.stdin_base(conflist.name, conflist.version))
        refused = cni_args_problem(kind, attachment.cni_args)
        if refused is not None:
            return InvalidEnvironment(
                f"network {conflist.name!r}: plugin {position + 1}/{len(conflist.plugins)} has {kind} IPAM, "
                f"which refuses {refused.where}: {refused.problem}"
            )
    return None


def _naming(exc: CNIError, conflist: NetworkConfigList, position: int, command: Command) -> CNIError:
    """The same error and code, saying which plugin of which network failed."""
    plugin = f'plugin {position + 1}/{len(conflist.plugins)} type="{conflist.plugins[position].type}"'
    return exc.with_context(f"{plugin} of network {conflist.name!r} failed ({command})")
