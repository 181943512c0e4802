"""parse_drive() and check(): one drive from its string, or a whole command line.

check() runs the drives the way QEMU 7.2 starts: every -drive string is
parsed first (softmmu/vl.c), then drive_new() runs for each in order with the
slots taken by the earlier ones, then the file is opened, then the board
claims its drives (hw/i386/pc*.c, blockdev.c drive_check_orphaned()). This module
is the orchestration; the conversion is ``_convert``'s, the errors of the open
``_file_open``'s, the rules across drives ``_cross_drive``'s, the board ``_board``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import attrs

from . import dialects, drivers, netprobe
from ._syntax import RawOption, tokenize
from ._board import board_problems
from ._conversion import Conversion
from ._convert import convert_72
from ._cross_drive import device_names, duplicate_ids
from ._file_open import open_image
from ..diagnostics import Span, Stage
from ..dialect import DEFAULT, Dialect
from ..dialect import get as get_dialect
from ..errors import DriveError
from .._values import to_int32
from . import formats, hostprobe, nodes, opentime
from ..model import DEFAULT_DIALECT, Drive, Interface
from .placement import Machine, Slots, device_id
from .placement import machine as get_machine
from ..probe import probe_file
from .placement import Placement
from .results import CheckResult, DriveResult

if TYPE_CHECKING:
    from .policy import Policy  # only its untrusted_input is read here
    from .policy._guard import Guard, Opened


__all__ = ["parse_drive", "check", "DriveArg", "check_drives", "new_guard"]


def _dialect(name: str | Dialect) -> Dialect:
    """The Dialect for a name, ``auto`` read from the qemu-system-x86_64 on PATH."""
    if name == "auto":
        from .autodialect import auto_dialect

        name = auto_dialect().dialect
    return get_dialect(name)


def parse_drive(text: str, *, dialect: str | Dialect = DEFAULT_DIALECT) -> Drive:
    """Read one -drive option string exactly as QEMU would; the string alone decides.

    Returns the :class:`Drive`, or raises :class:`DriveError` with QEMU's message
    and the span of the offending option. No file is touched. ``dialect="auto"`` reads
    the dialect from the qemu-system-x86_64 on PATH (once; see qdrive.frontend.autodialect).
    """
    chosen = _dialect(dialect)
    if chosen.legacy:
        return dialects.parse_2008(text)
    if drivers.dialect() is chosen:  # its tables are the ones read already (the default)
        conv = convert_72(text, tokenize(text), Interface.IDE, dialect=chosen)
    else:
        with drivers.reading_for(chosen):  # the dialect's block-driver tables
            conv = convert_72(text, tokenize(text), Interface.IDE, dialect=chosen)
    if conv.error is not None:
        raise DriveError.of(text, conv.error, tuple(conv.warnings))
    assert conv.drive is not None
    return conv.drive


@attrs.frozen
class DriveArg:
    """One drive of a command line: ``-drive TEXT`` or a shorthand such as ``-hda PATH``.

    softmmu/vl.c drive_add(): a shorthand parses its built-in ``optstr`` as a -drive
    string, then appends ``if``, ``index`` and ``file`` (the path verbatim: commas in it
    are not separators). ``option`` and ``text`` are what QEMU prints as the location.
    """

    text: str
    option: str = "-drive"
    optstr: str | None = None  # None: parse ``text`` itself
    extra: tuple[tuple[str, str], ...] = ()

    def items(self, snapshot: bool) -> list[RawOption]:
        """The drive's options as QEMU holds them (``-snapshot`` adds snapshot=on)."""
        if self.optstr is None:
            items = tokenize(self.text)
        else:  # the caret can only point at the argument as a whole
            whole = Span(0, len(self.text))
            items = [i._replace(span=whole) for i in tokenize(self.optstr)]
            items += [RawOption(k, v, whole) for k, v in self.extra]
        if snapshot and not any(i.key == "snapshot" for i in items):
            items.append(RawOption("snapshot", "on", Span(0, len(self.text))))
        return items


_ONE_DRIVE = (str, Drive, DriveArg)  # a tuple: ``str | Drive | DriveArg`` is rebuilt per call


def check(drives: str | Drive | DriveArg | Iterable[str | Drive | DriveArg], *,
          dialect: str | Dialect = DEFAULT_DIALECT, machine: str = "pc",
          probe_files: bool = True,
          snapshot: bool = False, policy: Policy | None = None,
          qemu_user: int | str | None = None,
          hand_off: bool | str = False, probe_network: bool = False) -> CheckResult:
    """Check drives together, as one QEMU command line would have them.

    ``drives`` are -drive strings, :class:`Drive` objects (their canonical string) or
    :class:`DriveArg` (shorthands such as -hda); ``dialect="auto"`` picks the dialect of
    the qemu-system-x86_64 on PATH (:func:`qdrive.frontend.autodialect.auto_dialect`);
    ``snapshot`` is QEMU's -snapshot; ``policy`` adds qdrive's own refusals for
    untrusted input (see :class:`qdrive.Policy`): under an untrusted policy no file is
    opened by name, only through descriptors of the allowed directories. With
    ``hand_off`` (untrusted policy only; True or "fdset", or "proc") a result that is ok
    carries ``result.hand_off``: the QEMU arguments and open descriptors of the checked
    inodes (see :mod:`qdrive.frontend.policy._handoff`); the caller closes it.

    With ``probe_files`` (the default) and no untrusted policy, the host is looked at the
    way QEMU's open will find it: the image's type, a read-only mount, O_DIRECT support,
    io_uring, other processes' image locks (tested, never taken) and permissions.
    ``qemu_user`` (a name or uid) is the user QEMU will run as; its access is judged from
    owner, group and mode bits only (no ACLs), without switching user. None: this
    process's user.

    ``probe_network`` (off by default; never under an untrusted policy, where it would let
    a drive string make qdrive contact any host) makes one non-blocking TCP or Unix
    connect to the endpoint each network driver (nbd, ssh, http/https/ftp/ftps, iscsi,
    gluster, nfs) contacts first, closed at once without sending anything: refused, no
    such socket, unreachable or an unknown name gives QEMU's message; a connect that
    succeeds is accepted with a note that the protocol was not checked. Without it a
    network drive's result carries the note "not checked: QEMU connects to HOST:PORT at
    open (use --probe-network)" (``DriveResult.notes``).
    """
    if probe_network and policy is not None and policy.untrusted_input:
        raise ValueError("probe_network is never used under an untrusted policy: a drive "
                         "string would make qdrive contact any host")
    given = [drives] if isinstance(drives, _ONE_DRIVE) else list(drives)
    args = [d if isinstance(d, DriveArg) else DriveArg(str(d)) for d in given]
    chosen = _dialect(dialect)
    if chosen.legacy:
        if policy is not None and policy.untrusted_input:
            raise ValueError(f"the untrusted policy does not judge the {chosen} dialect")
        return CheckResult(chosen.name, tuple(dialects.check_2008([a.text for a in args])))
    guard = new_guard(policy, probe_files, hand_off)
    try:
        result, files = check_drives(args, machine=machine, probe_files=probe_files,
                                     snapshot=snapshot, guard=guard, qemu_user=qemu_user,
                                     dialect=chosen, probe_network=probe_network and (
                                         policy is None or not policy.untrusted_input))
        if guard is not None and hand_off and result.ok:
            from .policy._handoff import FdSets, HandOff, drive_args

            sets = FdSets(guard.hand_off or "fdset")
            argv = [word for r, opened in zip(result.drives, files, strict=True)
                    for word in drive_args(r.drive, opened, sets)]
            result = attrs.evolve(result, hand_off=HandOff.of(sets, argv, guard))
            guard = None  # the hand-off owns the descriptors now
        return result
    finally:
        if guard is not None:
            guard.close()


def new_guard(policy: Policy | None, probe_files: bool, hand_off: bool | str) -> Guard | None:
    """The untrusted policy's guard for one check (None for a trusted or no policy)."""
    if hand_off is False and (policy is None or not policy.untrusted_input):
        return None  # the common case: the guard and hand-off machinery stay unloaded
    from .policy._handoff import mode_of

    mode = mode_of(hand_off)
    if policy is None or not policy.untrusted_input:
        if mode:
            raise ValueError("hand_off needs an untrusted Policy (Policy.untrusted([...]))")
        return None
    if mode and not probe_files:
        raise ValueError("hand_off needs the images opened: it cannot be offline")
    from .policy._guard import Guard

    return Guard(policy, inspect_files=probe_files, hand_off=mode)


def check_drives(args: Sequence[DriveArg], *, machine: str, probe_files: bool,
                 snapshot: bool, guard: Guard | None,
                 qemu_user: int | str | None = None, dialect: Dialect = DEFAULT,
                 probe_network: bool = False
                 ) -> tuple[CheckResult, list[tuple[Opened, ...]]]:
    """check() for a release dialect (qemu-7.2 by default) with a guard already made: the
    result and, per drive, the files the guard keeps open for it (empty without a guard).
    ``probe_network`` connects only without a guard (the untrusted policy never does)."""
    with drivers.reading_for(dialect):  # the open-time stages read the dialect's tables
        return _check_drives(args, machine, probe_files, snapshot, guard, qemu_user, dialect,
                             probe_network and guard is None)


def _check_drives(args: Sequence[DriveArg], machine: str, probe_files: bool, snapshot: bool,
                  guard: Guard | None, qemu_user: int | str | None, dialect: Dialect,
                  network: bool = False) -> tuple[CheckResult, list[tuple[Opened, ...]]]:
    board = get_machine(machine)
    slots = Slots(board)
    user = hostprobe.QemuUser.of(qemu_user) if qemu_user is not None else None
    # 1. each drive in turn: drive_new() with the slots the earlier ones took, the open
    done: list[_Done] = []
    names: set[str] = set()  # grown in place: no copy per drive
    for a in args:  # a child may name an earlier drive by its id or node-name
        token = nodes.EARLIER_NAMES.set(names)
        try:
            done.append(_one(a, a.items(snapshot), slots, board, probe_files, guard, user,
                             dialect, network))
        finally:
            nodes.EARLIER_NAMES.reset(token)
        names.update(_names(done[-1].result))
    # 2. the rules across drives: ids while parsing, then device and node names
    results = duplicate_ids([d.result for d in done], [d.conv for d in done])
    results = device_names(results)
    # 3. the board claims its drives
    ids = None if guard is None else [(d.files[0].st.st_dev, d.files[0].st.st_ino)
                                      if d.files else None for d in done]
    result = CheckResult(dialect.name, tuple(board_problems(results, board, probe_files, ids,
                                                            dialect, user)))
    return result, [d.files for d in done]


def _names(r: DriveResult) -> frozenset[str]:
    """The id and node-name of a drive that opened (none of one that did not)."""
    if not r.ok or r.drive is None:
        return frozenset()
    return frozenset(n for n in (r.drive.id, r.drive.node_name,
                                 r.placement.device_id if r.placement else None) if n)


class _Done(NamedTuple):
    """One drive checked: its result, the files the guard keeps, its Conversion."""

    result: DriveResult
    files: tuple[Opened, ...]
    conv: Conversion


def _one(arg: DriveArg, items: list[RawOption], slots: Slots, board: Machine,
         probe_files: bool, guard: Guard | None,
         user: hostprobe.QemuUser | None = None, dialect: Dialect = DEFAULT,
         network: bool = False) -> _Done:
    # The network drivers' opens connect inside an enabled session only (never with a
    # guard: the untrusted policy contacts no host); either way they leave notes.
    with netprobe.probing(network and guard is None) as session:
        done = _one_drive(arg, items, slots, board, probe_files, guard, user, dialect)
    if session.notes and done.result.ok:
        done = done._replace(result=attrs.evolve(done.result, notes=tuple(session.notes)))
    return done


def _one_drive(arg: DriveArg, items: list[RawOption], slots: Slots, board: Machine,
               probe_files: bool, guard: Guard | None,
               user: hostprobe.QemuUser | None, dialect: Dialect) -> _Done:
    text = arg.text
    # Under an untrusted policy nothing is opened by name: the guard reads descriptors.
    # Otherwise the walk reads the image's header where QEMU opens the file (the probed
    # format, raw's offset/size and the children depend on it): one conversion.
    by_name = probe_files and guard is None
    conv = convert_72(text, items, board.default_if, slots.place, probe=by_name,
                      read_header=probe_file if by_name else None, dialect=dialect)
    found = conv.header
    refusal = None
    files: tuple[Opened, ...] = ()
    # The policy speaks for every error from bdrv_fill_options() on: QEMU may open a file
    # a child names (blkdebug's config=) before the error the conversion predicts.
    if guard is not None and (conv.error is None or conv.error.stage >= Stage.FILL):
        verdict = guard.judge_drive(conv, text)
        refusal, found, files = verdict.refusal, verdict.found, verdict.files
        conv.warnings.extend(verdict.warnings)
    if refusal is not None:
        conv = attrs.evolve(conv, error=refusal)
    elif probe_files and guard is None:
        conv = open_image(conv, found, user, dialect=dialect)
    elif probe_files and found is not None:
        # Under the policy only the checked descriptor is probed, never the name: the
        # host checks by name (hostprobe) are skipped, the header checks are not.
        conv = open_image(conv, found, user, by_name=False, dialect=dialect)
    conv = _abort_notice(conv, dialect.source_prefix)
    host = None
    if (guard is None and probe_files and conv.drive is not None and conv.error is None
            and conv.image_name):
        host = hostprobe.host_facts(conv.image_name, conv.drive, user)
    result = DriveResult(text, conv.drive if conv.error is None else None, conv.error,
                         tuple(conv.warnings), _placed(conv, slots, board), arg.option,
                         conv.probed_format, host, conv.image_name)
    return _Done(result, files, conv)


def _abort_notice(conv: Conversion, prefix: str) -> Conversion:
    """A null-co/null-aio/nvme option's bad value aborts QEMU, which says where first
    (``prefix``: how the release's build names its source files); a curl driver's is
    preceded by GLib's criticals (formats.curl_value_notices)."""
    err = conv.error
    if err is None or err.code != "bad-value":
        return conv  # both kinds of notice follow a bad value only (formats.*_notice*)
    key = conv.text[err.span.start:err.span.end].partition("=")[0]
    # the options as the node's open received them (the walk records them there; a
    # null driver's value error comes later than that)
    given = conv.open_options
    driver = given.get("driver") or given.get("format")
    if key.startswith("file."):
        # the file child's driver: file.driver=, or the protocol its file name picks
        key, driver = key[len("file."):], given.get("file.driver") or (
            opentime.protocol_of(given["file"]) if "file" in given else None)
    notices = formats.curl_value_notices(err, key, driver)
    if any(w.code == "glib-critical" for w in conv.warnings):
        notices = []  # the open already said them (opentime.protocol_checks)
    notice = formats.abort_notice(err, key, driver, prefix)
    notices += [notice] if notice is not None else []
    if not notices:
        return conv
    if notice is not None and err.detail:
        # util/error.c error_handle() aborts inside error_setg(): the hint that
        # parse_option_size() appends afterwards is never printed
        conv = attrs.evolve(conv, error=attrs.evolve(err, detail=""))
    return attrs.evolve(conv, warnings=[*conv.warnings, *notices])


def _placed(conv: Conversion, slots: Slots, board: Machine) -> Placement | None:
    """The slot drive_new() gave a created drive, now taken for the drives after it."""
    if conv.drive is None or slots.last is None:
        return None
    iface = conv.drive.interface or board.default_if
    slots.commit(iface)
    bus, unit = slots.last
    return Placement(iface, bus, unit, _index(conv.drive),
                     conv.drive.id or device_id(iface, bus, unit, conv.drive.media,
                                                board.max_devs(iface)))


def _index(drive: Drive) -> int | None:
    return None if drive.index is None or to_int32(drive.index) == -1 else to_int32(drive.index)
