/* smp: starts the application processors with INIT + SIPI + SIPI (runtime/smp.c), waits for
 * cpus=N-1 of them to come online, and prints the count and the sorted APIC IDs. Exits 0, or
 * 2 if they do not all arrive within the wait (smp_wait=<pause loops>, default 30 million:
 * about 2 s on the PVM development host, where a pause loop takes ~65 ns; the APs arrive in
 * a few ms). */
#include "runtime/guest.h"

int guest_main(const char* cmd) {
    (void)cmd;
    uint64_t cpus = cmdline_get_u64("cpus", 1);
    if (cpus < 1 || cpus > SMP_MAX_CPUS) {
        con_printf("smp: cpus=%lu is out of range (1 to %u)\n", cpus, SMP_MAX_CPUS);
        return 2;
    }
    uint32_t want = (uint32_t)cpus - 1;
    if (want > 0) {
        smp_start_aps();
        uint64_t limit = cmdline_get_u64("smp_wait", 30000000);
        for (uint64_t spins = 0; smp_aps_online() < want && spins < limit; spins++)
            __asm__ volatile("pause");
    }
    uint32_t online = smp_aps_online();
    if (online != want) {
        con_printf("smp: %u of %u application processors came online; giving up\n", online, want);
        return 2;
    }

    uint32_t ids[SMP_MAX_CPUS];
    uint32_t n = 0;
    ids[n++] = cpu_apic_id();
    for (uint32_t i = 0; i < online; i++)
        ids[n++] = smp_ap_apic_id(i);
    for (uint32_t i = 1; i < n; i++) /* insertion sort: at most 256 */
        for (uint32_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint32_t t = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = t;
        }
    con_set_line_buffered(false);
    con_printf("smp: %u cpus online\nsmp: apic ids", n);
    for (uint32_t i = 0; i < n; i++)
        con_printf(" %u", ids[i]);
    con_putc('\n');
    return 0;
}
