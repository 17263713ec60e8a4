/* triple_fault: loads an empty IDT in ring 0 and raises #UD, so that the CPU can deliver
 * neither the #UD, nor the #GP that follows, nor the #DF after it: it shuts down (KVM reports
 * KVM_EXIT_SHUTDOWN). Never returns. */
#include "runtime/guest.h"

static uint64_t load_empty_idt_and_fault(uint64_t unused) {
    (void)unused;
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty_idt = {0, 0};
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt));
    __builtin_unreachable();
}

int guest_main(const char* cmd) {
    (void)cmd;
    con_puts("triple_fault: about to triple-fault\n");
    ring0_call(load_empty_idt_and_fault, 0);
    con_puts("triple_fault: still running?\n");
    return 1;
}
