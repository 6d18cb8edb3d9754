"""What one scenario action is: the contract every entry of the action registry fulfils.

An action is one small class. It owns the YAML shape of its arguments (a pydantic type), the names those
arguments use and introduce (read by the reference checker), the typed values the call takes (a frozen
dataclass built by :meth:`Action.resolve`), the call itself, and the traits of its result that the
expectations need (bytes inside it, an errno in it, bytes offered for ``$offered``). Container actions
(``repeat``; later a ``concurrently`` block) hold nested steps and run them through a :class:`BodyRunner`.

Nothing else in the scenario package names an action: the step union, the JSON Schema, the reference
checker, the runner, the expectations and the docs table all iterate :data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Literal, Protocol, TypeVar

from sockharness.scenario._language.model_types import AddressSpec

if TYPE_CHECKING:
    from sockharness.scenario._language.model_steps import StepBase
    from sockharness.scenario._language.model_values import Payload, RaisesSpec
    from sockharness.scenario._run.context import ScenarioContext

__all__ = [
    "REGISTRY",
    "Action",
    "BodyRunner",
    "Container",
    "Environment",
    "Introduce",
    "KeyPath",
    "Outcome",
    "ScenarioSetupError",
    "SockAddress",
    "ToxicChange",
    "Use",
    "register",
]

KeyPath = tuple[str | int, ...]
#: What ``socket.connect``/``bind``/``sendto`` take: a (host, port[, flow, scope]) tuple, or a path.
SockAddress = tuple[object, ...] | str | bytes

ArgsT = TypeVar("ArgsT")
ResolvedT = TypeVar("ResolvedT")


class ScenarioSetupError(AssertionError):
    """A scenario refers to something that does not exist at run time (unknown socket, peer, proxy)."""


@dataclass(frozen=True)
class Use:
    """A name a step's arguments refer to, which must exist by the time the step runs."""

    kind: Literal["socket", "peer", "proxy", "fault", "variable", "address"]
    #: The name (a variable as written, ``$addr[0]``), or the address as parsed.
    target: str | AddressSpec
    #: Where it is written, below the action key (``("socket",)``, ``("address",)``, ``()``).
    subpath: KeyPath = ()


@dataclass(frozen=True)
class Introduce:
    """A name a step creates for the steps after it (``socket: {as: c}`` introduces socket ``c``)."""

    kind: Literal["socket", "fault"]
    name: str


@dataclass(frozen=True)
class ToxicChange:
    """A step's change to a toxic in place: the checker validates it against the toxic's type when the
    scenario adds that toxic itself (a proxy peer's toxics, a phase, an earlier ``add_toxic``)."""

    proxy: str
    name: str
    attributes: Mapping[str, object]
    #: The step aims the toxic at chosen connections (a new ``target`` with keys).
    targeted: bool = False


@dataclass(frozen=True)
class Outcome:
    """What one call did: its return value (None when it raised), its exception, its wall time."""

    value: object
    error: Exception | None
    elapsed: float


class Environment(Protocol):
    """What resolution may look at: the run's peers, sockets and saved values, and its seeded payloads."""

    def payload(self, value: Payload) -> bytes: ...
    def address(self, spec: AddressSpec) -> SockAddress: ...
    def variable(self, text: str) -> object: ...
    def port_of(self, peer: str) -> int: ...
    def constant(self, value: str | int) -> int: ...
    def flags(self, values: Sequence[str | int]) -> int: ...


class BodyRunner(Protocol):
    """How a container action runs its nested steps (the runner implements it)."""

    def call(self, step: StepBase, number: str, path: KeyPath) -> Outcome: ...
    def judge(
        self, step: StepBase, number: str, path: KeyPath, outcome: Outcome, *, iteration: int | None
    ) -> None: ...
    def raised_as(self, expected: RaisesSpec, error: Exception) -> bool: ...


class Action(Generic[ArgsT, ResolvedT]):
    """One scenario action. Subclasses set the class attributes and override what differs."""

    #: The YAML key (``recv``).
    name: ClassVar[str]
    #: One line for the docs table.
    summary: ClassVar[str]
    #: The argument type as pydantic validates it (a model, or an ``Annotated`` scalar).
    arguments: ClassVar[object]
    #: What a successful call returns, in words (docs table).
    returns: ClassVar[str] = "None"
    #: The result is bytes, or holds them (a ``bytes:`` expectation applies; see :meth:`bytes_of`).
    yields_bytes: ClassVar[bool] = False
    #: An integer result is an errno (shown by name in reports).
    result_is_errno: ClassVar[bool] = False
    #: Runs only in the private network namespace mode.
    needs_netns: ClassVar[bool] = False

    def uses(self, args: ArgsT) -> Iterator[Use]:
        """The names the arguments refer to (the reference checker reports unknown ones)."""
        return iter(())

    def introduces(self, args: ArgsT) -> Iterator[Introduce]:
        """The names the step creates for later steps."""
        return iter(())

    def problem(self, args: ArgsT) -> str | None:
        """A load-time problem only the action can see (beyond its argument model), or None."""
        return None

    def changes_toxic(self, args: ArgsT) -> ToxicChange | None:
        """The toxic the step changes in place, if it does (checked against the toxic's type)."""
        return None

    def resolve(self, args: ArgsT, env: Environment) -> ResolvedT:
        """The typed values the call takes, looked up in the run (raises ScenarioSetupError)."""
        raise NotImplementedError

    def call(self, ctx: ScenarioContext, resolved: ResolvedT) -> object:
        """Perform the one call; its exception is the step's observed outcome."""
        raise NotImplementedError

    def offered(self, resolved: ResolvedT) -> int | None:
        """Bytes this call offers to send (``$offered``), or None when it sends nothing."""
        return None

    def bytes_of(self, value: object) -> object:
        """Where the bytes are in a successful result (``recvfrom`` returns ``[data, address]``)."""
        return value

    def returns_errno(self, args: ArgsT) -> bool:
        """Whether an integer result of this step is an errno (``getsockopt SO_ERROR`` decides per call)."""
        return self.result_is_errno


class Container(Action[ArgsT, None]):
    """An action that holds steps (``repeat``): the checker, the runner and the schema walk its bodies."""

    def bodies(self, args: ArgsT) -> Sequence[tuple[KeyPath, Sequence[StepBase]]]:
        """Each nested list of steps with its key path below the action key."""
        raise NotImplementedError

    def run(self, args: ArgsT, body: BodyRunner, number: str, path: KeyPath) -> Outcome:
        """Run the nested steps; ``path`` is the container step's own key path."""
        raise NotImplementedError


#: Every action, by YAML key, in the order the docs list them.
REGISTRY: Final[dict[str, Action[Any, Any]]] = {}

_Entry = TypeVar("_Entry", bound=type[Action[Any, Any]])


def register(cls: _Entry) -> _Entry:
    """Class decorator: add one instance of ``cls`` to :data:`REGISTRY` under ``cls.name``."""
    if cls.name in REGISTRY:
        raise ValueError(f"action {cls.name!r} is registered twice")
    REGISTRY[cls.name] = cls()
    return cls


def socket_use(name: str) -> Use:
    """The ``socket:`` argument most actions take."""
    return Use("socket", name, ("socket",))
