/* keyboard: waits for Ctrl-Alt-Del on the i8042 keyboard (Firecracker's SendCtrlAltDel) and
 * exits with status 42 when it has seen Ctrl, Alt and Del pressed.
 *
 * Prints "keyboard: ready\n", then polls the controller's status port (0x64) for a full output
 * buffer and reads each byte from 0x60 (scan code set 1, as the controller translates by
 * default); prints "keyboard: ctrl-alt-del\n" once Ctrl (0x1d), Alt (0x38) and Del (0xe0 0x53)
 * are down. Polling from ring 3 is an exit per inb: fine for a test that waits a few ms. */
#include "runtime/guest.h"

static uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

int guest_main(const char* cmd) {
    (void)cmd;
    con_puts("keyboard: ready\n");
    con_flush();
    bool ctrl = false, alt = false, extended = false;
    for (;;) {
        if ((inb(0x64) & 0x01) == 0) continue;
        uint8_t code = inb(0x60);
        if (code == 0xe0) {
            extended = true;
            continue;
        }
        bool released = (code & 0x80) != 0;
        uint8_t key = code & 0x7f;
        if (key == 0x1d) ctrl = !released;
        if (key == 0x38) alt = !released;
        if (extended && key == 0x53 && !released && ctrl && alt) break;
        extended = false;
    }
    con_puts("keyboard: ctrl-alt-del\n");
    return 42;
}
