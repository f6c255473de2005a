"""Requests in flight between Triton and a generator that runs in its own thread, and their responses.

The torch runtime model (its engine) and the llmapi model (its executor) both hand each request to something
that generates in another thread and calls back with updates. What happens to those updates is the same
for both, and lives here once:

- decoupled: `execute` returns at once; a responder thread sends each update (the latest one per request
  when several wait) and polls for cancelled requests every `check_period` seconds;
- not decoupled: `execute` waits for its requests and returns one response each.

A model subclasses `InFlightModel` and says only what differs: how its generator cancels (`_cancel`),
which tensors an update becomes (`_arrays`) and whether a request streams (`_streaming`).
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import triton_python_backend_utils as pb_utils
from numpy.typing import NDArray

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class Update(Protocol):
    """What a generator reports for one request (read-only here: the models' updates are dataclasses)."""

    @property
    def finished(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def cancelled(self) -> bool: ...


WorkT = TypeVar("WorkT")
UpdateT = TypeVar("UpdateT", bound=Update)
Listener = Callable[[UpdateT], None]


@dataclass
class InFlight(Generic[WorkT, UpdateT]):
    """One request a generator is working on."""

    key: str  # the generator's id for it (Triton's request id is the client's, and may be empty or repeated)
    triton_id: str
    work: WorkT  # what the model made of the request: what `_arrays` needs to answer it
    sender: Any  # decoupled: the response sender; else None
    triton_request: Any = None  # not decoupled: the Triton request, to poll for cancellation
    done: threading.Event = field(default_factory=threading.Event)
    final: UpdateT | None = None
    closed: bool = False


class InFlightModel(Generic[WorkT, UpdateT]):
    """Triton's `execute` and `finalize` for a model whose generator calls back, and what lies behind them.

    The model's `initialize` ends with `_start_serving`; the model implements the hooks below.
    """

    # Messages of these errors, raised by the generator's submit, go to the client as they are.
    client_errors: tuple[type[Exception], ...] = ()

    def _start_serving(
        self,
        *,
        decoupled: bool,
        check_period: float,
        thread_name: str,
        shutdown: Callable[[], None],
        ready: str,
    ) -> None:
        """Call at the end of `initialize`: start the responder thread and say `ready` in the log.

        `shutdown` stops the generator (`finalize` calls it before it ends the responder).
        """
        self.decoupled = decoupled
        self.check_period = check_period
        self._shutdown_generator = shutdown
        self.ids = itertools.count()
        self.in_flight: dict[str, InFlight[WorkT, UpdateT]] = {}
        self.in_flight_lock = threading.Lock()
        self.updates: queue.SimpleQueue[tuple[InFlight[WorkT, UpdateT], UpdateT] | None] = queue.SimpleQueue()
        self.responder = threading.Thread(target=self._respond_loop, name=thread_name, daemon=True)
        self.responder.start()
        pb_utils.Logger.log_info(f"{ready}, {'decoupled' if decoupled else 'not decoupled'}")

    def finalize(self) -> None:
        """Stop the generator, then the responder thread."""
        self._shutdown_generator()
        self.updates.put(None)
        self.responder.join(timeout=5)

    def execute(self, requests: list[Any]) -> list[Any] | None:
        """Decoupled: queue every request and return; otherwise wait for all of them."""
        started = [self._start(request) for request in requests]
        if self.decoupled:
            return None
        return [self._wait(item) for item in started]

    # -- what each model says ----------------------------------------------------------------------------

    def _start(self, request: Any) -> InFlight[WorkT, UpdateT] | Any:
        """Parse and `_submit` one request, or answer it at once (invalid, or a stop request)."""
        raise NotImplementedError

    def _cancel(self, item: InFlight[WorkT, UpdateT]) -> None:
        """The client went away: stop generating for `item`; its generator's (or our) final update closes it."""
        raise NotImplementedError

    def _arrays(self, item: InFlight[WorkT, UpdateT], update: UpdateT) -> dict[str, NDArray[Any]]:
        """The output tensors of one (successful) update."""
        raise NotImplementedError

    def _streaming(self, item: InFlight[WorkT, UpdateT]) -> bool:
        """Whether the client asked for every update, not only the last one."""
        raise NotImplementedError

    def _every_check_period(self) -> None:
        """Run by the responder thread every `check_period` (decoupled only)."""
        self._check_cancellations()

    # -- requests in -------------------------------------------------------------------------------------

    def _submit(
        self,
        request: Any,
        sender: Any,
        work: WorkT,
        submit: Callable[[str, Listener[UpdateT]], None],
    ) -> InFlight[WorkT, UpdateT] | Any:
        """Track a parsed request and `submit(key, listener)` it to the generator; a refusal is its answer."""
        item: InFlight[WorkT, UpdateT] = InFlight(
            str(next(self.ids)), request.request_id(), work, sender, None if self.decoupled else request
        )
        with self.in_flight_lock:
            self.in_flight[item.key] = item
        try:
            submit(item.key, lambda update: self._on_update(item, update))
        except Exception as error:  # noqa: BLE001 - the request gets the error, the model goes on
            with self.in_flight_lock:
                self.in_flight.pop(item.key, None)
            client = isinstance(error, self.client_errors)
            return self._answer(
                sender, error_response(str(error) if client else f"cannot queue the request: {error}")
            )
        return item

    def _answer(self, sender: Any, response: Any) -> Any:
        """Send an immediate answer (decoupled), or return it for `execute` to return."""
        if sender is not None:
            send(sender, response, FINAL)
        return response

    def _wait(self, item: InFlight[WorkT, UpdateT] | Any) -> Any:
        """Not decoupled: block until the request finishes (or its client goes away)."""
        if not isinstance(item, InFlight):
            return item
        while not item.done.wait(self.check_period):
            if item.triton_request is not None and item.triton_request.is_cancelled():
                self._cancel(item)
        with self.in_flight_lock:
            self.in_flight.pop(item.key, None)
        update = item.final
        if update is None or update.error:
            message = update.error if update is not None and update.error else "the request was cancelled"
            return error_response(message, cancelled=update is None or update.cancelled)
        return response(self._arrays(item, update))

    # -- responses out -----------------------------------------------------------------------------------

    def _on_update(self, item: InFlight[WorkT, UpdateT], update: UpdateT) -> None:
        """Called in the generator's thread: hand over, never block it."""
        if self.decoupled:
            self.updates.put((item, update))
        elif update.finished:
            item.final = update
            item.done.set()

    def _respond_loop(self) -> None:
        """Run `_respond` until `finalize`; an error is logged, never fatal to the thread."""
        while True:
            try:
                self._respond()
                return
            except Exception as error:  # noqa: BLE001 - one bad response must not stop the responder
                pb_utils.Logger.log_error(f"responder error (continuing): {error!r}")

    def _respond(self) -> None:
        """Send queued updates (the latest per request when several wait) and poll for cancellations."""
        next_check = time.monotonic() + self.check_period
        while True:
            batch: list[tuple[InFlight[WorkT, UpdateT], UpdateT]] = []
            try:
                first = self.updates.get(timeout=self.check_period)
            except queue.Empty:
                pass  # nothing to send: still check for cancellations below
            else:
                if first is None:
                    return
                batch.append(first)
            while True:
                try:
                    more = self.updates.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    return
                batch.append(more)
            # The latest update per request; a final one is never replaced (a generator thread may still
            # deliver an update it took before a cancel's final one was queued).
            latest: dict[str, tuple[InFlight[WorkT, UpdateT], UpdateT]] = {}
            for item, update in batch:
                if update.finished or item.key not in latest or not latest[item.key][1].finished:
                    latest[item.key] = (item, update)
            for item, update in latest.values():
                self._send_update(item, update)
            if time.monotonic() >= next_check:
                self._every_check_period()
                next_check = time.monotonic() + self.check_period

    def _send_update(self, item: InFlight[WorkT, UpdateT], update: UpdateT) -> None:
        if item.closed:
            return
        if update.finished:
            item.closed = True
            with self.in_flight_lock:
                self.in_flight.pop(item.key, None)
        if update.error:
            send(item.sender, error_response(update.error, cancelled=update.cancelled), FINAL)
            return
        if not update.finished and not self._streaming(item):
            return
        sent = send(item.sender, response(self._arrays(item, update)), FINAL if update.finished else 0)
        if not sent and not update.finished:  # the client is gone (an HTTP stream closed): stop now
            self._cancel(item)

    def _check_cancellations(self) -> None:
        with self.in_flight_lock:
            candidates = [item for item in self.in_flight.values() if item.sender is not None]
        for item in candidates:
            try:
                cancelled = item.sender.is_cancelled()
            except Exception:  # noqa: BLE001 - a sender that cannot answer is gone
                cancelled = True
            if cancelled:
                self._cancel(item)


def response(arrays: dict[str, NDArray[Any]]) -> Any:
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor(name, value) for name, value in arrays.items()]
    )


def error_response(message: str, *, cancelled: bool = False, invalid: bool = False) -> Any:
    """An error response: CANCELLED, INVALID_ARG (HTTP 400 rather than 500) or plain, where the backend has them."""
    code = None
    if cancelled:
        code = getattr(pb_utils.TritonError, "CANCELLED", None)
    elif invalid:
        code = getattr(pb_utils.TritonError, "INVALID_ARG", None)
    error = pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)
    return pb_utils.InferenceResponse(output_tensors=[], error=error)


def send(sender: Any, reply: Any, flags: int) -> bool:
    """Send (a response, or only the flags), tolerating a client that has gone away: False then."""
    try:
        if reply is None:
            sender.send(flags=flags)
        else:
            sender.send(reply, flags=flags)
    except Exception as error:  # noqa: BLE001 - a client that went away must not stop the responder
        pb_utils.Logger.log_warn(f"could not send a response (client gone?): {error}")
        return False
    return True
