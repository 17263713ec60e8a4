/* boot_timer: signals "booted" the way guests do under Firecracker's --boot-timer — the byte
 * 123 written to MMIO 0xd0000000 — then exits 0. Prints "boot_timer: signalled\n".
 * times=N (default 1) writes it N times: only the first may count. */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    (void)cmd;
    uint64_t times = cmdline_get_u64("times", 1);
    for (uint64_t i = 0; i < times; i++) {
        /* Safety: the 3-4 GiB MMIO gap is identity-mapped, uncached and user-accessible. */
        *(volatile uint8_t*)(uintptr_t)0xd0000000u = 123;
    }
    con_puts("boot_timer: signalled\n");
    return 0;
}
