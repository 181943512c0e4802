"""Realize checks of the virtio GPUs that depend on the host and on the display:
hw/display/virtio-gpu.c virtio_gpu_device_realize() (blob=on needs /dev/udmabuf and a
sealed memfd memory backend, hw/display/virtio-gpu-udmabuf.c virtio_gpu_have_udmabuf())
and hw/display/virtio-gpu-gl.c virtio_gpu_gl_device_realize() (one GL device, and a
display that initialised OpenGL: ui/*.c set display_opengl). Each returns QEMU's
message, or "" when the device realizes (or qdrive cannot tell).
"""

from __future__ import annotations

from collections.abc import Iterable

from ._argv_state import PROG, Phase, _Event, _State

__all__ = ["gpu_realize", "gl_display"]

_ON = ("on", "yes", "true", "y")
# the virtio-gpu models with a blob property and no virgl (virtio-gpu-pci.c, virtio-vga.c)
_BLOB_MODELS = frozenset({"virtio-vga", "virtio-gpu-pci", "virtio-gpu-device"})
_GL_MODELS = frozenset({"virtio-vga-gl", "virtio-gpu-gl-pci", "virtio-gpu-gl-device"})
# the displays that set display_opengl when asked for gl (ui/gtk.c, sdl2.c, dbus.c,
# spice-app.c); egl-headless always does (ui/egl-headless.c)
_GL_CAPABLE = frozenset({"gtk", "sdl", "dbus", "spice-app"})
_GL_MODES = frozenset({"on", "core", "es"})


def gl_display(tokens: Iterable[tuple[int, str, str | None]]) -> bool:
    """Whether the command line asks for a display with OpenGL (the last -display, or
    -nographic's none; -spice gl=on). Whether that display then initialises is the
    host's (a render node, a window system): qdrive does not judge GL devices then."""
    display, spice_gl = "", False
    for _, option, value in tokens:
        name = option.lstrip("-")
        if name == "display" and value is not None:
            display = value
        elif name == "nographic":
            display = "none"
        elif name == "spice" and value is not None:
            spice_gl = spice_gl or any(p in ("gl=on", "gl=yes", "gl=true")
                                       for p in value.split(","))
    kind, *opts = display.split(",")
    gl = next((o[3:] for o in reversed(opts) if o.startswith("gl=")), "off")
    return spice_gl or kind == "egl-headless" or (kind in _GL_CAPABLE and gl in _GL_MODES)


def gpu_realize(st: _State, model: str, props: dict[str, str]) -> str:
    """The GL and blob checks of a virtio GPU's realize, in QEMU's order."""
    if model in _GL_MODELS:
        if st.gl_devices:
            return "at most one virtio-gpu-gl-device device is permitted"
        st.gl_devices += 1
        return "" if st.gl_display else st.dialect.gpu_no_opengl
    if model in _BLOB_MODELS and str(props.get("blob", "off")) in _ON:
        return _blob(st)
    return ""


def _blob(st: _State) -> str:
    """virtio_gpu_have_udmabuf(): udmabuf_fd() opens the device once per process and
    warns when it cannot; then a memory backend whose fd has seals must exist."""
    from .hostprobe import udmabuf_problem

    if not st.graph.touch_files:
        return ""  # the host is not asked: not judged
    if st.udmabuf is None:
        st.udmabuf = udmabuf_problem()
        if st.udmabuf:
            index, option, text = st.device_at
            phase = Phase.JSON_DEVICES if text.startswith("{") else Phase.DEVICES
            st.events.append(_Event(phase, index, f"{PROG}: {option} {text}: warning: "
                                    f"open /dev/udmabuf: {st.udmabuf}", False))
    if st.udmabuf or not st.sealed_memfd:
        return st.dialect.gpu_blob_refused
    return ""
