/*
 * Two QemuOptsList-shaped tables for tests/frontend/test_derived_tables.py: built into a PIE shared
 * object, they let grammar/_derive_binary.py's ELF reader be checked without QEMU.
 *
 * The layout follows include/qemu/option.h and include/qemu/queue.h of QEMU 7.2 to 11.1:
 * a list is {name, implied_opt_name, merge_lists, head, desc[]}, the head a QTAILQ head whose
 * second pointer points at the head itself, each descriptor {name, type, help, default}.
 * Static, as QEMU's lists are, so a shared object refers to them with RELATIVE relocations.
 */
#include <stdbool.h>
#include <stddef.h>

enum opt_type { OPT_STRING = 0, OPT_BOOL, OPT_NUMBER, OPT_SIZE };

struct opt_desc {
    const char *name;
    enum opt_type type;
    const char *help;
    const char *def_value_str;
};

struct tailq_link {
    void *next;
    struct tailq_link *prev;
};

struct opts_list {
    const char *name;
    const char *implied_opt_name;
    bool merge_lists;
    union {
        void *first;
        struct tailq_link circ;
    } head;
    struct opt_desc desc[];
};

static struct opts_list fixture_runtime_opts __attribute__((used)) = {
    .name = "fixture",
    .head = { .circ = { NULL, &fixture_runtime_opts.head.circ } },
    .desc = {
        { .name = "offset", .type = OPT_SIZE, .help = "where the data starts" },
        { .name = "verbose", .type = OPT_BOOL, .help = "say more", .def_value_str = "off" },
        { .name = "mode", .type = OPT_STRING },
        { .name = "count", .type = OPT_NUMBER, .help = "how many" },
        { NULL }
    },
};

static struct opts_list fixture_implied_opts __attribute__((used)) = {
    .name = "implied",
    .implied_opt_name = "path",
    .merge_lists = true,
    .head = { .circ = { NULL, &fixture_implied_opts.head.circ } },
    .desc = {
        { NULL }
    },
};
