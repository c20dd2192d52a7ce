"""The Redis queue backend: a stream read by a consumer group (`settings.queue.backend = "redis"`).

The `queue` table stays the transactional outbox (`PostcardStore.create_task`); the outbox relay
(`services.postcard.outbox`) moves its rows to the stream `queue.stream`. Workers read it as the
consumer group `queue.group` (created when missing), each worker a consumer named by its owner
string (host:pid:random:index). A pending entry (delivered, not yet acknowledged) is the lease:

- claim: first take over an entry idle for `lease_seconds` (its worker died or stalled) with
  `XAUTOCLAIM` (one at a time, following its cursor through the pending entries); its delivery
  count is the attempt. An entry delivered more than `max_attempts` times is given up: its task is
  failed with `GAVE_UP_REASON`, the entry acknowledged and deleted. Otherwise read a new entry
  (`XREADGROUP ... BLOCK poll_interval`). An entry whose task is no longer `processing` in the
  database (a duplicate from the relay, or finished by a worker whose acknowledgement failed) is
  acknowledged and skipped. A claim reads the database only for that status.
- renew / release / complete / fail are fenced by one Lua script (`FENCE`): the entry must still be
  pending for this consumer with the claim's delivery count, i.e. nobody took it over meanwhile.
  renew resets its idle time (`XCLAIM ... 0 id JUSTID`); release hands it back at once without
  using an attempt (`XCLAIM` with `IDLE` = the lease and `RETRYCOUNT` one less: the next
  `XAUTOCLAIM` takes it and counts the same attempt again).
- complete / fail then write the database (only to a task still `processing`: completion at most
  once), then acknowledge and delete the entry (`XACK` + `XDEL` in one `MULTI`). If that last step
  fails, the entry is taken over later and skipped by the status check.
- close (after the workers stopped): the consumers of this process that hold no pending entry are
  deleted; one that holds entries stays (`XGROUP DELCONSUMER` would drop its entries), and its
  entries are taken over when they have been idle for the lease.

Delivery is at-least-once; with Redis down, claims, renewals and results fail and the pool backs
off and retries; a result that could not be stored is produced again after the lease.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio
from redis.exceptions import ResponseError

from services.common.backoff import error_text
from services.common.sqlite import Database
from services.postcard.artwork import Artwork
from services.postcard.stream import ensure_group, task_of
from services.postcard.taskqueue import GAVE_UP_REASON, Claim, store_completion, store_failure

log = logging.getLogger(__name__)

# KEYS[1] the stream; ARGV: group, consumer, entry id, delivery count, action, idle ms (release).
# The claim holds while the entry is pending for the consumer with the count it was claimed with.
FENCE = """
local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)[1]
if not entry or entry[2] ~= ARGV[2] or entry[4] ~= tonumber(ARGV[4]) then
  return 0
end
if ARGV[5] == 'renew' then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
elseif ARGV[5] == 'release' then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'IDLE', ARGV[6], 'RETRYCOUNT', entry[4] - 1, 'JUSTID')
end
return 1
"""

# KEYS[1] the stream; ARGV: group, consumer names. Deletes those of the consumers that have no pending
# entries (atomically: none can get one in between); the number deleted.
FORGET_IDLE_CONSUMERS = """
local wanted = {}
for i = 2, #ARGV do wanted[ARGV[i]] = true end
local deleted = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if wanted[info['name']] and info['pending'] == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    deleted = deleted + 1
  end
end
return deleted
"""


class RedisTaskQueue:
    """The `TaskQueue` over a Redis stream and consumer group; the database for task status and results.

    `on_give_up(count)` hears of tasks given up, `on_skip()` of entries skipped because their task was
    no longer processing. `clock` dates results (seconds since the epoch).
    """

    waits_for_work = True  # an empty claim has waited up to poll_interval in XREADGROUP BLOCK

    def __init__(
        self,
        client: redis.asyncio.Redis,
        db: Database,
        *,
        stream: str,
        group: str,
        lease_seconds: float,
        poll_interval: float,
        max_attempts: int,
        on_give_up: Callable[[int], None] = lambda count: None,
        on_skip: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._db = db
        self._stream = stream
        self._group = group
        self.lease_seconds = lease_seconds
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._block_ms = max(1, round(poll_interval * 1000))
        self._max_attempts = max_attempts
        self._on_give_up = on_give_up
        self._on_skip = on_skip
        self._clock = clock
        self._fence = client.register_script(FENCE)
        self._forget = client.register_script(FORGET_IDLE_CONSUMERS)
        self._group_ready = False
        self._cursor = "0-0"  # XAUTOCLAIM's, through the group's pending entries
        self._consumers: set[str] = set()

    async def claim(self, owner: str) -> Claim | None:
        """A task taken over from a dead worker, else a new one (waiting up to poll_interval); None if none."""
        self._consumers.add(owner)
        try:
            if not self._group_ready:
                await ensure_group(self._client, self._stream, self._group)
                self._group_ready = True
            while True:
                entry = await self._take_over(owner) or await self._read_new(owner)
                if entry is None:
                    return None
                claim = await self._admit(owner, *entry)
                if claim is not None:
                    return claim
        except ResponseError as error:
            if "NOGROUP" in str(error):
                self._group_ready = False  # Redis lost the group (restarted without its data?): create it again
            raise

    async def renew(self, claim: Claim) -> bool:
        return await self._fenced(claim, "renew")

    async def release(self, claim: Claim) -> bool:
        return await self._fenced(claim, "release")

    async def complete(self, claim: Claim, postcard_id: str, artwork: Artwork) -> bool:
        if not await self._fenced(claim, "check"):
            return False

        def write() -> bool:
            with self._db.transaction(immediate=True) as conn:
                return store_completion(conn, claim, postcard_id, artwork, self._clock())

        return await self._finish(claim, write)

    async def fail(self, claim: Claim, reason: str) -> bool:
        if not await self._fenced(claim, "check"):
            return False

        def write() -> bool:
            with self._db.transaction(immediate=True) as conn:
                return store_failure(conn, claim.task_id, reason, self._clock())

        return await self._finish(claim, write)

    async def close(self) -> None:
        """Delete this process's consumers that hold no pending entry, then close the connections."""
        try:
            if self._consumers:
                deleted = await self._forget(keys=[self._stream], args=[self._group, *sorted(self._consumers)])
                log.info("stream consumers removed", extra={"removed": deleted, "consumers": len(self._consumers)})
        except Exception as error:
            # Harmless: an empty consumer costs Redis a few bytes; one with entries must stay anyway.
            log.warning("removing stream consumers failed", extra={"error": error_text(error)})
        finally:
            await self._client.aclose()

    async def _take_over(self, owner: str) -> tuple[str, dict[str, str], int] | None:
        """An entry idle for the lease, now pending for `owner`, with its delivery count; None if none."""
        reply: list[Any] = await self._client.xautoclaim(
            self._stream, self._group, owner, min_idle_time=self._lease_ms, start_id=self._cursor, count=1
        )
        self._cursor = reply[0]
        # Redis 7 lists the pending ids whose entries were deleted (and drops them from the group).
        gone = list(reply[2]) if len(reply) > 2 else []
        taken = [(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]
        gone += [entry_id for entry_id, fields in reply[1] if fields is None]  # Redis 6.2's way
        if gone:
            await self._client.xack(self._stream, self._group, *gone)
        if not taken:
            return None
        entry_id, fields = taken[0]
        pending = await self._client.xpending_range(self._stream, self._group, min=entry_id, max=entry_id, count=1)
        if not pending or pending[0]["consumer"] != owner:
            return None  # taken over again in between: not ours after all
        return entry_id, fields, int(pending[0]["times_delivered"])

    async def _read_new(self, owner: str) -> tuple[str, dict[str, str], int] | None:
        reply: Any = await self._client.xreadgroup(
            self._group, owner, {self._stream: ">"}, count=1, block=self._block_ms
        )
        if not reply:
            return None
        [[_, entries]] = reply
        entry_id, fields = entries[0]
        return entry_id, fields, 1

    async def _admit(self, owner: str, entry_id: str, fields: dict[str, str], deliveries: int) -> Claim | None:
        """The claim of an entry now pending for `owner`; None (entry settled) when it is not to be worked on."""
        try:
            task = task_of(fields)
        except KeyError:
            log.error("stream entry without a task dropped", extra={"entry_id": entry_id, "fields": sorted(fields)})
            await self._acknowledge(entry_id)
            return None
        status = await asyncio.to_thread(self._status, task.task_id)
        if status != "processing":
            # A duplicate (the relay re-sent it) or a finished task whose acknowledgement was lost.
            log.info("stream entry skipped: its task is not processing",
                     extra={"task_id": task.task_id, "entry_id": entry_id, "status": status})
            await self._acknowledge(entry_id)
            self._on_skip()
            return None
        if deliveries > self._max_attempts:
            attempts = deliveries - 1
            await asyncio.to_thread(self._give_up, task.task_id, GAVE_UP_REASON.format(attempts=attempts))
            await self._acknowledge(entry_id)
            log.warning("task given up", extra={"task_id": task.task_id, "attempts": attempts})
            self._on_give_up(1)
            return None
        return Claim(task.task_id, task.user_id, owner, entry_id, deliveries, task.request, task.origin)

    async def _fenced(self, claim: Claim, action: str) -> bool:
        held = await self._fence(
            keys=[self._stream],
            args=[self._group, claim.owner, claim.lease_token, claim.attempts, action, self._lease_ms],
        )
        return bool(held)

    async def _finish(self, claim: Claim, write: Callable[[], bool]) -> bool:
        """Store the result (`write`, in a thread), then acknowledge the entry either way: when the task
        was no longer processing, the entry is of no use either."""
        stored = await asyncio.to_thread(write)
        try:
            await self._acknowledge(claim.lease_token)
        except Exception as error:
            # The result is stored; the entry is taken over after the lease and skipped then.
            log.warning("acknowledging a finished task's entry failed",
                        extra={"task_id": claim.task_id, "entry_id": claim.lease_token, "error": error_text(error)})
        return stored

    async def _acknowledge(self, entry_id: str) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, self._group, entry_id)
            pipe.xdel(self._stream, entry_id)
            await pipe.execute()

    def _status(self, task_id: str) -> str | None:
        with self._db.transaction() as conn:
            row = conn.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else str(row["status"])

    def _give_up(self, task_id: str, reason: str) -> None:
        with self._db.transaction(immediate=True) as conn:
            store_failure(conn, task_id, reason, self._clock())
