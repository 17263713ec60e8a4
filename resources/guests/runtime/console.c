/* Console output on COM1. The VMM's UART (and QEMU's) takes writes to THR without waiting for
 * THRE, so nothing polls LSR: output is buffered and a whole buffer goes out with one
 * rep outsb, which the hypervisor may hand to the VMM as one string I/O exit. */
#include "arch.h"
#include "guest.h"

#define CON_BUF_SIZE 4096

/* Page-aligned and one page long, so one flush never crosses a page boundary (KVM splits
 * string I/O at page boundaries). */
static char con_buf[CON_BUF_SIZE] __attribute__((aligned(CON_BUF_SIZE)));
static size_t con_len;
static bool con_unbuffered_lines; /* zero-initialised (.bss): line-buffered by default */

static void outsb(uint16_t port, const char* data, size_t len) {
    __asm__ volatile("rep outsb" : "+S"(data), "+c"(len) : "d"(port) : "memory");
}

void con_flush(void) {
    if (con_len == 0) return;
    outsb(SERIAL_PORT, con_buf, con_len);
    con_len = 0;
}

void con_set_line_buffered(bool on) {
    con_unbuffered_lines = !on;
}

void con_putc(char c) {
    con_buf[con_len++] = c;
    if (con_len == CON_BUF_SIZE || (c == '\n' && !con_unbuffered_lines)) con_flush();
}

void con_write(const char* s, size_t len) {
    for (size_t i = 0; i < len; i++)
        con_putc(s[i]);
}

void con_puts(const char* s) {
    while (*s)
        con_putc(*s++);
}

/* value in base (10 or 16), at least width characters wide counting the sign, padded with pad
 * (zeros go after the sign, spaces before it). */
static void put_number(uint64_t value, unsigned base, unsigned width, char pad, bool negative) {
    char digits[20];
    unsigned n = 0;
    do {
        unsigned d = (unsigned)(value % base);
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        value /= base;
    } while (value != 0);
    unsigned len = n + (negative ? 1 : 0);
    if (negative && pad == '0') con_putc('-');
    for (; width > len; width--)
        con_putc(pad);
    if (negative && pad != '0') con_putc('-');
    while (n > 0)
        con_putc(digits[--n]);
}

void con_put_dec(uint64_t value) {
    put_number(value, 10, 0, ' ', false);
}

void con_put_hex(uint64_t value) {
    con_puts("0x");
    put_number(value, 16, 0, ' ', false);
}

/* Reads one integer argument of the given length ('l' count) and signedness. */
static uint64_t arg_unsigned(va_list* args, int longs) {
    if (longs >= 1) return va_arg(*args, unsigned long);
    return va_arg(*args, unsigned int);
}

static int64_t arg_signed(va_list* args, int longs) {
    if (longs >= 1) return va_arg(*args, long);
    return va_arg(*args, int);
}

void con_vprintf(const char* fmt, va_list args) {
    va_list ap;
    va_copy(ap, args);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            con_putc(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        unsigned width = 0;
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (unsigned)(*fmt++ - '0');
        int longs = 0;
        while (*fmt == 'l' || *fmt == 'z') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = arg_signed(&ap, longs);
            put_number(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
            put_number(arg_unsigned(&ap, longs), 10, width, pad, false);
            break;
        case 'x':
            put_number(arg_unsigned(&ap, longs), 16, width, pad, false);
            break;
        case 'p':
            con_put_hex((uint64_t)(uintptr_t)va_arg(ap, void*));
            break;
        case 'c':
            con_putc((char)va_arg(ap, int));
            break;
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (s == 0) s = "(null)";
            size_t len = guest_strlen(s);
            for (; width > len; width--)
                con_putc(' ');
            con_write(s, len);
            break;
        }
        case '%':
            con_putc('%');
            break;
        case '\0':
            fmt--; /* a lone '%' at the end: stop at the NUL */
            break;
        default:
            con_putc('%');
            con_putc(*fmt);
            break;
        }
    }
    va_end(ap);
}

void con_printf(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    con_vprintf(fmt, args);
    va_end(args);
}
