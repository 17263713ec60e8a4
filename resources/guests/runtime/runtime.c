/* Ring-3 start of day (runtime_main), the command line, exit, and the exception report. */
#include "arch.h"
#include "guest.h"

/* PVH start info (Xen public/arch-x86/hvm/start_info.h), as %ebx points to it. */
struct hvm_start_info {
    uint32_t magic; /* 0x336ec578 */
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info is 56 bytes");

#define HVM_START_MAGIC 0x336ec578u
/* Linux boot_params (zero page): hdr.cmd_line_ptr and ext_cmd_line_ptr (high 32 bits). */
#define BOOT_PARAMS_CMD_LINE_PTR 0x228
#define BOOT_PARAMS_EXT_CMD_LINE_PTR 0x0c8
/* Only the first GiB of RAM is mapped. */
#define MAPPED_RAM_END (1ull << 30)

static const char* the_cmdline = "";
static uint32_t the_boot_proto;
static uint64_t the_boot_info;

/* A structure or string the loader placed at paddr, if the identity map covers it. */
static const void* phys(uint64_t paddr, uint64_t size) {
    if (paddr == 0 || paddr >= MAPPED_RAM_END || size > MAPPED_RAM_END - paddr) return 0;
    // Safety: identity-mapped guest-physical memory below MAPPED_RAM_END.
    return (const void*)(uintptr_t)paddr;
}

static const char* find_cmdline(uint32_t proto, uint64_t info) {
    uint64_t paddr = 0;
    if (proto == BOOT_PROTO_PVH) {
        const struct hvm_start_info* si = phys(info, sizeof(*si));
        if (si != 0 && si->magic == HVM_START_MAGIC) paddr = si->cmdline_paddr;
    } else {
        const uint8_t* bp = phys(info, 4096);
        if (bp != 0) {
            uint32_t lo = *(const uint32_t*)(bp + BOOT_PARAMS_CMD_LINE_PTR);
            uint32_t hi = *(const uint32_t*)(bp + BOOT_PARAMS_EXT_CMD_LINE_PTR);
            paddr = (uint64_t)hi << 32 | lo;
        }
    }
    const char* s = phys(paddr, 1);
    return s != 0 ? s : "";
}

/* Entered from user_start (entry.S), in ring 3. */
_Noreturn void runtime_main(uint32_t proto, uint64_t info);
_Noreturn void runtime_main(uint32_t proto, uint64_t info) {
    the_boot_proto = proto;
    the_boot_info = info;
    the_cmdline = find_cmdline(proto, info);
    guest_exit((uint32_t)guest_main(the_cmdline));
}

uint32_t boot_protocol(void) {
    return the_boot_proto;
}

uint64_t boot_info(void) {
    return the_boot_info;
}

const char* cmdline(void) {
    return the_cmdline;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n';
}

bool cmdline_get(const char* key, const char** value, size_t* len) {
    size_t key_len = guest_strlen(key);
    const char* p = the_cmdline;
    while (*p) {
        while (is_space(*p))
            p++;
        const char* word = p;
        while (*p && !is_space(*p))
            p++;
        size_t word_len = (size_t)(p - word);
        if (word_len < key_len || !guest_streq(word, key_len, key)) continue;
        if (word_len == key_len) {
            *value = word + word_len;
            *len = 0;
            return true;
        }
        if (word[key_len] == '=') {
            *value = word + key_len + 1;
            *len = word_len - key_len - 1;
            return true;
        }
    }
    return false;
}

bool cmdline_has(const char* key) {
    const char* value;
    size_t len;
    return cmdline_get(key, &value, &len);
}

static int digit_value(char c, unsigned base) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    return d >= 0 && (unsigned)d < base ? d : -1;
}

uint64_t cmdline_get_u64(const char* key, uint64_t fallback) {
    const char* s;
    size_t len;
    if (!cmdline_get(key, &s, &len)) return fallback;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0) return fallback;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = digit_value(s[i], base);
        if (d < 0) return fallback;
        v = v * base + (uint64_t)d;
    }
    return v;
}

size_t guest_strlen(const char* s) {
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

bool guest_streq(const char* a, size_t a_len, const char* b) {
    for (size_t i = 0; i < a_len; i++)
        if (b[i] != a[i] || b[i] == '\0') return false;
    return b[a_len] == '\0';
}

_Noreturn void guest_exit(uint32_t status) {
    con_flush();
    __asm__ volatile("outl %0, %1" : : "a"(status), "Nd"((uint16_t)EXIT_PORT));
    /* Still here: no exit device. Halt (the VMM sees a HLT exit); from ring 3 through int3,
     * from ring 0 (the exception handler) directly: PVM cannot emulate int3 in ring 0. */
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    if ((cs & 3) == 0) halt_forever(0);
    ring0_call(halt_forever, 0);
    __builtin_unreachable();
}

/* Called by exception_common (entry.S) in ring 0: slow (emulated on PVM), runs only once. */
_Noreturn void guest_exception(uint64_t vector, uint64_t error, uint64_t rip);
_Noreturn void guest_exception(uint64_t vector, uint64_t error, uint64_t rip) {
    static bool reported;
    if (!reported) {
        reported = true;
        con_set_line_buffered(false);
        con_flush(); /* the guest's pending output first */
        con_printf("guest: exception %lu at rip 0x%lx error 0x%lx", vector, rip, error);
        if (vector == 14) {
            uint64_t cr2;
            __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
            con_printf(" cr2 0x%lx", cr2);
        }
        con_putc('\n');
        guest_exit(0x7f);
    }
    halt_forever(0); /* a fault while reporting one */
    __builtin_unreachable();
}
