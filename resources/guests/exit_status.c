/* exit_status: exits with status=N (decimal or 0x-hex; default 0), announcing it first. */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    (void)cmd;
    uint32_t status = (uint32_t)cmdline_get_u64("status", 0);
    con_printf("exit_status: exiting with %u\n", status);
    return (int)status;
}
