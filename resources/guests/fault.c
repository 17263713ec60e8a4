/* fault: runs hlt in ring 3. IOPL 3 permits port I/O but not hlt, so the CPU raises #GP(0);
 * the runtime's handler (IDT + TSS.RSP0 path) reports it and exits with 0x7f. */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    (void)cmd;
    con_puts("fault: executing hlt in ring 3\n");
    __asm__ volatile("hlt");
    con_puts("fault: hlt did not fault\n");
    return 1;
}
