from __future__ import annotations

from typing import Any

from himoe_core import InputData, Value

from .ray_expert import RayExpert


class LearningRayExpert(RayExpert):
    """A hosted expert that learns (`learn`, `state_dict`, `load_state_dict`): one state for
    all its replicas.

    Learning happens here, on the local instance, in the order feedback arrives. After it
    learned, the next call puts the local ``state_dict()`` in Ray's object store once and sends
    its reference, with a version number, along with every call; a replica whose state is older
    loads it before answering. So every replica answers with the same state, the one the caller
    saves in its state file, and no answer uses a state older than the feedback given before
    the call started.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._version = 0

    def learn(self, x: InputData, value: Value, reward: float, *, expected: Value | None = None) -> None:
        self._local.learn(x, value, reward, expected=expected)
        self._changed()

    def state_dict(self) -> dict[str, Any]:
        return self._local.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._local.load_state_dict(state)
        self._changed()

    def _changed(self) -> None:
        with self._state_lock:
            self._version += 1
            self._state = None

    def _state_for_call(self) -> tuple[int, list] | None:
        with self._state_lock:
            if self._version == 0:
                return None
            if self._state is None:
                import ray

                # In a list: Ray passes a nested ObjectRef as is, and the replica fetches it
                # only when its own state is older.
                self._state = (self._version, [ray.put(self._local.state_dict())])
            return self._state
