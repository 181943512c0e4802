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
