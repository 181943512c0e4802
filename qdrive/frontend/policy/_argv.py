"""The untrusted policy over a whole QEMU command line: every option on an allow-list.

An option is accepted only if this module knows it opens no file and no socket, or can
judge the argument that would make it do so. Everything else is refused, naming the
option: -blockdev (not judged yet), -readconfig, -chardev file/socket/pty/..., -netdev,
-fsdev/-virtfs, -add-fd, -set/-global (they rewrite other options), -loadvm, -incoming
(exec: runs a shell), -object with file properties, -serial/-monitor/-qmp with
file:/unix:/tcp:, -device with properties it cannot judge (romfile=, chardev=, netdev=,
file= ...), -audiodev, -trace file=, -D, -L, -mem-path, -plugin, -pidfile, -vnc, -spice,
-gdb, JSON arguments. A command line without -nodefaults, -nic none or -net none is
refused too: QEMU 7.2 then adds a network card with user-mode networking (slirp), which
connects wherever the guest asks, and so is one without ``-display none``: QEMU would
open a window (connecting to the X server) and its console holds the monitor. No
monitor is accepted at all (-monitor only ``none``; -qmp, -mon, ``mon:stdio``,
-nographic refused): whoever reaches a monitor can open any file (``drive_add``,
``migrate exec:``, ``pmemsave``).

Values are split the way QEMU's QemuOpts does (util/qemu-option.c): items separated by
single commas, ``,,`` an escaped comma, the first item naming the implied key when it
has no ``=``, and a bare ``x``/``nox`` meaning ``x=on``/``x=off`` (so ``romfile`` alone
is ``romfile=on``, a file named "on").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = ["judge_option", "split_opts", "PATH_OPTIONS", "NO_NETWORK", "NO_DISPLAY",
           "DRIVE_OPTIONS"]

# Options that are drives, judged by the drive policy (softmmu/vl.c drive_add()).
DRIVE_OPTIONS = frozenset(
    "drive hda hdb hdc hdd cdrom fda fdb sd pflash mtdblock".split())

# Options that name a file QEMU reads outside the block layer; judged as paths.
PATH_OPTIONS = frozenset({"kernel", "initrd", "bios", "dtb"})

# Any of these keeps QEMU from adding its default NIC with user networking.
NO_NETWORK = (("nodefaults", None), ("nic", "none"), ("net", "none"))

# And this keeps it from opening a display (a window whose console holds the monitor).
NO_DISPLAY = ("display", "none")

# Options without an argument that open nothing.
_FLAGS = frozenset(
    "S nodefaults no-user-config enable-kvm usb no-reboot no-shutdown no-acpi "
    "no-hpet mem-prealloc no-fd-bootchk only-migratable win2k-hack version help h "
    "singlestep snapshot".split())

# Options whose argument opens nothing whatever it says.
_ANY = frozenset("m smp cpu uuid rtc append vga d msg overcommit action watchdog-action "
                 "sandbox numa seed dfilter".split())


def split_opts(value: str, implied: str | None = None) -> list[tuple[str, str]]:
    """QemuOpts items of ``value``: (key, value) in order (util/qemu-option.c)."""
    items: list[tuple[str, str]] = []
    i, first = 0, True
    while i < len(value):
        cut = len(value)
        for j, ch in enumerate(value[i:], i):
            if ch in "=,":
                cut = j
                break
        if cut < len(value) and value[cut] == "=":
            key, (text, i) = value[i:cut], _opt_value(value, cut + 1)
        elif first and implied is not None:
            key, (text, i) = implied, _opt_value(value, i)
        else:
            name = value[i:cut]
            key, text = (name[2:], "off") if name.startswith("no") else (name, "on")
            i = cut + 1
        items.append((key, text))
        first = False
    return items


def _opt_value(value: str, i: int) -> tuple[str, int]:
    """get_opt_value(): up to a single comma; ``,,`` is one literal comma."""
    out = []
    while i < len(value):
        if value[i] == ",":
            if value[i + 1:i + 2] == ",":
                out.append(",")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(value[i])
        i += 1
    return "".join(out), i


Judge = Callable[[str], str]  # the argument -> "" if fine, else why it is refused


def _keys(implied: str, allowed: frozenset[str], first: frozenset[str] | None = None,
          what: str = "") -> Judge:
    """A judge for a QemuOpts argument: the implied key's value in ``first`` (if given)
    and every key in ``allowed``."""

    def judge(value: str) -> str:
        if value.lstrip().startswith("{"):
            return "JSON arguments are not judged"
        items = split_opts(value, implied)
        if first is not None:
            head = next((v for k, v in items if k == implied), None)
            if head not in first and head not in ("help", "?"):
                return f"{what} '{head}' is not on the policy's list"
        for key, text in items:
            if key == implied or key in allowed:
                continue
            if key == "romfile" and text == "":
                continue  # romfile= (empty) turns the option ROM off: no file
            return f"property '{key}' is not on the policy's list"
        return ""

    return judge


# -- -device ------------------------------------------------------------------------------
# Devices that open nothing by themselves; block devices take drive= (a -drive id, which
# the drive policy has judged). PCI devices' romfile= names a file: only empty is allowed.
_DEVICES = frozenset({
    "virtio-blk-pci", "virtio-blk", "scsi-hd", "scsi-cd", "ide-hd", "ide-cd", "usb-storage",
    "floppy", "nvme", "virtio-scsi-pci", "lsi53c895a", "ahci", "ich9-ahci",
    "virtio-balloon-pci", "usb-tablet", "usb-kbd", "usb-mouse", "qemu-xhci", "nec-usb-xhci",
    "usb-ehci", "ich9-usb-ehci1", "piix3-usb-uhci", "VGA", "virtio-vga", "virtio-gpu-pci",
    "cirrus-vga", "bochs-display", "i6300esb", "pvpanic", "virtio-rng-pci", "virtio-net-pci",
    "e1000", "rtl8139",
})
_DEVICE_KEYS = frozenset({
    "id", "bus", "addr", "multifunction", "bootindex", "drive", "serial", "wwn",
    "logical_block_size", "physical_block_size", "min_io_size", "opt_io_size",
    "discard_granularity", "write-cache", "share-rw", "rerror", "werror", "num-queues",
    "queue-size", "iothread", "scsi-id", "lun", "channel", "unit", "model", "ver", "vendor",
    "product", "removable", "dpofua", "rotation_rate", "cyls", "heads", "secs", "lcyls",
    "lheads", "lsecs", "bios-chs-trans", "mac", "vectors", "ioeventfd", "disable-legacy",
    "disable-modern", "event_idx", "indirect_desc", "packed", "rombar", "max_sectors",
    "discard", "write-zeroes", "seg-max-adjust", "num_queues", "port", "masterbus",
    "firstport",
})
_MACHINES_KEYS = frozenset({
    "type", "accel", "usb", "dump-guest-core", "mem-merge", "graphics", "kernel-irqchip",
    "smm", "vmport", "hpet", "sata", "pit", "i8042", "max-ram-below-4g", "acpi",
    "suppress-vmdesc", "smbus", "default-bus-bypass-iommu",
})


_device = _keys("driver", _DEVICE_KEYS, _DEVICES, "device")


def _display(value: str) -> str:
    kind = split_opts(value, "type")[0][1] if value else ""
    return "" if kind == "none" and "," not in value else \
        "only -display none is allowed (a display opens a window, a socket or a device)"


def _character(value: str) -> str:
    """-serial, -parallel, -debugcon: no file, socket, host device or monitor."""
    if value in ("none", "null", "stdio") or re.fullmatch(r"chardev:[A-Za-z][\w.-]*", value):
        return ""
    return "only none, null, stdio and chardev:ID are allowed"


def _monitor(value: str) -> str:
    return "" if value == "none" else \
        "only -monitor none: whoever reaches a monitor can make QEMU open any file"


def _keymap(value: str) -> str:
    # The layout is looked up as a file below QEMU's data directory: no paths.
    return "" if re.fullmatch(r"[a-z]{2}(-[a-z]{2,})?", value) else \
        "a keyboard layout is a name such as en-us"


def _usbdevice(value: str) -> str:
    return "" if value in ("tablet", "mouse", "keyboard") else \
        "only tablet, mouse and keyboard are allowed"


def _smbios(value: str) -> str:
    if value.lstrip().startswith("{"):
        return "JSON arguments are not judged"
    return "" if all(k != "file" for k, _ in split_opts(value, "type")) else \
        "file= names a file"


def _trace(value: str) -> str:
    bad = [k for k, _ in split_opts(value, "enable") if k != "enable"]
    return f"property '{bad[0]}' names a file" if bad else ""


def _network(value: str) -> str:
    return "" if value == "none" else \
        "only 'none' is allowed (a network backend connects, listens or runs a helper)"


_JUDGES: Mapping[str, Judge] = MappingProxyType({
    "device": _device,
    "object": _keys("qom-type", frozenset({
        "id", "poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch",
        "thread-pool-min", "thread-pool-max"}) | frozenset(
        f"{p}{k}" for p in ("x-", "limits.") for k in (
            "iops-total", "iops-read", "iops-write", "bps-total", "bps-read", "bps-write",
            "iops-total-max", "iops-read-max", "iops-write-max", "bps-total-max",
            "bps-read-max", "bps-write-max", "iops-total-max-length",
            "iops-read-max-length", "iops-write-max-length", "bps-total-max-length",
            "bps-read-max-length", "bps-write-max-length", "iops-size")),
        frozenset({"iothread", "throttle-group"}), "object type"),
    "chardev": _keys("backend", frozenset({"id", "signal"}),
                     frozenset({"null", "stdio"}), "chardev backend"),
    "serial": _character, "parallel": _character, "debugcon": _character,
    "monitor": _monitor,
    "display": _display,
    "machine": _keys("type", _MACHINES_KEYS), "M": _keys("type", _MACHINES_KEYS),
    "accel": _keys("accel", frozenset({
        "thread", "tb-size", "split-wx", "one-insn-per-tb", "kernel-irqchip",
        "kvm-shadow-mem", "dirty-ring-size"}), frozenset({"tcg", "kvm"}), "accelerator"),
    "boot": _keys("order", frozenset({"once", "menu", "splash-time", "reboot-timeout",
                                      "strict"})),
    "name": _keys("guest", frozenset({"process", "debug-threads"})),
    "k": _keymap, "usbdevice": _usbdevice, "smbios": _smbios, "trace": _trace,
    "nic": _network, "net": _network,
})


# Why some options are refused, where "not on the list" would say too little.
_WHY: Mapping[str, str] = MappingProxyType({
    "nographic": "-nographic puts a monitor on stdio beside the serial port (Ctrl-A c); "
                 "write -display none -serial stdio",
    "qmp": "whoever reaches a monitor can make QEMU open any file",
    "qmp-pretty": "whoever reaches a monitor can make QEMU open any file",
    "mon": "whoever reaches a monitor can make QEMU open any file",
    "blockdev": "-blockdev is not judged (yet): write the drive as -drive",
    "readconfig": "a config file can hold any option, judged by nobody",
    "set": "-set rewrites other options after they were judged",
    "global": "-global sets properties (romfile=, drive=) of every device of a type",
    "incoming": "-incoming connects, listens or runs a command (exec:)",
})


def judge_option(name: str, value: str | None) -> str:
    """Why the policy refuses ``-name value`` ("" if it does not). Drives and the
    PATH_OPTIONS are judged elsewhere (they need the allowed directories)."""
    if name in _WHY:
        return _WHY[name]
    if name in _FLAGS:
        return "" if value is None else f"-{name} takes no argument"
    if value is None:
        return f"-{name} is not on the policy's list of options" if name not in _JUDGES \
            else f"-{name} needs an argument"
    if name in _ANY:
        return ""
    judge = _JUDGES.get(name)
    if judge is None:
        return (f"-{name} is not on the policy's list of options it can judge "
                "(it may open a file or a socket)")
    return judge(value)
