/* The runtime every test guest links: what a guest may call from guest_main.
 *
 * guest_main runs in ring 3 with IOPL 3: it may use port I/O (in/out) and touch any mapped
 * address (0-1 GiB RAM, 3-4 GiB MMIO, identity-mapped), but privileged instructions (hlt,
 * lidt, mov to CRs, wrmsr, ...) fault; run those through ring0_call. No SSE/FPU: guests are
 * built with -mgeneral-regs-only. */
#ifndef EMBER_GUEST_H
#define EMBER_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each guest defines this. It runs in ring 3; its return value is the exit status. */
int guest_main(const char* cmdline);

/* ---- Console: COM1 (0x3f8), written with rep outsb --------------------------------------- */
/* Output is collected in a one-page buffer and written with one rep outsb when a line ends
 * (line-buffered, the default), when the buffer fills, on con_flush and on exit. */
void con_putc(char c);
void con_write(const char* s, size_t len);
void con_puts(const char* s); /* no newline is added */
void con_put_dec(uint64_t value);
void con_put_hex(uint64_t value); /* 0x-prefixed, lower case, no padding */
/* printf subset: %s %c %d %i %u %x %p %%, length modifiers l, ll, z, and a field width with an
 * optional 0 flag (e.g. %07u, %-8s is not supported). */
void con_printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void con_vprintf(const char* fmt, va_list args) __attribute__((format(printf, 1, 0)));
void con_flush(void);
/* false: flush only when the page is full, on con_flush and on exit (fewer exits). */
void con_set_line_buffered(bool on);

/* ---- Console input: COM1 polled with inb (runtime/console_in.c) --------------------------- */
/* The next received byte (0-255), or -1 when none is waiting (one LSR read). */
int con_try_getc(void);
/* The next received byte (0-255); when none is waiting, flushes the console output and polls
 * LSR until one arrives (a port I/O exit per poll; forever if no input comes). */
int con_getc(void);
/* Turns the UART's receive FIFO on (by default the receiver holds one byte; ember's FIFO holds
 * 64) without losing a byte already received: flushes output, then FCR is written with the
 * UART in loopback, which keeps ember from delivering input meanwhile. */
void con_enable_rx_fifo(void);

/* ---- Command line ------------------------------------------------------------------------- */
/* The command line the loader passed ("" when none). Words are separated by spaces or tabs;
 * a word is "key=value" or a bare "key" (whose value is ""). */
const char* cmdline(void);
/* The value of the first word named key: true and its value in *value, *len (not NUL-terminated)
 * if found. */
bool cmdline_get(const char* key, const char** value, size_t* len);
bool cmdline_has(const char* key);
/* key=<decimal or 0x-hex>; fallback when the key is missing or its value is not a number. */
uint64_t cmdline_get_u64(const char* key, uint64_t fallback);

/* ---- Exit and ring 0 ---------------------------------------------------------------------- */
/* Flushes the console, writes status to the exit port (0xf4, 32 bits) and halts forever if
 * the write returns (no exit device). */
_Noreturn void guest_exit(uint32_t status);

/* Runs fn(arg) in ring 0 and returns its result; call it from ring 3 only. It raises int3, whose
 * IDT gate (vector 3, DPL 3) calls fn on the TSS.RSP0 stack and irets back. Ring 0 is emulated
 * on PVM hosts (~1 us per instruction, no SSE/FPU): keep fn to a few instructions. */
uint64_t ring0_call(uint64_t (*fn)(uint64_t), uint64_t arg);
/* Ring 0 only (via ring0_call): cli; hlt forever. */
uint64_t halt_forever(uint64_t unused);

/* ---- Boot protocol ------------------------------------------------------------------------ */
/* Which entry ran: BOOT_PROTO_PVH (pvh_entry, %ebx = hvm_start_info) or BOOT_PROTO_LINUX64
 * (linux64_entry, %rsi = boot_params), and the guest-physical address of that structure (the
 * PVH start info or the zero page; identity-mapped when below 1 GiB). */
#define BOOT_PROTO_PVH 0
#define BOOT_PROTO_LINUX64 1
uint32_t boot_protocol(void);
uint64_t boot_info(void);

/* ---- SMP (runtime/smp.c) ------------------------------------------------------------------- */
/* Copies the real-mode trampoline to 0x70000 and sends INIT + SIPI + SIPI to all other CPUs
 * (LAPIC ICR, shorthand "all excluding self"). Each AP goes to long mode and ring 3, records
 * its APIC ID (LAPIC ID register) in the next slot and increments the online count, then spins in
 * ring 3 (pause). */
#define SMP_MAX_CPUS 256 /* as arch.h */
void smp_start_aps(void);
uint32_t smp_aps_online(void);          /* APs that have arrived (acquire) */
uint32_t smp_ap_apic_id(uint32_t slot); /* in arrival order, slot < smp_aps_online() */
uint32_t cpu_apic_id(void);             /* this CPU's: LAPIC ID register bits 31:24 */

/* ---- Small freestanding helpers ------------------------------------------------------------ */
size_t guest_strlen(const char* s);
bool guest_streq(const char* a, size_t a_len, const char* b); /* a[0..a_len) == b */

#endif
