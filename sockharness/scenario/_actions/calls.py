"""``call``: a scenario step that calls the user's own code (or any importable function) by import path.

A ``call`` step names a function, class or method (``package.module:qualname``), or a method or
attribute of an object an earlier step saved (``object: $client``) or of a scenario socket (``object: c``).
Its arguments can name what only exists at run time: a peer's address, host or port, a saved value, a
scenario socket, generated payload bytes, another importable object. The return value is judged and
saved like any socket call's.

Where the call runs, and why:

* every call runs on a worker thread of its own, so the step's ``timeout`` can always fire, even for a
  call that blocks forever. A sync call that hangs is left running on its (daemon) thread, because Python
  cannot stop a thread; the step fails at once with a report that names it, and teardown waits for the
  thread and reports it if it still runs.
* a coroutine function (or any call with ``await: true``) is awaited on the scenario's own event loop:
  created at the first call, run only while a step awaits on it, and closed at the end of the
  scenario, with its leftover tasks cancelled and its transports closed. A hanging await is cancelled
  at the step timeout. ``wait_for`` wraps the await in :func:`asyncio.wait_for`, so its
  ``TimeoutError`` is an outcome the step can expect.

Nothing is imported while a file is validated: ``sockharness validate`` checks only the spelling, and the
run reports a path that does not import, a missing attribute or a target that is not callable at the
step's file:line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, Self

from pydantic import Field, PlainValidator, TypeAdapter, ValidationError, WithJsonSchema, model_validator

from sockharness.scenario._actions.args import Args
from sockharness.scenario._actions.base import (
    Action,
    Environment,
    KeyPath,
    ScenarioSetupError,
    Use,
    register,
)
from sockharness.scenario._actions.imports import ImportPathError, attribute, import_object
from sockharness.scenario._language.errors import describe_value
from sockharness.scenario._language.import_paths import AttributePath, ImportPath, is_import_path
from sockharness.scenario._language.model_types import (
    NAME_PATTERN,
    VARIABLE_PATTERN,
    AddressSpec,
    Duration,
    check_exclusive,
    fail,
)
from sockharness.scenario._language.model_types import _parse_address as parse_address  # the one parser
from sockharness.scenario._language.model_values import Payload

if TYPE_CHECKING:
    from sockharness.scenario._run.context import ScenarioContext

__all__ = ["CALL_TIMEOUT", "CallArgs", "CallTimeout", "ScenarioLoop", "scenario_loop"]

#: How long a ``call`` may take when the step gives no ``timeout``.
CALL_TIMEOUT: Final = 5.0
#: After a timed-out await is cancelled, how long the loop gets to finish the cancellation.
_CANCEL_GRACE: Final = 1.0
#: How long teardown gives the event loop to cancel leftover tasks and close transports.
_LOOP_CLOSE_BUDGET: Final = 2.0
_LOOP_SERVICE: Final = "call: event loop"

_VARIABLE_RE: Final = re.compile(VARIABLE_PATTERN)
_NAME_RE: Final = re.compile(NAME_PATTERN)


class CallTimeout(ScenarioSetupError):
    """A call did not return within its step's ``timeout``: the step fails (never an expected outcome)."""


class AwaitableResult(ScenarioSetupError):
    """A call returned an awaitable where the step expected a value (write ``await: true``)."""


# --- argument values ---------------------------------------------------------------------------------
#
# Written values stay as YAML data in the model (so dumping a step for a report never meets a custom type);
# ``_parse`` turns them into the nodes below, once to check the file and again when the step runs.

#: The one-key mappings that stand for something at run time, and what each holds.
VALUE_FORMS: Final = {
    "address": "a peer's or socket's address as a tuple (or a literal / $variable address)",
    "host": "the host of that address (a string)",
    "port": "the port of that address (an int)",
    "socket": "the scenario socket of that name (the socket object itself)",
    "bytes": "the bytes of a payload ({bytes: {size: 64KiB}})",
    "import": "the object at an import path ({import: 'fcntl:F_GETFL'})",
    "value": "the value as written, nothing inside it resolved ({value: '$not-a-variable'})",
    "dict": "a mapping whose keys are taken as written and whose values are resolved",
}

_PAYLOAD: Final[TypeAdapter[Any]] = TypeAdapter(Payload)
_ADDRESS_PART: Final = {"address": None, "host": 0, "port": 1}


@dataclass(frozen=True)
class _Literal:
    value: object


@dataclass(frozen=True)
class _Variable:
    text: str


@dataclass(frozen=True)
class _Address:
    spec: AddressSpec
    index: int | None  # None: the whole address; 0: host; 1: port


@dataclass(frozen=True)
class _SocketRef:
    name: str


@dataclass(frozen=True)
class _Bytes:
    payload: Any


@dataclass(frozen=True)
class _Import:
    path: str


@dataclass(frozen=True)
class _List:
    items: tuple[_Node, ...]


@dataclass(frozen=True)
class _Dict:
    items: tuple[tuple[str, _Node], ...]


_Node = _Literal | _Variable | _Address | _SocketRef | _Bytes | _Import | _List | _Dict


class _ValueProblem(ValueError):
    def __init__(self, message: str, path: KeyPath) -> None:
        super().__init__(message)
        self.path = path


def _parse_address(raw: object, path: KeyPath) -> AddressSpec:
    try:
        return parse_address(raw)
    except ValueError as error:
        raise _ValueProblem(str(error), path) from None


def _parse_form(key: str, raw: object, path: KeyPath) -> _Node:
    here = (*path, key)
    if key in _ADDRESS_PART:
        return _Address(_parse_address(raw, here), _ADDRESS_PART[key])
    if key == "socket":
        if not isinstance(raw, str) or not _NAME_RE.match(raw):
            raise _ValueProblem(f"expected a scenario socket name, got {describe_value(raw)}", here)
        return _SocketRef(raw)
    if key == "bytes":
        try:
            return _Bytes(_PAYLOAD.validate_python(raw))
        except ValidationError as error:
            first = error.errors()[0]
            raise _ValueProblem(str(first.get("ctx", {}).get("detail") or first["msg"]), here) from None
    if key == "import":
        if not isinstance(raw, str) or not is_import_path(raw):
            raise _ValueProblem(
                f"expected an import path like 'fcntl:F_GETFL', got {describe_value(raw)}", here
            )
        return _Import(raw)
    if key == "value":
        return _Literal(raw)
    if not isinstance(raw, dict):  # "dict"
        raise _ValueProblem(f"expected a mapping after dict:, got {describe_value(raw)}", here)
    return _Dict(tuple((str(name), _parse(item, (*here, name))) for name, item in raw.items()))


def _parse(raw: object, path: KeyPath) -> _Node:
    """A written argument value as a node; ``path`` is where it is written (for the error)."""
    if isinstance(raw, str) and raw.startswith("$"):
        if not _VARIABLE_RE.match(raw):
            raise _ValueProblem(
                f"expected a variable like $name or $name[0], got {raw!r} (write {{value: {raw!r}}} "
                "for the text itself)",
                path,
            )
        return _Variable(raw)
    if raw is None or isinstance(raw, bool | int | float | str):
        return _Literal(raw)
    if isinstance(raw, list):
        return _List(tuple(_parse(item, (*path, index)) for index, item in enumerate(raw)))
    if isinstance(raw, dict):
        forms = [key for key in raw if key in VALUE_FORMS]
        if forms and len(raw) > 1:
            others = ", ".join(repr(key) for key in raw if key != forms[0])
            raise _ValueProblem(
                f"{{{forms[0]}: ...}} takes that one key, but this mapping also has {others}; to pass a "
                "mapping with these keys write {dict: {...}}",
                (*path, forms[0]),
            )
        if forms:
            return _parse_form(forms[0], raw[forms[0]], path)
        return _Dict(tuple((str(name), _parse(item, (*path, name))) for name, item in raw.items()))
    raise _ValueProblem(f"expected a value, got {describe_value(raw)}", path)


def _check_value(raw: object) -> object:
    try:
        _parse(raw, ())
    except _ValueProblem as problem:
        raise fail(str(problem), subpath=list(problem.path)) from None
    return raw


_VALUE_SCHEMA: Final = {
    "description": (
        "a value passed to the call: a scalar, $variable, a list, a mapping, or one of "
        + ", ".join(f"{{{key}: ...}}" for key in VALUE_FORMS)
    )
}
#: One argument of a ``call``, as written (checked here, resolved when the step runs).
CallValue = Annotated[Any, PlainValidator(_check_value), WithJsonSchema(_VALUE_SCHEMA)]


def _uses(node: _Node, path: KeyPath) -> Iterator[Use]:
    if isinstance(node, _Variable):
        yield Use("variable", node.text, path)
    elif isinstance(node, _Address):
        yield Use("address", node.spec, path)
    elif isinstance(node, _SocketRef):
        yield Use("socket", node.name, path)
    elif isinstance(node, _List):
        for index, item in enumerate(node.items):
            yield from _uses(item, (*path, index))
    elif isinstance(node, _Dict):
        for name, item in node.items:
            yield from _uses(item, (*path, name))


def _node_path(node: _Node, path: KeyPath) -> KeyPath:
    """The key path of a one-key form (``{socket: c}`` is checked at ``socket``)."""
    if isinstance(node, _Address):
        return (*path, next(key for key, index in _ADDRESS_PART.items() if index == node.index))
    if isinstance(node, _SocketRef):
        return (*path, "socket")
    return path


# --- the arguments -------------------------------------------------------------------------------------


def _check_object(value: object) -> str:
    if isinstance(value, str) and (_VARIABLE_RE.match(value) or _NAME_RE.match(value)):
        return value
    raise ValueError(
        f"expected a saved value ($client) or a scenario socket name, got {describe_value(value)}"
    )


class CallArgs(Args):
    function: ImportPath | None = None
    # ``object``, not ``on``: YAML 1.1 reads a bare ``on`` key as the boolean true.
    object_: Annotated[
        str | None,
        PlainValidator(lambda value: None if value is None else _check_object(value)),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": rf"({VARIABLE_PATTERN})|({NAME_PATTERN})",
                "description": "a saved value ($client) or a scenario socket name",
            }
        ),
    ] = Field(default=None, alias="object")
    method: AttributePath | None = None
    get: AttributePath | None = None
    args: list[CallValue] = Field(default_factory=list)
    kwargs: dict[str, CallValue] = Field(default_factory=dict)
    await_: bool | None = Field(default=None, alias="await")
    wait_for: Duration | None = None
    timeout: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_target(cls, data: object) -> object:
        check_exclusive(data, ("function", "object"), "call", required=True)
        if isinstance(data, dict):
            if "object" in data:
                check_exclusive(data, ("method", "get"), "call on an object", required=True)
            elif "method" in data or "get" in data:
                key = "method" if "method" in data else "get"
                raise fail(
                    f"{key} goes with object: (a saved object or a socket); with function: write the method "
                    "in the path ('package.module:Class.method')",
                    subpath=[key],
                    at_key=True,
                )
            if "get" in data:
                for key in ("args", "kwargs", "await", "wait_for"):
                    if key in data:
                        raise fail(f"get reads an attribute: it takes no {key}", subpath=[key], at_key=True)
            if "wait_for" in data and data.get("await") is False:
                raise fail("wait_for awaits the call: it cannot go with await: false", subpath=["wait_for"])
        return data

    @model_validator(mode="after")
    def _wait_for_within_timeout(self) -> Self:
        limit = self.timeout if self.timeout is not None else CALL_TIMEOUT
        if self.wait_for is not None and self.wait_for >= limit:
            raise fail(
                f"wait_for ({self.wait_for:g}s) must be shorter than the step timeout ({limit:g}s), or the "
                "step fails before its TimeoutError can be expected: raise timeout: too",
                subpath=["wait_for"],
            )
        return self

    @property
    def shown(self) -> str:
        """The target as the reports name it: ``pkg.mod:fetch``, ``$client.get``, ``c.detach``."""
        if self.function is not None:
            return self.function
        return f"{self.object_}.{self.method or self.get}"


# --- resolution ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SocketSlot:
    """A scenario socket, looked up when the call runs (sockets are the context's, not the environment's)."""

    name: str


@dataclass(frozen=True)
class Call:
    shown: str
    #: the callable (or, with ``get``, the owner object); None when it is found on a socket at call time
    target: object
    on_socket: str | None
    member: str | None  # the method / attribute path below a socket (or below target for get)
    get: bool
    args: tuple[object, ...]
    kwargs: Mapping[str, object]
    awaiting: bool | None  # True / False as written; None: await exactly the coroutine functions
    wait_for: float | None
    timeout: float


def _resolve(node: _Node, env: Environment) -> object:
    if isinstance(node, _Literal):
        return node.value
    if isinstance(node, _Variable):
        return env.variable(node.text)
    if isinstance(node, _Address):
        address = env.address(node.spec)
        if node.index is None:
            return address
        if not isinstance(address, tuple) or len(address) < 2:
            raise ScenarioSetupError(f"{node.spec.text} is {address!r}: it has no host and port")
        return address[node.index]
    if isinstance(node, _SocketRef):
        return _SocketSlot(node.name)
    if isinstance(node, _Bytes):
        return env.payload(node.payload)
    if isinstance(node, _Import):
        return import_object(node.path)
    if isinstance(node, _List):
        return [_resolve(item, env) for item in node.items]
    return {name: _resolve(item, env) for name, item in node.items}


def _fill(value: object, ctx: ScenarioContext) -> object:
    """Replace every socket slot with the scenario socket (inside lists and mappings too)."""
    if isinstance(value, _SocketSlot):
        return ctx.socket(value.name)
    if isinstance(value, list):
        return [_fill(item, ctx) for item in value]
    if isinstance(value, dict) and any(
        isinstance(item, _SocketSlot | list | dict) for item in value.values()
    ):
        return {name: _fill(item, ctx) for name, item in value.items()}
    return value


def _not_callable(shown: str, value: object) -> ImportPathError:
    return ImportPathError(f"{shown} is {type(value).__name__} {value!r:.80}, not callable")


def is_coroutine_function(target: object) -> bool:
    """``async def`` functions and methods (also behind ``functools.partial`` and bound methods)."""
    return inspect.iscoroutinefunction(target) or asyncio.iscoroutinefunction(target)


# --- the event loop ------------------------------------------------------------------------------------


class ScenarioLoop:
    """The event loop of one scenario run: it runs only while a ``call`` step awaits on it (on that step's
    worker thread), so objects bound to it (streams, transports) are never touched by two threads at once."""

    def __init__(
        self,
        factory: Callable[[], asyncio.AbstractEventLoop],
        saved: Callable[[], Iterable[object]] = tuple,
    ) -> None:
        self.loop = factory()
        self.busy_with: str | None = None
        self._claim = threading.Lock()
        #: The values the scenario saved: the transports among them are closed with the loop.
        self._saved = saved

    def claim(self, what: str) -> bool:
        """Reserve the loop for one awaited call (False: another one holds it); :meth:`release` frees it."""
        if not self._claim.acquire(blocking=False):
            return False
        self.busy_with = what
        return True

    def release(self) -> None:
        self.busy_with = None
        self._claim.release()

    def close(self) -> None:
        """Cancel leftover tasks, close the transports still open, then close the loop; bounded."""
        if self.loop.is_closed():
            return
        if self.loop.is_running():
            raise RuntimeError(
                f"the event loop is still running {self.busy_with or 'a call'} that did not return: "
                "it is left open"
            )
        errors: list[BaseException] = []
        worker = threading.Thread(
            target=self._shutdown, args=(errors,), name="sockharness loop close", daemon=True
        )
        worker.start()
        worker.join(_LOOP_CLOSE_BUDGET)
        if worker.is_alive():
            raise RuntimeError(f"closing the event loop took longer than {_LOOP_CLOSE_BUDGET:g}s")
        if errors:
            raise RuntimeError(f"closing the event loop: {type(errors[0]).__name__}: {errors[0]}")

    def _shutdown(self, errors: list[BaseException]) -> None:
        loop = self.loop
        try:
            asyncio.set_event_loop(loop)
            tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            # The selector loop keeps its transports by fd; one left open would leak its socket. Other
            # loops (uvloop) list none: the transports the scenario saved (a stream writer's too) are
            # closed as well, or the loop's close leaves them to warn when collected.
            saved = [t for t in _transports_in(self._saved()) if getattr(t, "_loop", loop) is loop]
            transports = [*getattr(loop, "_transports", {}).values(), *saved]
            for transport in transports:
                if transport is not None and not transport.is_closing():
                    if transport.get_write_buffer_size():
                        transport.abort()  # data queued for a peer that never reads: do not wait for it
                    else:
                        transport.close()
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(asyncio.sleep(0))  # connection_lost callbacks close the sockets
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        except BaseException as error:  # reported by close(); the loop is closed regardless
            errors.append(error)
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _transports_in(values: Iterable[object]) -> Iterator[Any]:
    """The transports among saved values: a transport, a stream writer's, inside a saved tuple or list
    (``open_connection`` returns ``(reader, writer)``); duck-typed, since uvloop's are not asyncio's."""
    for value in values:
        if isinstance(value, tuple | list):
            yield from _transports_in(value)
            continue
        transport = getattr(value, "transport", None) if isinstance(value, asyncio.StreamWriter) else value
        if all(callable(getattr(transport, name, None)) for name in _TRANSPORT_METHODS):
            yield transport


_TRANSPORT_METHODS: Final = ("is_closing", "close", "abort", "get_write_buffer_size")


def _loop_factory(path: str | None) -> Callable[[], asyncio.AbstractEventLoop]:
    if path is None:
        return asyncio.new_event_loop
    factory = import_object(path)
    if not callable(factory):
        raise _not_callable(f"loop factory {path}", factory)
    return factory


def scenario_loop(ctx: ScenarioContext) -> ScenarioLoop:
    """The run's event loop, made at the first call and closed with the run."""
    found = ctx.services.get(_LOOP_SERVICE)
    if found is None:
        found = ScenarioLoop(_loop_factory(ctx.options.loop_factory), lambda: list(ctx.variables.values()))
        ctx.services[_LOOP_SERVICE] = found
        ctx.on_close("the call steps' event loop", found.close)
    assert isinstance(found, ScenarioLoop)
    return found


# --- running one call ------------------------------------------------------------------------------------


@dataclass
class _Result:
    value: object = None
    error: BaseException | None = None
    task: asyncio.Task[object] | None = None


async def _awaited(awaitable: Awaitable[object], wait_for: float | None) -> object:
    if wait_for is not None:
        return await asyncio.wait_for(awaitable, wait_for)
    return await awaitable


def _describe_awaitable(value: object) -> str:
    return type(value).__name__ + (f" {value.__qualname__}" if inspect.iscoroutine(value) else "")


class _Worker:
    """One call on a thread of its own, so that the step's timeout can fire whatever the call does."""

    def __init__(self, ctx: ScenarioContext, call: Call, target: Callable[..., object]) -> None:
        self.ctx = ctx
        self.call = call
        self.target = target
        self.result = _Result()
        # Sync code sees the run's loop as the current one too: ``asyncio.get_event_loop()`` returns it, so
        # a step can save it and await ``sock_connect`` on it. It is not running: ``asyncio.run`` still works.
        self.loop: ScenarioLoop = scenario_loop(ctx)
        self.awaits = bool(call.awaiting or (call.awaiting is None and is_coroutine_function(target)))
        # A sync call may run beside an await (in a concurrently block); two awaits may not.
        if self.awaits and not self.loop.claim(f"call {call.shown}"):
            raise ScenarioSetupError(
                f"call {call.shown}: the scenario's event loop is still busy with {self.loop.busy_with} "
                "(calls on it run one at a time)"
            )
        self.thread = threading.Thread(target=self._run, name=f"sockharness call {call.shown}", daemon=True)

    def _run(self) -> None:
        call, result = self.call, self.result
        loop = self.loop
        try:
            asyncio.set_event_loop(loop.loop)
            value = self.target(*call.args, **call.kwargs)
            awaitable = inspect.isawaitable(value)
            if self.awaits:
                if not awaitable:
                    raise AwaitableResult(
                        f"call {call.shown}: await: true, but it returned {value!r:.80}, "
                        "which is not awaitable"
                    )
                task = loop.loop.create_task(_awaited(value, call.wait_for))  # type: ignore[arg-type]
                result.task = task
                result.value = loop.loop.run_until_complete(task)
            elif awaitable and call.awaiting is None:
                if inspect.iscoroutine(value):
                    value.close()  # never awaited on purpose: no "was never awaited" warning
                raise AwaitableResult(
                    f"call {call.shown} returned an awaitable ({_describe_awaitable(value)}) where a "
                    "value was expected: write await: true to await it on the scenario's event loop, "
                    "or await: false to keep it as the value"
                )
            else:
                result.value = value
        except BaseException as error:  # handed to the scenario's thread, which judges it
            result.error = error
        finally:
            asyncio.set_event_loop(None)
            if self.awaits:
                loop.release()  # not reached while the loop is stuck: later awaits then report it busy

    def run(self) -> object:
        call = self.call
        self.thread.start()
        self.thread.join(call.timeout)
        if self.thread.is_alive():
            self._timed_out()
        error = self.result.error
        if error is not None:
            raise error.with_traceback(error.__traceback__)
        return self.result.value

    def _timed_out(self) -> None:
        call, task, loop = self.call, self.result.task, self.loop
        limit = f"{call.timeout:g}s"
        if task is not None:
            loop.loop.call_soon_threadsafe(task.cancel)
            self.thread.join(_CANCEL_GRACE)
            if not self.thread.is_alive():
                raise CallTimeout(
                    f"call {call.shown} was still awaiting after the step timeout ({limit}): it was "
                    "cancelled (set timeout: on the step to allow longer, or wait_for: to expect a "
                    "TimeoutError)"
                )
            fate = (
                f"cancelling it did not stop it within {_CANCEL_GRACE:g}s: something blocks the event loop "
                "(a blocking call inside a coroutine?); the loop and its thread are left running"
            )
        else:
            fate = (
                "the thread running it cannot be stopped (Python cannot stop a thread): it is left running "
                "as a daemon thread; teardown waits for it and reports it if it still runs"
            )
        self.ctx.registry.track_thread(self.thread, None, f"call step {call.shown} (timed out)")
        raise CallTimeout(f"call {call.shown} did not return within the step timeout ({limit}); {fate}")


# --- the action ----------------------------------------------------------------------------------------


@register
class CallAction(Action[CallArgs, Call]):
    name = "call"
    summary = (
        "call a function/class/method by import path (`function: pkg.mod:name`) or a method of a saved "
        "object or socket (`object: $x, method: m`); coroutines are awaited on the scenario's event loop"
    )
    arguments = CallArgs
    returns = "what the call returns (awaited)"

    def uses(self, args: CallArgs) -> Iterator[Use]:
        if args.object_ is not None:
            kind: Literal["variable", "socket"] = "variable" if args.object_.startswith("$") else "socket"
            yield Use(kind, args.object_, ("object",))
        for index, raw in enumerate(args.args):
            node = _parse(raw, ())
            yield from _uses(node, _node_path(node, ("args", index)))
        for name, raw in args.kwargs.items():
            node = _parse(raw, ())
            yield from _uses(node, _node_path(node, ("kwargs", name)))

    def resolve(self, args: CallArgs, env: Environment) -> Call:
        """Imports the target and walks to the method now, so a path that does not resolve fails the step as
        a setup error at its file:line (before anything is called)."""
        timeout = args.timeout if args.timeout is not None else CALL_TIMEOUT
        positional = tuple(_resolve(_parse(raw, ()), env) for raw in args.args)
        named = {name: _resolve(_parse(raw, ()), env) for name, raw in args.kwargs.items()}
        on_socket: str | None = None
        member = args.method or args.get
        if args.function is not None:
            target: object = import_object(args.function)
            if not callable(target):
                raise _not_callable(args.function, target)
        elif args.object_ is not None and args.object_.startswith("$"):
            owner = env.variable(args.object_)
            assert member is not None  # the model requires method or get with object
            target = attribute(owner, member, args.object_)
            if args.method is not None and not callable(target):
                raise _not_callable(args.shown, target)
        else:
            on_socket, target = args.object_, None
        wait_for = float(args.wait_for) if args.wait_for is not None else None
        awaiting = True if wait_for is not None and args.await_ is None else args.await_
        return Call(
            shown=args.shown,
            target=target,
            on_socket=on_socket,
            member=member,
            get=args.get is not None,
            args=positional,
            kwargs=named,
            awaiting=awaiting,
            wait_for=wait_for,
            timeout=float(timeout),
        )

    def call(self, ctx: ScenarioContext, resolved: Call) -> object:
        target = resolved.target
        if resolved.on_socket is not None:
            assert resolved.member is not None
            target = attribute(ctx.socket(resolved.on_socket), resolved.member, resolved.on_socket)
            if not resolved.get and not callable(target):
                raise _not_callable(resolved.shown, target)
        if resolved.get:
            return target
        filled = dataclasses.replace(
            resolved,
            args=tuple(_fill(value, ctx) for value in resolved.args),
            kwargs={name: _fill(value, ctx) for name, value in resolved.kwargs.items()},
        )
        assert callable(target)
        return _Worker(ctx, filled, target).run()
