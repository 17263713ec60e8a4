/* exit_status: exits with status=N (decimal or 0x-hex; default 0), announcing it first.
 * With reset=1 it instead asks the i8042 controller for a reset (command 0xFE on port 0x64),
 * which ends the VM under ember (status 0) and reboots a PC. */
#include "runtime/guest.h"

#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET 0xfe

static void i8042_reset(void) {
    __asm__ volatile("outb %0, %1"
                     :
                     : "a"((uint8_t)I8042_CMD_RESET), "Nd"((uint16_t)I8042_COMMAND_PORT));
}

int guest_main(const char* cmd) {
    (void)cmd;
    if (cmdline_get_u64("reset", 0) != 0) {
        con_printf("exit_status: resetting through the i8042\n");
        i8042_reset();
        con_printf("exit_status: still running after the reset request\n");
        return 3;
    }
    uint32_t status = (uint32_t)cmdline_get_u64("status", 0);
    con_printf("exit_status: exiting with %u\n", status);
    return (int)status;
}
