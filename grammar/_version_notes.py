"""Why each version difference in grammar/qemu-versions.md happened: kept by hand.

One row per explanation: (from version, to version, subject, change prefix, note). A
difference whose note is missing shows the "since" its schema documentation gives, if
any; a row here that matches no difference makes the versions test fail, so a note
never outlives the difference it explains.
"""

from __future__ import annotations

__all__ = ["NOTES"]

_BLKIO = ("block/blkio.c is in the 7.2 source too; Debian 12 builds QEMU without libblkio "
          "and Debian 13 with it (qapi-block.json build_conditions: CONFIG_BLKIO false in "
          "7.2, true in 10.0). A Debian build change, not a QEMU one.")
_GLUSTER = (
    "Deprecated since 9.2 (10.0 docs/about/deprecated.rst, 'gluster backend': GlusterFS "
    "development effectively ended); 10.0 still lists it (BlockdevDriver value with feature "
    "'deprecated'). The 10.2.2 source (Debian sid's 1:10.2.2+ds-1) still has block/gluster.c, "
    "the glusterfs meson option and the deprecation note, so the driver went in 11.0 or 11.1; "
    "the 11.1 binary has no gluster driver, QAPI branch or enum value. The 11.1 source itself "
    "is not in the Debian archive reached here (its pool returns 404)."
)
_LUKS_HEADER = ("LUKS detached headers, QEMU 9.0: BlockdevOptionsLUKS 'header' (since 9.0, "
                "10.0 qapi/block-core.json) opened as the 'header' child in block/crypto.c; "
                "qemu-img's detached-header create option (block/crypto.h "
                "BLOCK_CRYPTO_OPT_LUKS_DETACHED_HEADER).")
_ACTIVE = ("Nodes can be opened inactive, QEMU 10.0 (BlockdevOptions 'active', since 10.0, "
           "10.0 qapi/block-core.json; read by block.c from bdrv_runtime_opts).")
_DISCARD_NO_UNREF = ("qcow2 'discard-no-unref', QEMU 8.1 (BlockdevOptionsQcow2, since 8.1, "
                     "10.0 qapi/block-core.json; QCOW2_OPT_DISCARD_NO_UNREF in block/qcow2.h).")
_DELAY_NS = (
    "blkdebug 'delay-ns' (block/blkdebug.c inject-error, BlkdebugInjectErrorOptions, "
    "documented 'since: 11.1'): an upstream change of the 11.1 cycle taken into the 10.0 "
    "stable branch: Debian's 10.0.13 changelog lists 'blkdebug: Add delay-ns option' under "
    "the 10.0.10 upstream stable release, and the 10.2.2 source does not have it."
)
_FORCE_RANGE = (
    "curl 'force-range': skip the HEAD request and size the image with a one-byte ranged "
    "GET (block/curl.c, BlockdevOptionsCurlHttp/Https). Neither the 10.0.13 nor the 10.2.2 "
    "source has it, so it is new in 11.0 or 11.1 (seen in the 11.1 binary)."
)
_KEEPALIVE = (
    "TCP keep-alive tuning for inet sockets (keep-alive-count, keep-alive-idle, "
    "keep-alive-interval), QEMU 10.1 ('Since 10.1' in the 10.2.2 source's qapi/sockets.json, "
    "each 'if' a HAVE_TCP_KEEP* build condition); reached -blockdev through "
    "InetSocketAddress (nbd, ssh, gluster server addresses)."
)
_KEEP_DATA_FILE = (
    "qcow2 create option keep_data_file: in the 11.1 binary's qcow2-create-opts, in neither "
    "the 10.0.13 nor the 10.2.2 source (block/qcow2.h, block/qcow2.c), so new in 11.0 or "
    "11.1; a qemu-img create option, not one -drive reads."
)
_FD_SOCKET = ("SocketAddress's 'fd' branch was String in 7.2 and is FdSocketAddress in 10.0 "
              "(qapi/sockets.json): the same one 'str' member under a new name.")
_RBD_LUKS_ANY = ("rbd encryption 'luks-any' and layered 'parent' encryption, QEMU 8.0 "
                 "(RbdEncryptionOptions, since 8.0, 10.0 qapi/block-core.json).")
_CBW_MIN = ("copy-before-write 'min-cluster-size', QEMU 9.2 (BlockdevOptionsCbw, since 9.2, "
            "10.0 qapi/block-core.json).")

NOTES: tuple[tuple[str, str, str, str, str], ...] = (
    ("7.2", "10.0", "io_uring", "new in -drive format=help", _BLKIO),
    ("7.2", "10.0", "nvme-io_uring", "new in -drive format=help", _BLKIO),
    ("7.2", "10.0", "virtio-blk-vfio-pci", "new in -drive format=help", _BLKIO),
    ("7.2", "10.0", "virtio-blk-vhost-user", "new in -drive format=help", _BLKIO),
    ("7.2", "10.0", "virtio-blk-vhost-vdpa", "new in -drive format=help", _BLKIO),
    ("7.2", "10.0", "BlockdevOptionsIoUring", "type newly reached", _BLKIO),
    ("7.2", "10.0", "BlockdevOptionsNvmeIoUring", "type newly reached", _BLKIO),
    ("7.2", "10.0", "BlockdevOptionsVirtioBlkVfioPci", "type newly reached", _BLKIO),
    ("7.2", "10.0", "BlockdevOptionsVirtioBlkVhostUser", "type newly reached", _BLKIO),
    ("7.2", "10.0", "BlockdevOptionsVirtioBlkVhostVdpa", "type newly reached", _BLKIO),
    ("7.2", "10.0", "BlockdevDriver", "value io_uring added", _BLKIO),
    ("7.2", "10.0", "BlockdevDriver", "value nvme-io_uring added", _BLKIO),
    ("7.2", "10.0", "BlockdevDriver", "value virtio-blk-", _BLKIO),
    ("7.2", "10.0", "BlockdevOptions", "branch io_uring added", _BLKIO),
    ("7.2", "10.0", "BlockdevOptions", "branch nvme-io_uring added", _BLKIO),
    ("7.2", "10.0", "BlockdevOptions", "branch virtio-blk-", _BLKIO),
    ("7.2", "10.0", "luks", "children changed", _LUKS_HEADER),
    ("7.2", "10.0", "luks create_opts", "detached-header added", _LUKS_HEADER),
    ("7.2", "10.0", "BlockdevOptionsLUKS", "member header added", _LUKS_HEADER),
    ("7.2", "10.0", "block.c:bdrv_runtime_opts", "active added", _ACTIVE),
    ("7.2", "10.0", "BlockdevOptions", "member active added", _ACTIVE),
    ("7.2", "10.0", "qcow2 runtime_opts", "discard-no-unref added", _DISCARD_NO_UNREF),
    ("7.2", "10.0", "BlockdevOptionsQcow2", "member discard-no-unref added", _DISCARD_NO_UNREF),
    ("7.2", "10.0", "blkdebug runtime_opts", "delay-ns added", _DELAY_NS),
    ("7.2", "10.0", "BlkdebugInjectErrorOptions", "member delay-ns added", _DELAY_NS),
    ("7.2", "10.0", "String", "type no longer reached", _FD_SOCKET),
    ("7.2", "10.0", "FdSocketAddress", "type newly reached", _FD_SOCKET),
    ("7.2", "10.0", "SocketAddress", "branch fd type changed", _FD_SOCKET),
    ("7.2", "10.0", "RbdEncryptionOptionsLUKSAny", "type newly reached", _RBD_LUKS_ANY),
    ("7.2", "10.0", "RbdEncryptionOptions", "", _RBD_LUKS_ANY),
    ("7.2", "10.0", "RbdImageEncryptionFormat", "value luks-any added", _RBD_LUKS_ANY),
    ("7.2", "10.0", "BlockdevOptionsCbw", "member min-cluster-size added", _CBW_MIN),
    ("10.0", "11.1", "gluster", "no longer in -drive format=help", _GLUSTER),
    ("10.0", "11.1", "BlockdevOptionsGluster", "type no longer reached", _GLUSTER),
    ("10.0", "11.1", "BlockdevDriver", "value gluster removed", _GLUSTER),
    ("10.0", "11.1", "BlockdevOptions", "branch gluster removed", _GLUSTER),
    ("10.0", "11.1", "ftp runtime_opts", "force-range added", _FORCE_RANGE),
    ("10.0", "11.1", "ftps runtime_opts", "force-range added", _FORCE_RANGE),
    ("10.0", "11.1", "http runtime_opts", "force-range added", _FORCE_RANGE),
    ("10.0", "11.1", "https runtime_opts", "force-range added", _FORCE_RANGE),
    ("10.0", "11.1", "BlockdevOptionsCurlHttp", "member force-range added", _FORCE_RANGE),
    ("10.0", "11.1", "BlockdevOptionsCurlHttps", "member force-range added", _FORCE_RANGE),
    ("10.0", "11.1", "InetSocketAddress", "member keep-alive-", _KEEPALIVE),
    ("10.0", "11.1", "qcow2 create_opts", "keep_data_file added", _KEEP_DATA_FILE),
)

# Why each Dialect attribute differs from the release before (grammar/_derive_dialects.py):
# (from, to, attribute) -> the QEMU (or Debian build) change, with what was measured.
BEHAVIOUR: dict[tuple[str, str, str], str] = {
    ("7.2", "10.0", "size_syntax"):
        "util/cutils.c qemu_strtosz(): the hex-with-suffix sizes 7.2 accepted with a "
        "deprecation warning ('0x1k') are refused by 10.0 (the deprecation ran out).",
    ("7.2", "10.0", "xen_devices"):
        "10.0 makes xen-disk/xen-cdrom devices of if=xen drives at board start "
        "(hw/block/xen-block.c); without a xen-bus qdev refuses them, where 7.2 gave the "
        "orphan check (measured).",
    ("7.2", "10.0", "machines_removed_through"):
        "include/hw/boards.h MACHINE_VER_DELETION (9.1): versioned machines older than 6 "
        "years are deleted; 10.0 still has those 9.1 did not remove by hand (2.4 on).",
    ("7.2", "10.0", "machines_deprecated_through"):
        "MACHINE_VER_DEPRECATION (9.1): versioned machines older than 3 years warn "
        "'Machine type ... is deprecated' (7.2 warned about pc-i440fx-1.4 to 1.7 only, "
        "deprecated by hand in hw/i386/pc_piix.c).",
    ("7.2", "10.0", "machine_deprecation_reason"):
        "the deprecation_reason 9.1's MACHINE_VER_DEPRECATION gives every versioned "
        "machine (include/hw/boards.h), where 7.2's hand-deprecated pc-i440fx-1.x gave "
        "their own (measured with -M pc-i440fx-1.5 and pc-i440fx-7.0).",
    ("7.2", "10.0", "new_options"):
        "block.c bdrv_runtime_opts 'active' (10.0: nodes opened inactive) and qcow2 "
        "'discard-no-unref' (8.1); see the table diff above.",
    ("7.2", "10.0", "config_errors_at_line"):
        "util/qemu-config.c qemu_config_do_parse() / qemu_read_config_file(): a "
        "-readconfig parse error is reported at the -readconfig option with the whole "
        "message, no longer at FILE:LINE (measured with 10.0 and 11.1).",
    ("7.2", "10.0", "removed_properties"):
        "hw/block/virtio-blk.c: the legacy SCSI passthrough property 'scsi' is gone (not in "
        "the 10.0 source).",
    ("7.2", "10.0", "added_properties"):
        "the block models' `-device MODEL,help` of the 10.0 binary beside 7.2's: "
        "iothread-vq-mapping (virtio-blk/virtio-scsi, 9.0), in_order, PCIe and "
        "bounce-buffer knobs, IDE's win2k-install-hack, SCSI's "
        "migrate-emulated-scsi-request, nvme's atomic-write and controller options, "
        "nvme-ns's fdp.ruhs and nguid.",
    ("7.2", "10.0", "nvme_implicit_subsys"):
        "hw/nvme/ctrl.c nvme_init_subsys(): a controller without subsys= gets a subsystem "
        "of its own, so an nvme-ns may be detached=on; 7.2 refuses that with 'detached "
        "requires that the nvme device is linked to an nvme-subsys device' (both seen "
        "live).",
    ("7.2", "10.0", "module_notices"):
        "Debian's note-missing-module-pkg-name.diff: Debian 13's version notes only a "
        "format bdrv_find_format() cannot load, and 10.0's block_module_load() returns 0 "
        "for a missing module, so dmg's bz2 module is no longer announced.",
    ("7.2", "10.0", "source_prefix"):
        "an &error_abort report's __FILE__: Debian 12 builds in a subfolder "
        "('../../util/...'), the 10.0 and 11.1 builds print paths from the source root.",
    ("7.2", "10.0", "io_uring_refused"):
        "block/file-posix.c: 7.2's raw_open_common() sets the ring up and fails the open; "
        "10.0 sets it up at the first request (raw_check_linux_io_uring()).",
    ("7.2", "10.0", "io_uring_fallback"):
        "the other half of that change: 10.0 warns 'Unable to use linux io_uring, falling "
        "back to thread pool: ...' once per file node at its first request (a format's "
        "or the probe's read at the open, a disk's geometry read or pflash's data at "
        "realize, the snapshot overlay) and goes on with the thread pool.",
    ("7.2", "10.0", "io_uring_blockdev_errno"):
        "7.2's error_setg_errno() after luring_init() found errno left at EOPNOTSUPP by an "
        "earlier call; 10.0 no longer fails there.",
    ("7.2", "10.0", "block_size_check"):
        "util/block-helpers.c check_block_size() (10.0 source) words logical/physical_block_size "
        "errors as 'parameter NAME must be a power of 2 between 512 and 2097152'.",
    ("7.2", "10.0", "parallels_prealloc_first"):
        "block/parallels.c parallels_open() parses prealloc-mode/-size "
        "(parallels_opts_prealloc()) before opening its file child (10.0 source).",
    ("7.2", "10.0", "usb_storage_own_perms"):
        "hw/usb/dev-storage-classic.c usb_msd_storage_realize() no longer calls "
        "blkconf_apply_backend_options(): the SCSI disk it makes takes the permissions, "
        "so a conflict names .../scsi.0/legacy[0].",
    ("7.2", "10.0", "machine_named"):
        "system/vl.c select_machine(): 'unsupported machine type: \"NAME\"' names the "
        "machine (7.2: without it).",
    ("10.0", "11.1", "json_errors"):
        "qobject/json-parser.c: 11.1 locates a json: parse error at line:column and "
        "spells the end of input out ('premature end of input'); the 10.2.2 source still "
        "says 'premature EOI', so new in 11.0 or 11.1.",
    ("10.0", "11.1", "machines_removed_through"):
        "the 6-year deletion rule of 9.1 applied by 11.1 (pc-i440fx/pc-q35 up to 5.1 "
        "gone, measured with `-machine help`).",
    ("10.0", "11.1", "machines_deprecated_through"):
        "the 3-year deprecation rule of 9.1, as of 11.1 (up to 8.1).",
    ("10.0", "11.1", "new_options"):
        "curl 'force-range' (http, https, ftp, ftps), new in 11.0 or 11.1.",
    ("10.0", "11.1", "removed_properties"):
        "`-device MODEL,help` of the 11.1 binary: the PCI compat knobs for machines 11.1 "
        "deleted (migrate-extra, x-disable-pcie, x-ignore-backend-features, "
        "x-pcie-*-init).",
    ("10.0", "11.1", "added_properties"):
        "`-device MODEL,help` of the 11.1 binary: stats-intervals on every block device, "
        "sriov-pf on PCI ones, nvme's firmware-version/model/spdm_trans, SCSI's "
        "quirk_mode_page_set_block_size, nvme-ns's atomic.* limits.",
    ("10.0", "11.1", "rbd_unknown_conf"):
        "Debian sid's librados (Ceph) no longer has the 'auth_supported' alias: "
        "rados_conf_set() refuses it ('invalid conf option').",
    ("10.0", "11.1", "blkdebug_config_opened"):
        "block/blkdebug.c read_config(): 11.1 opens the config file with qemu_open() "
        "('Could not open FILE: ERR'); 7.2 to 10.2 fopen() it ('Could not read blkdebug "
        "config file').",
    ("10.0", "11.1", "io_uring_refused"):
        "block/file-posix.c: 11.1 checks the ring at the open again and refuses with "
        "'aio=io_uring was specified, but is not available (...sysctl or ... seccomp "
        "policy?)'.",
    ("10.0", "11.1", "io_uring_fallback"):
        "with the refusal at the open (above) there is no later fallback warning.",
    ("10.0", "11.1", "vfio_qemu_open"):
        "util/vfio-helpers.c: 11.1 opens VFIO's container with qemu_open() ('Could not "
        "open '/dev/vfio/vfio': ERR'); the 10.2.2 source still says 'Failed to open "
        "/dev/vfio/vfio'.",
    ("10.0", "11.1", "full_bus_named"):
        "system/qdev-monitor.c qdev_find_default_bus() (in the 10.2.2 source, so new in "
        "10.1 or 10.2): 'A 'virtio-bus' bus was found but is full' where 10.0 said none "
        "was found.",
    ("10.0", "11.1", "removed_drivers"):
        "the gluster driver, deprecated since 9.2, is gone (see the table diff above).",
    ("7.2", "10.0", "deprecated_drivers"):
        "block/gluster.c qemu_gluster_open(): from 9.2 the gluster driver warns "
        "\"'gluster' is deprecated\" once its runtime options are read (removed in 11.0).",
    ("7.2", "10.0", "curl_glib_criticals"):
        "block/curl.c curl_open(): 7.2's out_noclean path frees a socket table that was "
        "never made, and GLib prints two criticals; 10.0's error path does not (none of "
        "its recorded curl refusals has them).",
    ("7.2", "10.0", "nfs_bad_value"):
        "block/nfs.c nfs_parse_uri(): a query value that is no number is 'Invalid value "
        "for NFS parameter' in 10.0 (7.2: 'Illegal value').",
    ("7.2", "10.0", "gluster_unix_empty_host"):
        "block/gluster.c qemu_gluster_parse_uri() moved to GLib's g_uri_parse(): "
        "gluster+unix:///V/P has an empty host, which the unix transport refuses.",
    ("7.2", "10.0", "curl_connect_failed"):
        "not QEMU: the libcurl Debian 13 links (8.14) words a refused connect 'Could not "
        "connect to server' (Debian 12's 7.88: 'Couldn't').",
    ("7.2", "10.0", "nfs_unresolved"):
        "not QEMU: Debian 13's libnfs 5.0 stops its message after 'Failed to start "
        "connection. ' where Debian 12's 4.0 says the address did not resolve.",
    ("10.0", "11.1", "ceph_key_decoded_first"):
        "not QEMU: sid's librados waits for the monitors before it decodes an rbd: "
        "name's key= (Debian 12's and 13's decode it first and fail with EINVAL).",
    ("10.0", "11.1", "curl_connect_failed"):
        "not QEMU: sid's libcurl joins host and port with a colon ('Failed to connect to "
        "HOST:PORT after N ms').",
    ("7.2", "10.0", "scsi_hotplug_context_fatal"):
        "hw/scsi/virtio-scsi.c virtio_scsi_hotplug() (10.0 source) only tries an iothread's "
        "AioContext and ignores a refusal (blk_set_aio_context(..., NULL)); 7.2 moves the "
        "disk into the HBA's context, the main loop's too, and fails the device.",
    ("7.2", "10.0", "board_ide_first"):
        "hw/i386/pc_piix.c pc_init1() (10.0 source) calls pci_ide_create_devs() before "
        "pc_basic_device_init(), which makes the floppy controller; 7.2 the other way round.",
    ("7.2", "10.0", "gpu_blob_refused"):
        "hw/display/virtio-gpu.c virtio_gpu_device_realize() (10.0 source): blob resources "
        "also work with rutabaga or virgl, and the error names rutabaga.",
    ("7.2", "10.0", "gpu_no_opengl"):
        "hw/display/virtio-gpu-gl.c virtio_gpu_gl_device_realize() (10.0 source) words the "
        "missing GL display anew and appends a hint (-display BACKEND,gl=on).",
    ("7.2", "10.0", "nic_model_refused"):
        "net/net.c qemu_create_nic_device() (9.0's NIC rework): a -nic/-net nic model= the "
        "board cannot make is left uncreated with 'requested NIC ... was not created' "
        "instead of 7.2's exit on 'Unsupported NIC model' (measured with 10.0 and 11.1).",
}
