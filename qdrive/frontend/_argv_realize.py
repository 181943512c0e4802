"""What realizing a block device checks: hw/block/virtio-blk.c, hw/ide/qdev.c,
hw/scsi/scsi-disk.c, hw/usb/dev-storage-classic.c, hw/nvme/ctrl.c, hw/nvme/ns.c and
hw/block/fdc.c (their units, sizes and geometry, hw/block/block.c blkconf_*), then the
permissions and image locks the device takes on its node (qdrive.frontend._argv_locks).
"""

from __future__ import annotations

from typing import Any

from .._values import prop_int as _int
from ..probe import image_length
from ._argv_locks import _chain, _identity_of, _node_host_problem, _node_perms, \
    _writable_below
from ._argv_context import scsi_realize
from ._argv_state import PROG, Phase, _Event, _State


def _size(props: dict[str, str], key: str, default: int) -> int:
    from .._values import parse_size

    try:
        return int(parse_size(key, props[key])[0]) if key in props else default
    except (ValueError, Exception):  # noqa: BLE001 - refused earlier by _bad_value
        return default


def _blocksizes(props: dict[str, str]) -> str:
    # hw/block/block.c blkconf_blocksizes(): both sizes default to 512 for an image file
    logical = _size(props, "logical_block_size", 0) or 512
    physical = _size(props, "physical_block_size", 0) or 512
    if logical > physical:
        return "logical_block_size > physical_block_size not supported"
    if _size(props, "min_io_size", 0) % logical:
        return "min_io_size must be a multiple of logical_block_size"
    if _size(props, "opt_io_size", 0) % logical:
        return "opt_io_size must be a multiple of logical_block_size"
    granularity = _size(props, "discard_granularity", -1)
    if granularity != -1 and granularity % logical:
        return "discard_granularity must be a multiple of logical_block_size"
    return ""


def _geometry(props: dict[str, str], heads_max: int) -> str:
    # hw/block/block.c blkconf_geometry(): checked once any of the three is given
    cyls, heads, secs = (_int(props.get(k, "0")) for k in ("cyls", "heads", "secs"))
    if not (cyls or heads or secs):
        return ""
    if not 1 <= cyls <= 65535:
        return "cyls must be between 1 and 65535"
    if not 1 <= heads <= heads_max:
        return f"heads must be between 1 and {heads_max}"
    if not 1 <= secs <= 255:
        return "secs must be between 1 and 255"
    return ""


def _empty(st: _State, name: str | None) -> bool:
    r = st.backends.get(name or "")
    return r is not None and r.drive is not None and not r.drive.file and \
        not r.drive.driver_options


def _model_checks(st: _State, model: str, props: dict[str, str], machine: str) -> str:
    """The realize checks of hw/block/virtio-blk.c, hw/ide/qdev.c, hw/scsi/scsi-disk.c,
    hw/usb/dev-storage-classic.c and hw/nvme/ctrl.c, in their order."""
    name = props.get("drive")
    if model == "virtio-blk-pci":
        if not name:
            return "drive property not set"
        if _empty(st, name):
            return "Device needs media, but drive is empty"
        if props.get("num-queues") is not None and _int(props["num-queues"]) == 0:
            return "num-queues property must be larger than 0"
        size = _int(props.get("queue-size", "256"))
        if size <= 2:
            return f"invalid queue-size property ({size}), must be > 2"
        if size & (size - 1) or size > 1024:
            return f"invalid queue-size property ({size}), must be a power of 2 (max 1024)"
        return ""  # the rest once its permissions are taken: _virtio_blk_after_perms
    if model in ("ide-hd", "ide-cd"):
        problem = _ide_unit(st, props, 1 if machine == "q35" else 2,
                            "ide.5" if machine == "q35" else "ide.1")
        if problem:
            return problem
        if not name and model == "ide-hd":
            return "No drive specified"
        granularity = _size(props, "discard_granularity", -1)
        if granularity not in (-1, 0, 512):
            return "discard_granularity must be 512 for ide"
        problem = _blocksizes(props)
        if problem:
            return problem
        if (_size(props, "logical_block_size", 0) or 512) != 512:
            return "logical_block_size must be 512 for IDE"
        return _geometry(props, 16) if model == "ide-hd" else ""
    if model in ("scsi-hd", "scsi-cd"):
        from ._argv_scsi import place

        # hw/scsi/scsi-bus.c scsi_qdev_realize(): the address, before the disk's realize
        problem = place(st.scsi_buses, props)
        if problem:
            return problem
    if model in ("scsi-hd", "usb-storage") and not name:
        return "drive property not set"
    if model == "nvme":
        return _nvme(st, props)
    if model == "nvme-ns":
        return _nvme_ns(st, props)
    if model in ("scsi-hd", "scsi-cd"):
        return _blocksizes(props) or scsi_realize(st, props)
    if model == "floppy":
        return _floppy(st, props)
    if model == "virtio-scsi-pci":
        return virtio_scsi_realize(props)
    return ""


def virtio_scsi_realize(props: dict[str, str]) -> str:
    """hw/scsi/virtio-scsi.c virtio_scsi_common_realize() (its queues: 1022 is
    VIRTIO_QUEUE_MAX less the control and event queues), then
    virtio_scsi_dataplane_setup()."""
    queues = _int(props.get("num_queues", "1"))
    if queues == 0 or queues > 1022:
        return (f"Invalid number of queues (= {queues}), must be a positive integer less "
                "than 1022.")
    size = _int(props.get("virtqueue_size", "256"))
    if size <= 2:
        return f"invalid virtqueue_size property (= {size}), must be > 2"
    return ioeventfd_required(props)


def sg_version(st: _State, name: str | None) -> str:
    """hw/scsi/scsi-generic.c scsi_generic_realize() and hw/scsi/scsi-disk.c
    scsi_block_realize(): a drive first, then SG_GET_VERSION_NUM on it, before any
    permission is taken. Only block/file-posix.c hdev_co_ioctl() (host_device, host_cdrom)
    runs the ioctl, and raw without offset or size passes it down (raw_co_ioctl()); every
    other node answers ENOTSUP (block/io.c bdrv_co_ioctl()). A host device is asked for
    real, as QEMU would, when files may be opened; iscsi's ioctl is not judged."""
    if not name:
        return "drive property not set"
    target = _sg_target(st, name)
    if target is None:
        return ""
    if target == "":
        return "cannot get SG_IO version number: Operation not supported\nIs this a SCSI device?"
    return _ask_sg(target) if st.graph.touch_files else ""


def _sg_target(st: _State, name: str) -> str | None:
    """The host device file the ioctl reaches ("" none: ENOTSUP; None: not judged)."""
    from .hostprobe import protocol_of

    if name in st.backends:  # a -drive: its format, then its protocol
        r = st.backends[name]
        d = r.drive
        if d is None or not r.image:
            return None
        if str(r.format or d.format or "") != "raw" or {"offset", "size"} & set(
                d.driver_options):
            return ""
        import os
        import stat

        try:
            device = not stat.S_ISREG(os.stat(r.image).st_mode)
        except OSError:
            return None
        protocol = protocol_of(d, device)
        return r.image if protocol in ("host_device", "host_cdrom") else \
            "" if protocol == "file" else None
    node = st.graph.nodes.get(name)
    while node is not None and node.driver == "raw" and not (
            {"offset", "size"} & set(node.options)):
        node = node.children.get("file")
    if node is None or node.driver == "iscsi":
        return None
    if node.driver in ("host_device", "host_cdrom"):
        return node.filename or None
    return ""


# include/scsi/sg.h: the ioctl scsi-generic and scsi-block ask their host device first
_SG_GET_VERSION_NUM = 0x2282


def _ask_sg(filename: str) -> str:
    import errno
    import fcntl
    import os

    try:
        fd = os.open(filename, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""  # the node's own open reports it
    try:
        fcntl.ioctl(fd, _SG_GET_VERSION_NUM, bytearray(4))
    except OSError as e:
        hint = "" if e.errno == errno.EPERM else "\nIs this a SCSI device?"
        return f"cannot get SG_IO version number: {os.strerror(e.errno or 0)}{hint}"
    finally:
        os.close(fd)
    return ""


def _virtio_blk_after_perms(props: dict[str, str]) -> str:
    """hw/block/virtio-blk.c virtio_blk_device_realize() after
    blkconf_apply_backend_options(): geometry, block sizes, the dataplane's needs
    (ioeventfd_required); then, as the device is plugged, virtio_blk_get_features()
    (scsi=on with virtio 1.0)."""
    return _geometry(props, 255) or _blocksizes(props) or ioeventfd_required(props) or (
        "Please set scsi=off for virtio-blk devices in order to use virtio 1.0"
        if props.get("scsi") in _ON and props.get("disable-modern") not in _ON else "")


_ON = ("on", "yes", "true", "y")


def ioeventfd_required(props: dict[str, str]) -> str:
    """hw/block/dataplane/virtio-blk.c virtio_blk_data_plane_create() and
    hw/scsi/virtio-scsi-dataplane.c virtio_scsi_dataplane_setup(): an iothread needs
    the transport's ioeventfd (hw/virtio/virtio-pci.c, property ioeventfd, on)."""
    if "iothread" in props and props.get("ioeventfd", "on") not in _ON:
        return "ioeventfd is required for iothread"
    return ""


def _ide_unit(st: _State, props: dict[str, str], units: int, board_last: str) -> str:
    """hw/ide/qdev.c ide_qdev_realize(): the unit (1 when the master is taken, else 0)
    must exist on the bus and be free; it is taken before the device's own checks.

    An IDE bus is never full for qdev (no max_dev), so without bus= the device goes to
    the first IDE bus softmmu/qdev-monitor.c qbus_find_recursive() meets, and it meets
    the newest first (hw/core/qdev.c and bus.c insert children and buses at the head):
    the last bus of the newest -device IDE controller, else the board's last one (q35's
    ide.5, pc's ide.1), whatever the legacy drives took (seen in QEMU 7.2's qtree)."""
    bus = props.get("bus") or next(reversed(st.ide_bus_units), board_last)
    taken = st.ide_units.setdefault(bus, set())
    units = st.ide_bus_units.get(bus, units)
    unit = _int(props["unit"]) if "unit" in props else (1 if 0 in taken else 0)
    if unit >= units:
        return f"Can't create IDE unit {unit}, bus supports only {units} units"
    if unit in taken:
        return f"IDE unit {unit} is in use"
    taken.add(unit)
    return ""


def _nvme(st: _State, props: dict[str, str]) -> str:
    """hw/nvme/ctrl.c nvme_check_params(): num_queues (deprecated, a warning) sets
    max_ioqpairs, which must be 1..65535 (NVME_MAX_IOQPAIRS), then msix_qsize 1..2048,
    then the serial."""
    pairs = _int(props.get("max_ioqpairs", "64"))
    queues = _int(props.get("num_queues", "0"))
    if queues:
        index, option, text = st.device_at
        st.events.append(_Event(Phase.DEVICES, index, f"{PROG}: {option} {text}: warning: "
                                "num_queues is deprecated; please use max_ioqpairs instead",
                                False))
        pairs = queues - 1
    if not 1 <= pairs <= 0xFFFF:
        return "max_ioqpairs must be between 1 and 65535"
    if not 1 <= _int(props.get("msix_qsize", "65")) <= 2048:
        return "msix_qsize must be between 1 and 2048"
    if "serial" not in props:
        return "serial property not set"
    if props.get("drive"):
        # nvme_realize() -> hw/nvme/ns.c nvme_ns_setup() for the namespace the drive
        # property makes (nsid 1): nvme_ns_init_blk() begins with blkconf_blocksizes()
        problem = _blocksizes(props)
        if not problem:
            bus = st.nvme_buses.get(props.get("id") or f"#nvme{st.device_at[0]}")
            if bus is not None:
                bus[0].add(1)
        return problem
    return ""


_NVME_MAX_NAMESPACES = 256  # hw/nvme/nvme.h
_NVME_DEFAULT_ZONE_SIZE = 128 << 20  # hw/nvme/ns.c


def _nvme_bus(st: _State, props: dict[str, str]) -> tuple[set[int], bool] | None:
    """The controller an nvme-ns goes on: bus= names it, else the newest nvme-bus
    (qbus_find_recursive() meets the newest device first)."""
    name = props.get("bus") or (st.buses.get("nvme-bus") or [""])[-1]
    return st.nvme_buses.get(name)


def _nvme_ns(st: _State, props: dict[str, str]) -> str:
    """hw/nvme/ns.c nvme_ns_realize() up to the backend's permissions: detached without
    a subsystem, then nvme_ns_setup() -> nvme_ns_check_constraints() (the drive, the
    protection information, the nsid range, the zoned limits) and nvme_ns_init_blk()'s
    block sizes. A namespace of a controller linked to an nvme-subsys is not judged."""
    bus = _nvme_bus(st, props)
    if bus is None or bus[1]:
        return ""
    if props.get("detached", "off") in _ON and not st.dialect.nvme_implicit_subsys:
        return "detached requires that the nvme device is linked to an nvme-subsys device"
    if not props.get("drive"):
        return "block backend not configured"
    pi = _int(props.get("pi", "0"))
    if pi:
        if pi > 3:
            return "invalid 'pi' value"
        pif = _int(props.get("pif", "0"))
        if pif not in (0, 2):  # NVME_PI_GUARD_16, NVME_PI_GUARD_64
            return "invalid 'pif'"
        need = 8 if pif == 0 else 16
        if _int(props.get("ms", "0")) < need:
            return (f"at least {need} bytes of metadata required to enable protection "
                    "information")
    if _int(props.get("nsid", "0")) > _NVME_MAX_NAMESPACES:
        return f"invalid namespace id (must be between 0 and {_NVME_MAX_NAMESPACES})"
    if props.get("zoned", "off") in _ON:
        problem = _nvme_zoned_limits(props)
        if problem:
            return problem
    return _blocksizes(props)


def _nvme_zoned_limits(props: dict[str, str]) -> str:
    """nvme_ns_check_constraints() for a zoned namespace (the random write area checks
    are not modelled)."""
    active, opened = (_int(props.get(f"zoned.max_{k}", "0")) for k in ("active", "open"))
    if active and opened > active:
        return f"max_open_zones ({opened}) exceeds max_active_zones ({active})"
    ext = _int(props.get("zoned.descr_ext_size", "0"))
    if ext and ext & 0x3F:
        return "zone descriptor extension size must be a multiple of 64B"
    if ext and (ext >> 6) > 0xFF:
        return "zone descriptor extension size is too large"
    return ""


def _nvme_ns_after_perms(st: _State, props: dict[str, str]) -> str:
    """nvme_ns_realize() after nvme_ns_init_blk()'s permissions: nvme_ns_init()'s LBA
    format, the zoned geometry against the drive's size, then the namespace id (the
    first free one when none is given)."""
    bus = _nvme_bus(st, props)
    if bus is None or bus[1]:
        return ""
    if props.get("zoned", "off") in _ON:
        problem = _nvme_zone_geometry(st, props)
        if problem:
            return problem
    nsid = _int(props.get("nsid", "0"))
    taken = bus[0]
    if nsid and nsid in taken:
        return f"namespace id '{nsid}' already allocated"
    if not nsid:
        nsid = next((i for i in range(1, _NVME_MAX_NAMESPACES + 1) if i not in taken), 0)
        if not nsid:
            return "no free namespace id"
    taken.add(nsid)
    return ""


def _nvme_zone_geometry(st: _State, props: dict[str, str]) -> str:
    """hw/nvme/ns.c nvme_ns_zoned_check_calc_geometry(): zone size and capacity against
    each other and the LBA size (nvme_ns_init(): the largest power of two in
    logical_block_size), then the number of whole zones the drive holds (its LBAs
    carry ``ms`` bytes of metadata each), which must not be 0."""
    zone = _size(props, "zoned.zone_size", 0) or _NVME_DEFAULT_ZONE_SIZE
    cap = _size(props, "zoned.zone_capacity", 0) or zone
    lbasz = 1 << ((_size(props, "logical_block_size", 0) or 512).bit_length() - 1)
    if cap > zone:
        return f"zone capacity {cap}B exceeds zone size {zone}B"
    if zone < lbasz:
        return f"zone size {zone}B too small, must be at least {lbasz}B"
    if cap < lbasz:
        return f"zone capacity {cap}B too small, must be at least {lbasz}B"
    size = _drive_bytes(st, props.get("drive", ""))
    if size is None:
        return ""
    lbas = size // (lbasz + _int(props.get("ms", "0")))
    if not lbas // (zone // lbasz):
        return ("insufficient drive capacity, must be at least the size of one zone "
                f"({zone}B)")
    return ""


def _drive_bytes(st: _State, name: str) -> int | None:
    """The virtual size of a -drive's image or a -blockdev node, where it is plain:
    a raw image without offset/size (its file's size) or a qcow2 one (its header's
    size); None otherwise."""
    backend = st.backends.get(name)
    if backend is not None:
        drive = backend.drive
        if drive is None or drive.driver_options or not backend.image:
            return None
        return image_length(backend.image, backend.format or "")
    node = st.graph.nodes.get(name)
    if node is None:
        return None
    if node.driver in ("raw", "qcow2") and set(node.children) == {"file"} and \
            not {"offset", "size"} & set(node.options):
        node, fmt = node.children["file"], node.driver
    else:
        fmt = "raw"
    if node.driver != "file" or not node.filename:
        return None
    return image_length(str(node.filename), fmt)


def _floppy(st: _State, props: dict[str, str]) -> str:
    """hw/block/fdc.c floppy_drive_realize(): the unit (the first free one when not
    given) of the two, then the block sizes, which must both be 512."""
    unit = _int(props.get("unit", "-1"))
    if unit == -1:
        unit = next((u for u in (0, 1) if u not in st.floppy_units), 2)
    if unit >= 2:
        return f"Can't create floppy unit {unit}, bus supports only 2 units"
    if unit in st.floppy_units:
        return f"Floppy unit {unit} is in use"
    problem = _blocksizes(props)
    if problem:
        return problem
    if (_size(props, "logical_block_size", 0) or 512) != 512 or \
            (_size(props, "physical_block_size", 0) or 512) != 512:
        return "Physical and logical block size must be 512 for floppy"
    st.floppy_units.add(unit)
    return ""


def _realize(st: _State, model: str, props: dict[str, str], machine: str = "pc") -> str:
    """What realizing the device checks that qdrive models: the model's own checks,
    read-only nodes on IDE disks (hw/ide/qdev.c ide_dev_initfn), then the image locks
    it takes."""
    problem = _model_checks(st, model, props, machine) or _backend_perms(st, model, props)
    if problem or model not in ("virtio-blk-pci", "floppy", "nvme-ns"):
        return problem
    if model == "floppy":
        return _floppy_error_actions(st, props)
    if model == "nvme-ns":
        return _nvme_ns_after_perms(st, props)
    return _virtio_blk_after_perms(props)


def _floppy_error_actions(st: _State, props: dict[str, str]) -> str:
    """hw/block/fdc.c floppy_drive_realize() after the backend's permissions: the
    controller has no rerror/werror of its own, so the backend's must be the defaults
    (a -drive's werror=enospc or report, rerror=report; a -blockdev node has both)."""
    backend = st.backends.get(props.get("drive", ""))
    drive = backend.drive if backend is not None else None
    if drive is None:
        return ""
    if str(drive.werror or "enospc") not in ("enospc", "report"):
        return "fdc doesn't support drive option werror"
    if str(drive.rerror or "report") != "report":
        return "fdc doesn't support drive option rerror"
    return ""


def _backend_perms(st: _State, model: str, props: dict[str, str]) -> str:
    """hw/block/block.c blkconf_apply_backend_options(): read-only nodes on IDE disks,
    then the permissions and image locks the device takes on its drive."""
    name = props.get("drive")
    if not name:
        return ""
    node = st.graph.nodes.get(name)
    read_only = node.read_only if node is not None else bool(
        st.backends[name].drive.effective_read_only if name in st.backends else False)
    if model == "ide-hd" and read_only:
        return "Block node is read-only"
    share = props.get("share-rw", "off") in ("on", "yes", "true", "y")
    write = not read_only and model not in _CD_MODELS
    if write and name in st.backends and _dropped_below(st.backends[name]):
        # block.c bdrv_node_refresh_perm(): the device's write permission reaches a node
        # that went read-only as it opened (vvfat without rw, bochs, ...)
        return "Block node is read-only"
    if node is not None:
        problem = _node_perms(st, name, write, share, _user_desc(st, model, props, True),
                              _user_desc(st, model, props)) or _writable_below(node, write)
        if problem:
            return problem
    ident, label = _identity_of(st, name)
    if ident is None:
        return ""
    chain = frozenset(id(n) for n in _chain(st.graph.nodes.get(name)))
    if name in st.backends:
        chain = frozenset({id(st.backends[name])})
    return st.locks.take(ident, label, write=write, unshare=not share, chain=chain) or (
        _node_host_problem(node, write, share) if node is not None else "")


def _dropped_below(r: Any) -> bool:
    """A -drive whose node, or its file child, dropped to read-only under
    auto-read-only (qdrive.frontend.formats.drops_to_read_only)."""
    from .formats import drops_to_read_only

    return r.drive is not None and r.ok and drops_to_read_only(r.drive, r.format)


# hw/ide/qdev.c ide_dev_initfn(), hw/scsi/scsi-disk.c scsi_cd_realize(): a CD asks its
# backend for read permission only (blkconf_apply_backend_options(readonly=true)).
_CD_MODELS = frozenset({"ide-cd", "scsi-cd"})


def _user_desc(st: _State, model: str, props: dict[str, str], realizing: bool = False
               ) -> str:
    """block/block-backend.c blk_root_get_parent_desc(): the device's id, else the QOM
    path of the device that owns the BlockBackend (virtio-blk-pci's virtio-backend;
    usb-storage while it realizes, then the SCSI disk it makes and hands its backend to,
    hw/usb/dev-storage-classic.c usb_msd_storage_realize)."""
    if model == "virtio-blk-pci":
        return f"block device '{st.device_path}/virtio-backend'"
    # 10.0's usb_msd_storage_realize() no longer applies the backend options itself: the
    # SCSI disk asks for every permission (Dialect.usb_storage_own_perms)
    if model == "usb-storage" and not (realizing and st.dialect.usb_storage_own_perms):
        bus = f"{props['id']}.0" if "id" in props else "scsi.0"
        return f"block device '{st.device_path}/{bus}/legacy[0]'"
    return f"block device '{props.get('id') or st.device_path}'"
