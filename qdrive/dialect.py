"""Dialects: which QEMU qdrive reads a drive as, each one frozen object of data.

A dialect is the -drive code of one QEMU: its option table, the release and machine
version it models, and the few places where its behaviour differs from the dialect it
was measured against (each an attribute the stage that differs reads). The stages
consult the object (``dialect.legacy``, ``dialect.size_syntax``, ...); nothing
compares dialect names. Strings appear only at the edges: :func:`get` turns a name
into its Dialect, ``Dialect.name`` is what is printed and stored in ``Drive.dialect``.

Adding a QEMU release is a recording (fixtures/qemuXY/), its derived tables
(grammar/qemu-X.Y/, `make tables`) and one entry in :data:`REGISTRY` saying how it
differs (``attrs.evolve`` of the release before it); the
differences and the QEMU changes behind them are listed in grammar/qemu-versions.md
and in the README.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from .errors import UnsupportedDialect
from .model import DEFAULT_DIALECT, DIALECTS
from .options import Kind, OptionSpec, options_for
from ._values import SizeSyntax

__all__ = ["Dialect", "SizeSyntax", "JsonErrors", "get", "REGISTRY", "DEFAULT"]


class JsonErrors(enum.Enum):
    """How qobject/json-parser.c words a parse error of ``json:{...}``."""

    PLAIN = "7.2"  # "JSON parse error, premature EOI"
    # 11.1: the error names the token's line and column ("1:25: ") and the end of input
    # is spelled out ("premature end of input").
    LOCATED = "11.1"


@attrs.frozen
class Dialect:
    """One QEMU's -drive code as data: tables, names and the overrides the stages consult.

    ``version`` is the QEMU release modelled ((7, 2) for qemu-7.2); None for the patched
    2008 block layer, which ``--dialect auto`` never chooses.
    """

    name: str
    version: tuple[int, int] | None
    description: str
    legacy: bool = False  # the 2008 drive_init() parser (qdrive/frontend/dialects.py)
    size_syntax: SizeSyntax = SizeSyntax.HEX_SUFFIX_DEPRECATED  # qemu_strtosz() (_values)
    json_errors: JsonErrors = JsonErrors.PLAIN
    # if=xen drives become xen-disk/xen-cdrom devices when the board starts; without a
    # xen-bus (any non-Xen machine) qdev refuses them instead of the orphan check.
    xen_devices: bool = False
    # qdrive's -blockdev translation was verified by starting this QEMU with it (7.2's
    # recordings only, so far); check_argv() reads its whole command lines.
    translatable: bool = True
    command_line: bool = True
    # The versioned machine types (pc-i440fx-X.Y, pc-q35-X.Y) it no longer has, and those
    # it warns are deprecated: both up to and including the version given; None: not
    # modelled. QEMU 9.1 set the policy (include/hw/boards.h MACHINE_VER_DEPRECATION/
    # DELETION): deprecated after 3 years, deleted after 6; 10.0 still had the older
    # machines 9.1 had not deleted by hand. 7.2 deprecated pc-i440fx-1.4 to 1.7 by hand
    # (hw/i386/pc_piix.c, `-machine help` marks them) and had no pc-q35 before 2.4.
    machines_removed_through: tuple[int, int] | None = (1, 3)
    machines_deprecated_through: tuple[int, int] | None = (1, 7)
    q35_machines_from: tuple[int, int] = (2, 4)
    # machine_class->deprecation_reason of those machines, as system/vl.c warns it
    machine_deprecation_reason: str = "old and unattended - use a newer version instead"
    # Runtime options the release's drivers read beyond 7.2's tables, by driver ("*": every
    # node, block.c bdrv_runtime_opts), as the derived tables' diff lists them
    # (grammar/qemu-versions.md, "option ... added").
    new_options: Mapping[str, Mapping[str, Kind]] = MappingProxyType({})
    # A -readconfig file's parse-time error (an unknown group, a bad or duplicate id) is
    # located at its line (``prog:FILE:LINE: ``, 7.2) or at the -readconfig option with
    # the whole message and its hint (``prog: -readconfig FILE: ``, seen in 10.0 and 11.1).
    config_errors_at_line: bool = True
    # -device properties of the block models (qdrive/frontend/devices.py lists 7.2's) a
    # release no longer has, and those it added, by model: the differences of each
    # binary's ``-device MODEL,help`` from 7.2's (measured with the Debian builds).
    removed_properties: Mapping[str, frozenset[str]] = MappingProxyType({})
    added_properties: Mapping[str, frozenset[str]] = MappingProxyType({})
    # The derived block-driver and QAPI tables it reads (grammar/<tables>/, `make tables`)
    # and the drivers those list that this release no longer has (for a release whose own
    # source is not at hand, the nearest source-derived tables less what it dropped).
    tables: str = "qemu-7.2"
    # Its -device and -object models (grammar/<device_tables>/device-models.json, from the
    # release's binary: what its build and the modules installed beside it provide).
    device_tables: str = "qemu-7.2"
    # Debian 12's note-missing-module-pkg-name.diff prints "module block-block-dmg-bz2 not
    # found, do you want to install qemu-block-extra package?" when dmg_open() loads a
    # missing module; Debian 13's version of that patch (updated 2024-01) notes only a
    # format bdrv_find_format() cannot load (block.c), and 10.0's block_module_load()
    # returns 0 silently for a missing module (block/dmg.c dmg_open()'s comment).
    module_notices: bool = True
    # How an &error_abort report names the source file (__FILE__): Debian 12 builds in a
    # subfolder ("../../util/qemu-option.c"); the 10.0 and 11.1 builds were measured to
    # print the path from the source root ("util/qemu-option.c", meson's relative paths).
    source_prefix: str = "../../"
    # Ceph options the release's librados refuses when block/rbd.c qemu_rbd_set_keypairs()
    # passes an rbd: file name's key=value pairs to rados_conf_set() ("invalid conf option
    # KEY"): Debian sid's librados has no auth_supported (an alias Ceph dropped for
    # auth_client_required), seen with 11.1; 7.2's and 10.0's try to connect instead.
    rbd_unknown_conf: frozenset[str] = frozenset()
    # block/blkdebug.c read_config() failing to open its config file: 7.2 to 10.2 fopen()
    # it and say "Could not read blkdebug config file: ERR" (the 10.2.2 source too); the
    # 11.1 binary says "Could not open 'FILE': ERR", qemu_open()'s wording.
    blkdebug_config_opened: bool = False
    # aio=io_uring where the host refuses an io_uring ring (kernel.io_uring_disabled, a
    # seccomp filter): 7.2's raw_open_common() fails with this message; 10.0 sets the ring
    # up at the first request instead (block/file-posix.c raw_check_linux_io_uring(): a
    # warning, then the thread pool), None; 11.1 refuses at the open again, in new words.
    io_uring_refused: str | None = "Unable to use io_uring: failed to init linux io_uring ring"
    # 10.0 there (io_uring_refused None): each file node with aio=io_uring warns once, at
    # its first request through the ring, and goes on with the thread pool
    # (block/file-posix.c raw_check_linux_io_uring(): error_reportf_err() prefixes this
    # to luring_init()'s "...: ERRNO"); None: no such warning (7.2 and 11.1 refuse at the
    # open instead).
    io_uring_fallback: str | None = None
    # The same on a -blockdev file node: 7.2's error_setg_errno() there finds errno left at
    # EOPNOTSUPP by an earlier call of the open (recorded: host-io-uring-disabled-09), so
    # the message ends ": Operation not supported"; 11.1's own message names no errno.
    io_uring_blockdev_errno: str = "Operation not supported"
    # -device logical_block_size/physical_block_size: 7.2's set_blocksize() words a range
    # and a power-of-2 failure apart; 10.0's goes through util/block-helpers.c
    # check_block_size() ("parameter NAME must be a power of 2 between 512 and 2097152").
    block_size_check: bool = False
    # block/parallels.c: 10.0's parallels_open() parses prealloc-mode/-size
    # (parallels_opts_prealloc()) before bdrv_open_file_child() and the header read.
    parallels_prealloc_first: bool = False
    # util/vfio-helpers.c qemu_vfio_init_pci() opening VFIO's container for the nvme
    # driver: 7.2 to 10.2 call open() and say "Failed to open /dev/vfio/vfio: ERR" (the
    # 10.2.2 source too); the 11.1 binary goes through qemu_open() ("Could not open
    # '/dev/vfio/vfio': ERR").
    vfio_qemu_open: bool = False
    # hw/usb/dev-storage-classic.c usb_msd_storage_realize(): 7.2 applies its backend's
    # options (blkconf_apply_backend_options(): the permissions) before handing the
    # backend to the SCSI disk it makes; 10.0 leaves that to the SCSI disk, so a conflict
    # names .../scsi.0/legacy[0]
    usb_storage_own_perms: bool = True
    # hw/scsi/virtio-scsi.c virtio_scsi_hotplug(): 7.2 moves a SCSI disk's node into the
    # HBA's AioContext (its iothread's, else the main loop's) and fails the device when
    # another device's BlockBackend is on that node; 10.0 asks only for an iothread and
    # ignores a refusal ("I/O will still work"); qdrive.frontend._argv_context
    scsi_hotplug_context_fatal: bool = True
    # hw/i386/pc_piix.c pc_init1(): 7.2 makes the floppy controller (pc_basic_device_init)
    # before the NICs and then the IDE devices of -drive if=ide; 10.0 makes the IDE
    # devices first (pci_ide_create_devs() ahead of pc_basic_device_init())
    board_ide_first: bool = False
    # hw/display/virtio-gpu.c virtio_gpu_device_realize(): blob=on without udmabuf; 10.0
    # names rutabaga beside it. hw/display/virtio-gpu-gl.c: a GL device without a GL
    # display (10.0 with a hint)
    gpu_blob_refused: str = "cannot enable blob resources without udmabuf"
    gpu_no_opengl: str = "opengl is not available"
    # system/qdev-monitor.c qdev_device_add(): a device whose bus type exists only as
    # full buses (a virtio-*-device beside virtio PCI proxies): 7.2 and 10.0 say "No
    # 'virtio-bus' bus found for device ...", 11.1 "A 'virtio-bus' bus was found but is
    # full" (qdev_find_default_bus(), already in the 10.2.2 source: new after 10.0)
    full_bus_named: bool = False
    # hw/nvme/ctrl.c nvme_init_subsys(): 10.0 and 11.1 give a controller without
    # subsys= an implicit subsystem of its own, so an nvme-ns may be detached=on; 7.2
    # refuses that ("detached requires that the nvme device is linked to an
    # nvme-subsys device", seen live)
    nvme_implicit_subsys: bool = False
    # system/vl.c select_machine() refusing a machine it does not know: 7.2 says only
    # "unsupported machine type", 10.0 and 11.1 name it (`unsupported machine type: "virt"`)
    machine_named: bool = False
    # hw/i386/pc.c pc_nic_init() -> hw/pci/pci.c pci_nic_init_nofail(): 7.2 exits on a
    # -nic/-net nic model= the board cannot make ("Unsupported NIC model: X"); 10.0 and
    # 11.1 (net/net.c qemu_create_nic_device(), 9.0's NIC configuration rework) leave
    # it uncreated with a warning and start (measured with both binaries)
    nic_model_refused: bool = True
    removed_drivers: frozenset[str] = frozenset()
    # Drivers whose open warns "'NAME' is deprecated" once it has read its runtime options
    # (block/gluster.c qemu_gluster_open() from 9.2 on, seen in the 10.0 recordings).
    deprecated_drivers: frozenset[str] = frozenset()
    # block/curl.c curl_open() failing before its socket table exists: 7.2's out_noclean
    # path hands GLib a NULL table (two criticals on stderr); 10.0's and 11.1's recordings
    # (none of their 218 curl refusals has them) print nothing of the kind.
    curl_glib_criticals: bool = True
    # block/nfs.c nfs_parse_uri(): a query value that is not a number ("Illegal value for
    # NFS parameter: uid" in 7.2, "Invalid value ..." in 10.0 and 11.1).
    nfs_bad_value: str = "Illegal"
    # block/gluster.c qemu_gluster_parse_uri() over GLib's g_uri_parse() (QEMU 9.x, in
    # place of util/uri.c): "gluster+unix:///V/P" has an empty host, not none, so the
    # unix transport refuses it (recorded by 10.0).
    gluster_unix_empty_host: bool = False
    # block/rbd.c rados_connect() with monitors named: Debian 12's and 13's librados decode
    # an rbd: name's key= before contacting them ("error connecting: Invalid argument"
    # for one that is no CryptoKey); sid's (11.1) waits for the monitors first.
    ceph_key_decoded_first: bool = True
    # block/curl.c reports curl_easy_strerror()'s text after "CURL: Error opening file: ";
    # a refused connect is worded by the libcurl Debian links this QEMU with (7.2:
    # Debian 12's 7.88; 10.0: Debian 13's 8.14; 11.1: sid's, which joins host and port
    # with a colon). {host} {port} {ms}: the peer and the milliseconds the connect took.
    curl_connect_failed: str = ("Failed to connect to {host} port {port} after {ms} ms: "
                                "Couldn't connect to server")
    # block/nfs.c nfs_client_open(): libnfs's text when the server's name does not resolve
    # (Debian 12's libnfs 4.0 says why; Debian 13's 5.0 stops after "connection. ").
    nfs_unresolved: str = ("nfs_mount_async failed. Failed to start connection. Failed to "
                           "start connection. Invalid address:{host}. Can not resolv into "
                           "IPv4/v6 structure.")

    @property
    def options(self) -> Mapping[str, OptionSpec]:
        """The -drive option table (options.py): the 2008 one for the legacy parser."""
        return options_for(self.name)

    @property
    def machine_version(self) -> str | None:
        """The board version of its pc machine (``pc-i440fx-10.0``), None for 2008's."""
        return None if self.version is None else f"{self.version[0]}.{self.version[1]}"

    def options_added(self, driver: str) -> Mapping[str, Kind]:
        """The options a ``driver`` node reads in this release and not in 7.2's tables."""
        return {**self.new_options.get("*", {}), **self.new_options.get(driver, {})}

    def machine_status(self, name: str) -> str | None:
        """``removed`` or ``deprecated`` for a versioned pc machine this QEMU no longer
        has (or never had: a version no QEMU was released as, or one after its own) or
        warns about (``pc-i440fx-2.12``), None otherwise or when not modelled."""
        head, _, version = name.rpartition("-")
        parts = version.split(".")
        if head not in ("pc-i440fx", "pc-q35") or len(parts) not in (2, 3) or \
                not all(p.isdigit() for p in parts):
            return None
        v = (int(parts[0]), int(parts[1]))
        if len(parts) == 3 and (head, version) != ("pc-q35", "4.0.1"):
            return "removed"  # hw/i386/pc_q35.c: 4.0.1 is the one three-part version
        if self.version is not None and (v > self.version or
                                         v[1] > _RELEASE_MINORS.get(v[0], -1)):
            return "removed"
        if self.machines_removed_through is not None and v <= self.machines_removed_through:
            return "removed"
        if head == "pc-q35" and v < self.q35_machines_from:
            return "removed"
        if self.machines_deprecated_through is not None and \
                v <= self.machines_deprecated_through:
            return "deprecated"
        return None

    def __str__(self) -> str:
        return self.name


# The last minor release of each QEMU major (qemu.org's release history), so the last
# machine version it added (hw/i386/pc_piix.c, pc_q35.c DEFINE_I440FX_MACHINE/
# DEFINE_Q35_MACHINE, one per release): pc-i440fx-3.2 or -2.13 never existed.
_RELEASE_MINORS = {0: 15, 1: 7, 2: 12, 3: 1, 4: 2, 5: 2, 6: 2, 7: 2, 8: 2, 9: 2, 10: 2, 11: 1}


# The block models' -device properties new since 7.2 (``-device MODEL,help`` of 7.2's and
# 10.0's binaries): iothread-vq-mapping (virtio-blk and virtio-scsi, QEMU 9.0), in_order,
# busnr, PCIe and bounce-buffer knobs of every PCI device, IDE's win2k-install-hack, SCSI's
# migrate-emulated-scsi-request, nvme's atomic write and controller options.
_PCI_100 = frozenset({"busnr", "x-max-bounce-buffer-size", "x-pcie-ari-nextfn-1",
                      "x-pcie-err-unc-mask", "x-pcie-ext-tag"})
_VIRTIO_PCI_100 = _PCI_100 | {"in_order", "iothread-vq-mapping", "x-pcie-pm-no-soft-reset"}
_ADDED_100 = {
    "virtio-blk-pci": _VIRTIO_PCI_100, "virtio-scsi-pci": _VIRTIO_PCI_100,
    "ide-hd": frozenset({"win2k-install-hack"}), "ide-cd": frozenset({"win2k-install-hack"}),
    "scsi-hd": frozenset({"migrate-emulated-scsi-request"}),
    "scsi-cd": frozenset({"migrate-emulated-scsi-request"}),
    "nvme": _PCI_100 | {"atomic.awun", "atomic.awupf", "atomic.dn", "ctratt.mem", "dbcs",
                        "mqes", "ocp", "spdm_port"},
    "nvme-ns": frozenset({"fdp.ruhs", "nguid"}),
}
# 11.1's beside 10.0's: block statistics intervals on every block device, SR-IOV's
# sriov-pf on PCI ones, nvme's firmware-version/model/spdm_trans, scsi's
# quirk_mode_page_set_block_size; the old-machine compat knobs of PCI devices dropped
# with the machines 11.1 removed (migrate-extra, x-disable-pcie, x-pcie-*-init ...).
_STATS = frozenset({"stats-intervals"})
_ADDED_111 = {
    **{m: p | _STATS for m, p in _ADDED_100.items()},
    "virtio-blk-pci": _VIRTIO_PCI_100 | _STATS | {"sriov-pf"},
    "virtio-scsi-pci": _VIRTIO_PCI_100 | {"sriov-pf"},
    "scsi-hd": frozenset({"migrate-emulated-scsi-request", "quirk_mode_page_set_block_size"})
    | _STATS,
    "scsi-cd": frozenset({"migrate-emulated-scsi-request", "quirk_mode_page_set_block_size"})
    | _STATS,
    "nvme": _ADDED_100["nvme"] | _STATS | {"firmware-version", "model", "spdm_trans",
                                            "sriov-pf"},
    "floppy": _STATS, "usb-storage": _STATS,
    "nvme-ns": _ADDED_100["nvme-ns"] | _STATS | {"atomic.nabo", "atomic.nabsn",
                                                 "atomic.nabspf", "atomic.nawun",
                                                 "atomic.nawupf"},
}
_OLD_PCI_COMPAT = frozenset({"migrate-extra", "x-disable-pcie", "x-ignore-backend-features",
                             "x-pcie-deverr-init", "x-pcie-extcap-init", "x-pcie-lnkctl-init",
                             "x-pcie-pm-init"})
_REMOVED_111 = {"virtio-blk-pci": _OLD_PCI_COMPAT | {"scsi"},
                "virtio-scsi-pci": _OLD_PCI_COMPAT, "nvme": frozenset({"x-pcie-extcap-init"})}

_QEMU_72 = Dialect("qemu-7.2", (7, 2), "QEMU 7.2 (Debian 12)")
_QEMU_100 = attrs.evolve(
    _QEMU_72, name="qemu-10.0", version=(10, 0), description="QEMU 10.0 (Debian 13)",
    size_syntax=SizeSyntax.STRICT, xen_devices=True, translatable=False,
    tables="qemu-10.0", device_tables="qemu-10.0",
    module_notices=False, source_prefix="", io_uring_refused=None, io_uring_blockdev_errno="",
    io_uring_fallback="Unable to use linux io_uring, falling back to thread pool: "
                      "failed to init linux io_uring ring",
    block_size_check=True, machine_named=True, usb_storage_own_perms=False,
    nvme_implicit_subsys=True,
    scsi_hotplug_context_fatal=False, board_ide_first=True,
    gpu_blob_refused="need rutabaga or udmabuf for blob resources",
    gpu_no_opengl="The display backend does not have OpenGL support enabled\nIt can be "
                  "enabled with '-display BACKEND,gl=on' where BACKEND is the name of the "
                  "display backend to use.",
    nic_model_refused=False,
    parallels_prealloc_first=True,
    deprecated_drivers=frozenset({"gluster"}), curl_glib_criticals=False,
    nfs_bad_value="Invalid", gluster_unix_empty_host=True,
    curl_connect_failed="Failed to connect to {host} port {port} after {ms} ms: Could not "
                        "connect to server",
    nfs_unresolved="nfs_mount_async failed. Failed to start connection. ",
    machines_removed_through=(2, 3), machines_deprecated_through=(7, 0),
    machine_deprecation_reason="machines more than 3 years old are subject to deletion "
                               "after 6 years",
    # block.c "active" (QEMU 10.0: a node opened inactive), qcow2 "discard-no-unref" (8.1)
    new_options=MappingProxyType({"*": {"active": Kind.BOOL},
                                  "qcow2": {"discard-no-unref": Kind.BOOL}}),
    # virtio-blk's legacy SCSI passthrough property "scsi" is gone (hw/block/virtio-blk.c)
    removed_properties=MappingProxyType({"virtio-blk-pci": frozenset({"scsi"})}),
    added_properties=MappingProxyType(_ADDED_100),
    config_errors_at_line=False)
_QEMU_111 = attrs.evolve(
    _QEMU_100, name="qemu-11.1", version=(11, 1), description="QEMU 11.1 (Debian sid)",
    json_errors=JsonErrors.LOCATED,
    # Debian sid's 11.1 source is not in the archive reached here: its tables are 10.0's
    # (grammar/qemu-11.1/ is derived from the binary and lacks the C-only facts) less the
    # gluster driver 11.1 removed (deprecated since 9.2), plus curl's force-range.
    device_tables="qemu-11.1",
    removed_drivers=frozenset({"gluster"}), rbd_unknown_conf=frozenset({"auth_supported"}),
    blkdebug_config_opened=True, ceph_key_decoded_first=False, vfio_qemu_open=True,
    full_bus_named=True,
    curl_connect_failed="Failed to connect to {host}:{port} after {ms} ms: Could not connect "
                        "to server",
    added_properties=MappingProxyType(_ADDED_111),
    removed_properties=MappingProxyType(_REMOVED_111),
    io_uring_refused="aio=io_uring was specified, but is not available (disabled via "
                     "io_uring_disabled sysctl or blocked by container runtime seccomp policy?)",
    io_uring_fallback=None,
    new_options=MappingProxyType({
        "*": {"active": Kind.BOOL}, "qcow2": {"discard-no-unref": Kind.BOOL},
        **{d: {"force-range": Kind.BOOL} for d in ("http", "https", "ftp", "ftps")}}),
    machines_removed_through=(5, 1), machines_deprecated_through=(8, 1))
_QEMU_2008 = Dialect("qemu-0.9-sync", None, "QEMU 0.9 (2008) with the seed's sync= patch",
                     legacy=True, translatable=False, command_line=False)

REGISTRY: Mapping[str, Dialect] = MappingProxyType(
    {d.name: d for d in (_QEMU_72, _QEMU_100, _QEMU_111, _QEMU_2008)})
DEFAULT = REGISTRY[DEFAULT_DIALECT]
assert tuple(REGISTRY) == DIALECTS, "model.DIALECTS and the registry name the same dialects"


def get(name: str | Dialect) -> Dialect:
    """The Dialect called ``name`` (a Dialect is returned as it is).

    Raises :class:`UnsupportedDialect` for a name qdrive does not know; ``auto`` is
    resolved before this (qdrive.frontend.autodialect), it is not a dialect.
    """
    if isinstance(name, Dialect):
        return name
    found = REGISTRY.get(name)
    if found is None:
        raise UnsupportedDialect(f"unknown dialect {name!r}; qdrive knows {', '.join(REGISTRY)}")
    return found


def __dir__() -> list[str]:
    # dir() and completion show the public names only (the packaging habit).
    return sorted(__all__)
