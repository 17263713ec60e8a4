/* bootparams: reads the Linux zero page (struct boot_params) from ring 3 and prints what the
 * loader put there: the E820 map, whether cmd_line_ptr points at the command line the runtime
 * found, type_of_loader and the initrd. Linux 64-bit entry only: entered through PVH, it says
 * so and exits 1.
 *
 * Offsets from the kernel's arch/x86/include/uapi/asm/bootparam.h (struct boot_params, with
 * struct setup_header at 0x1f1); the guests are freestanding, so only these are copied. */
#include "runtime/guest.h"

#define BP_EXT_RAMDISK_IMAGE 0x0c0 /* u32: ramdisk_image bits 63:32 */
#define BP_EXT_RAMDISK_SIZE 0x0c4  /* u32: ramdisk_size bits 63:32 */
#define BP_EXT_CMD_LINE_PTR 0x0c8  /* u32: cmd_line_ptr bits 63:32 */
#define BP_E820_ENTRIES 0x1e8      /* u8: entries used in e820_table */
#define BP_TYPE_OF_LOADER 0x210    /* u8: hdr.type_of_loader */
#define BP_RAMDISK_IMAGE 0x218     /* u32: hdr.ramdisk_image */
#define BP_RAMDISK_SIZE 0x21c      /* u32: hdr.ramdisk_size */
#define BP_CMD_LINE_PTR 0x228      /* u32: hdr.cmd_line_ptr */
#define BP_E820_TABLE 0x2d0        /* struct boot_e820_entry[128] */
#define E820_MAX_ENTRIES 128       /* E820_MAX_ENTRIES_ZEROPAGE */
#define E820_ENTRY_SIZE 20         /* packed: u64 addr, u64 size, u32 type */

static uint32_t rd32(const uint8_t* p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t* p) {
    return (uint64_t)rd32(p + 4) << 32 | rd32(p);
}

int guest_main(const char* cmd) {
    if (boot_protocol() != BOOT_PROTO_LINUX64) {
        con_puts("bootparams: entered through PVH, expected Linux\n");
        return 1;
    }
    // Safety: the zero page lies in the first GiB (ember puts it at 0x7000), identity-mapped
    // and user-accessible.
    const uint8_t* bp = (const uint8_t*)(uintptr_t)boot_info();

    unsigned n = bp[BP_E820_ENTRIES];
    if (n > E820_MAX_ENTRIES) n = E820_MAX_ENTRIES;
    con_printf("e820: %u entries\n", n);
    for (unsigned i = 0; i < n; i++) {
        const uint8_t* e = bp + BP_E820_TABLE + i * E820_ENTRY_SIZE;
        uint64_t addr = rd64(e), size = rd64(e + 8);
        con_printf("e820: 0x%lx 0x%lx %u\n", addr, addr + size, rd32(e + 16));
    }

    uint64_t cmdline_ptr =
        (uint64_t)rd32(bp + BP_EXT_CMD_LINE_PTR) << 32 | rd32(bp + BP_CMD_LINE_PTR);
    size_t len = guest_strlen(cmd);
    bool ok = cmdline_ptr != 0 && cmdline_ptr < (1ull << 30) &&
              guest_streq(cmd, len, (const char*)(uintptr_t)cmdline_ptr);
    con_puts(ok ? "cmdline_ptr ok\n" : "cmdline_ptr mismatch\n");

    con_printf("loader: 0x%x\n", bp[BP_TYPE_OF_LOADER]);

    uint64_t initrd = (uint64_t)rd32(bp + BP_EXT_RAMDISK_IMAGE) << 32 | rd32(bp + BP_RAMDISK_IMAGE);
    uint64_t initrd_size =
        (uint64_t)rd32(bp + BP_EXT_RAMDISK_SIZE) << 32 | rd32(bp + BP_RAMDISK_SIZE);
    if (initrd == 0 && initrd_size == 0)
        con_puts("initrd: 0 0\n");
    else
        con_printf("initrd: 0x%lx %lu\n", initrd, initrd_size);
    return 0;
}
