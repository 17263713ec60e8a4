/* Console input on COM1: polled from ring 3 with inb (no interrupts).
 *
 * A byte is waiting when LSR (0x3fd) bit 0, data ready, is set; reading RBR (0x3f8) takes it.
 * Each inb is a port I/O exit (~24 us on PVM hosts), so waiting is a loop of exits: cheap
 * enough for tests, and each exit also replays any coalesced THR writes, so output written
 * before a wait reaches the VMM promptly. */
#include "arch.h"
#include "guest.h"

#define UART_RBR (SERIAL_PORT + 0) /* receiver buffer (read, DLAB=0) */
#define UART_FCR (SERIAL_PORT + 2) /* FIFO control (write) */
#define UART_MCR (SERIAL_PORT + 4) /* modem control */
#define UART_LSR (SERIAL_PORT + 5) /* line status */

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define MCR_LOOP 0x10
#define LSR_DATA_READY 0x01

/* A byte taken out of the receiver by con_enable_rx_fifo, handed out before any other. */
static int rescued = -1;

static uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static void outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}

int con_try_getc(void) {
    if (rescued >= 0) {
        int c = rescued;
        rescued = -1;
        return c;
    }
    if ((inb(UART_LSR) & LSR_DATA_READY) == 0) return -1;
    return inb(UART_RBR);
}

int con_getc(void) {
    int c = con_try_getc();
    if (c >= 0) return c;
    con_flush(); /* about to wait: show what was written so far (a prompt, an echo) */
    while ((c = con_try_getc()) < 0) {
    }
    return c;
}

void con_enable_rx_fifo(void) {
    /* Switching the FIFOs on empties the receiver (16550A datasheet), and the host may have
     * delivered a byte already. In loopback the receiver is disconnected from the line, so
     * ember's UART takes no host input: take out what is there, switch, reconnect. Pending
     * output is flushed first, since THR writes in loopback would go to the receiver. */
    con_flush();
    outb(UART_MCR, MCR_LOOP);
    if (rescued < 0 && (inb(UART_LSR) & LSR_DATA_READY) != 0) rescued = inb(UART_RBR);
    outb(UART_FCR, FCR_ENABLE | FCR_CLEAR_RX | FCR_CLEAR_TX);
    outb(UART_MCR, 0);
}
