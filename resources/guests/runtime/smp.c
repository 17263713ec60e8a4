/* Application processors: the BSP starts them (smp_start_aps), each records its APIC ID and
 * counts itself online from ring 3 (entry.S: ap_trampoline_start .. ap_user). */
#include "arch.h"
#include "guest.h"

/* Written by the APs' ring-3 code (entry.S: ap_user) with lock xadd / lock inc. */
volatile uint32_t smp_ap_next_slot;
volatile uint32_t smp_ap_online;
volatile uint8_t smp_ap_apic_ids[SMP_MAX_CPUS];

extern const uint8_t ap_trampoline_start[], ap_trampoline_end[];

static void lapic_write(uint32_t reg, uint32_t value) {
    // Safety: the LAPIC page, identity-mapped uncached and user-accessible (entry.S pd_mmio).
    *(volatile uint32_t*)(uintptr_t)(LAPIC_BASE + reg) = value;
}

/* ICR low: delivery mode (bits 10:8), level assert (bit 14), shorthand "all excluding self"
 * (bits 19:18 = 11). */
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_ASSERT 0x00004000u
#define ICR_ALL_BUT_SELF 0x000c0000u

static void send_ipi(uint32_t low) {
    lapic_write(LAPIC_ICR_HIGH, 0);
    lapic_write(LAPIC_ICR_LOW, low);
}

void smp_start_aps(void) {
    volatile uint8_t* dst = (volatile uint8_t*)(uintptr_t)AP_TRAMPOLINE_BASE;
    for (const uint8_t* p = ap_trampoline_start; p < ap_trampoline_end; p++)
        *dst++ = *p;
    /* KVM latches INIT and SIPI as pending events and handles them in order, so the MP spec's
     * delays (10 ms after INIT, 200 us between SIPIs) are not needed; the second SIPI is the
     * spec's retry and is ignored by an AP already running. */
    send_ipi(ICR_INIT | ICR_ASSERT | ICR_ALL_BUT_SELF);
    send_ipi(ICR_STARTUP | ICR_ASSERT | ICR_ALL_BUT_SELF | AP_SIPI_VECTOR);
    send_ipi(ICR_STARTUP | ICR_ASSERT | ICR_ALL_BUT_SELF | AP_SIPI_VECTOR);
}

uint32_t smp_aps_online(void) {
    return __atomic_load_n(&smp_ap_online, __ATOMIC_ACQUIRE);
}

uint32_t smp_ap_apic_id(uint32_t slot) {
    return slot < SMP_MAX_CPUS ? smp_ap_apic_ids[slot] : 0xffffffffu;
}

/* The LAPIC ID register, not CPUID.1:EBX[31:24]: the PVM host runs CPUID natively and reports
 * the host CPU (see entry.S, ap_user). */
uint32_t cpu_apic_id(void) {
    // Safety: the LAPIC page, identity-mapped uncached and user-accessible.
    return *(volatile uint32_t*)(uintptr_t)(LAPIC_BASE + LAPIC_ID) >> 24;
}
