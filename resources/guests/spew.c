/* spew: lines=N (default 1000) numbered lines, then a summary line; exits 0.
 *
 * Line i (0-based) is "spew line %07u abcdefghijklmnopqrstuvwxyz0123456789\n" (55 bytes), the
 * last line "spew: done N lines\n". buffer=line flushes each line (one rep outsb per line);
 * the default, buffer=page, fills the whole 4 KiB console page before each flush. */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    (void)cmd;
    uint64_t lines = cmdline_get_u64("lines", 1000);
    const char* mode;
    size_t mode_len;
    bool per_line = cmdline_get("buffer", &mode, &mode_len) && guest_streq(mode, mode_len, "line");
    con_set_line_buffered(per_line);
    for (uint64_t i = 0; i < lines; i++)
        con_printf("spew line %07lu abcdefghijklmnopqrstuvwxyz0123456789\n", i);
    con_printf("spew: done %lu lines\n", lines);
    return 0;
}
