/* echo: reads the console and writes each byte back upper-cased, until it reads 'q'.
 *
 * Prints "echo: ready\n", then echoes every byte it reads (a-z as A-Z, every other byte
 * unchanged, newlines included) until the byte 'q', which is not echoed; then prints
 * "\necho: bye\n" and exits with the number of bytes read before the 'q', mod 256. The key
 * `fifo` turns the UART's receive FIFO on first (con_enable_rx_fifo); by default the receiver
 * holds one byte, so the host hands over input a byte at a time. */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    (void)cmd;
    if (cmdline_has("fifo")) con_enable_rx_fifo();
    con_puts("echo: ready\n");
    uint32_t count = 0;
    for (;;) {
        int c = con_getc(); /* flushes the echo so far whenever it has to wait */
        if (c == 'q') break;
        count++;
        con_putc(c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : (char)c);
    }
    con_puts("\necho: bye\n");
    return (int)(count & 0xff);
}
