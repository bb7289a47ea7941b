"""A search's candidates as Ray tasks (`mc.fanout.FanOut` on Ray), used by the steps of
`mc run --executor ray`: `map` submits one task per candidate with one CPU, anywhere in the cluster,
the shared inputs put in the object store once; `exclusive` runs the search's timing as one task
that takes every CPU of the node the search's results are valid for (the driver's: a timing-chosen
step's cache key names that host), so the candidates of one comparison are timed together there with
nothing else on its cores. A task blocked waiting for these lends its own CPU meanwhile (Ray's rule),
so a search's step and its candidates fit on one two-CPU node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mc.errors import BackendUnavailable, McError

MAX_RETRIES = 2  # a worker that dies mid-task is retried this often, then the task fails with the reason
WAIT_S = 0.5  # how often a waiting caller wakes (an interrupt is handled within this)
INSTALL_HINT = "Ray is not installed: pip install 'mc[ray]' (ray>=2.60,<2.61), or run with --executor local"


def import_ray():
    try:
        import ray
    except ImportError:
        raise BackendUnavailable(INSTALL_HINT) from None
    return ray


def cancel_tasks(ray: Any, refs: list[Any]) -> None:
    """Force-cancel every task in `refs` that still runs (an interrupt: nothing may run on)."""
    for ref in refs:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # already finished, or its worker already gone
            pass


def _item(fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> Any:
    return fn(shared, item)


def _whole(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


class RayFanOut:
    def __init__(self, node_id: str, max_retries: int = MAX_RETRIES):
        ray = import_ray()
        self.ray, self.node_id, self.max_retries = ray, node_id, max_retries
        self._item, self._whole = ray.remote(_item), ray.remote(_whole)

    def _result(self, ref: Any) -> Any:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            raise KeyboardInterrupt from None
        except ray.exceptions.RayTaskError as error:  # what the function raised, as it raised it
            cause = getattr(error, "cause", None)
            if isinstance(cause, Exception):
                raise cause from None
            raise McError(f"a fanned-out task failed: {(str(error).strip().splitlines() or [''])[0][:300]}") from None
        except ray.exceptions.RayError as error:  # its worker died, after the retries
            raise McError(f"a fanned-out task failed ({type(error).__name__}, after {self.max_retries} retries)") from None

    def _cancel(self, refs: list[Any]) -> None:
        cancel_tasks(self.ray, refs)

    def map(self, fn: Callable[[Any, Any], Any], items: Sequence[Any], shared: Any = None,
            on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
        ray = self.ray
        if not items:
            return []
        shared_ref = ray.put(shared)  # once, however many tasks read it
        refs = [self._item.options(num_cpus=1, max_retries=self.max_retries).remote(fn, shared_ref, item) for item in items]
        position = {ref: index for index, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_S)
                for ref in ready:
                    index = position[ref]
                    results[index] = self._result(ref)
                    if on_result is not None:
                        on_result(index, results[index])
        except BaseException:  # an interrupt, or a task that failed: nothing of this fan-out runs on
            self._cancel(pending)
            raise
        return results

    def exclusive(self, fn: Callable[..., Any], *args: Any) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self.ray
        cpus = next((node["Resources"].get("CPU", 1.0) for node in ray.nodes() if node["NodeID"] == self.node_id and node.get("Alive")), None)
        if cpus is None:
            raise McError(f"the node {self.node_id[:12]} this search is timed on has left the Ray cluster")
        ref = self._whole.options(num_cpus=cpus, max_retries=self.max_retries,
                                  scheduling_strategy=NodeAffinitySchedulingStrategy(self.node_id, soft=False)).remote(fn, *args)
        try:
            while not ray.wait([ref], timeout=WAIT_S)[0]:
                pass
        except BaseException:
            self._cancel([ref])
            raise
        return self._result(ref)
