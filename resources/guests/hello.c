/* hello: ember's bundled default guest. Prints a greeting and the command line, exits 0. */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    con_set_line_buffered(false); /* both lines leave in one rep outsb, at exit */
    con_puts("Hello from ember!\ncmdline: ");
    con_puts(cmd);
    con_putc('\n');
    return 0;
}
