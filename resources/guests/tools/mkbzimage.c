/* mkbzimage: wraps a test guest ELF into a bzImage that boots with the Linux 64-bit protocol.
 *
 *   mkbzimage <guest.elf> <out.bzImage>
 *
 * A host tool (built with the host compiler, not the guest flags). The bzImage is:
 *
 *   [0, 0x400)   setup: boot sector (0xAA55 at 0x1fe) + one setup sector holding the setup
 *                header at 0x1f1 ("HdrS", version 2.12, LOADED_HIGH, XLF_KERNEL_64, not
 *                relocatable, pref_address = the image's base, init_size = its memory extent).
 *                No real-mode code: ember (and any 64-bit loader) never runs it.
 *   [0x400, ...) protected-mode kernel: the guest's PT_LOAD segments flattened from their lowest
 *                physical address (the base, 1 MiB for our guests), gaps and file-less bss
 *                bytes between segments written as zeros, padded to 16 bytes.
 *
 * The loader copies the protected-mode part to pref_address (= the base) and enters at
 * base + 0x200. The runtime puts linux64_entry there (LINUX64_ENTRY_OFFSET in runtime/arch.h,
 * asserted by guest.ld), so the flat image needs no stub and no relocation; this tool checks
 * e_entry == base + 0x200. Trailing bss is not in the file: init_size covers it and the
 * loader's memory reads as zero.
 *
 * Offsets are those of Documentation/arch/x86/boot.rst (struct setup_header). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_SECTS 1 /* setup = (1 + 1) * 512 bytes */
#define SETUP_SIZE ((SETUP_SECTS + 1) * 512)
#define ENTRY64_OFFSET 0x200 /* the 64-bit entry: load address + 0x200 */
#define MAX_IMAGE (64u << 20)

/* setup_header fields (file offsets). */
#define HDR_SETUP_SECTS 0x1f1      /* u8 */
#define HDR_SYSSIZE 0x1f4          /* u32: protected-mode size in 16-byte paragraphs */
#define HDR_VID_MODE 0x1fa         /* u16 */
#define HDR_BOOT_FLAG 0x1fe        /* u16: 0xAA55 */
#define HDR_JUMP 0x200             /* u16: jmp short to the end of the header */
#define HDR_HEADER 0x202           /* u32: "HdrS" */
#define HDR_VERSION 0x206          /* u16 */
#define HDR_LOADFLAGS 0x211        /* u8 */
#define HDR_CODE32_START 0x214     /* u32 */
#define HDR_INITRD_ADDR_MAX 0x22c  /* u32 */
#define HDR_KERNEL_ALIGNMENT 0x230 /* u32 */
#define HDR_RELOCATABLE 0x234      /* u8 */
#define HDR_XLOADFLAGS 0x236       /* u16 */
#define HDR_CMDLINE_SIZE 0x238     /* u32 */
#define HDR_PREF_ADDRESS 0x258     /* u64 */
#define HDR_INIT_SIZE 0x260        /* u32 */
#define HDR_END 0x264              /* end of the 2.12 header (handover_offset included) */

#define LOADED_HIGH 0x01
#define XLF_KERNEL_64 0x0001

/* ELF64 (elf.h would do on Linux hosts; these few fields keep the tool self-contained). */
#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define PT_LOAD 1

static const char* prog = "mkbzimage";

static void die(const char* fmt, const char* a, unsigned long long b) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t get(const unsigned char* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put(unsigned char* p, int n, uint64_t v) {
    for (int i = 0; i < n; i++, v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
}

static unsigned char* read_file(const char* path, size_t* size) {
    FILE* f = fopen(path, "rb");
    if (f == NULL) die("cannot open '%s': error %llu", path, (unsigned long long)errno);
    size_t cap = 1 << 16, len = 0;
    unsigned char* buf = malloc(cap);
    for (;;) {
        if (buf == NULL) die("'%s': out of memory (%llu bytes)", path, cap);
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap) break;
        if (cap >= MAX_IMAGE) die("'%s' is larger than %llu bytes", path, MAX_IMAGE);
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (ferror(f)) die("cannot read '%s' (error %llu)", path, (unsigned long long)errno);
    fclose(f);
    *size = len;
    return buf;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <guest.elf> <out.bzImage>\n", prog);
        return 2;
    }
    const char* in = argv[1];
    size_t size;
    unsigned char* elf = read_file(in, &size);
    if (size < EHDR_SIZE || memcmp(elf, "\177ELF", 4) != 0 || elf[4] != 2 || elf[5] != 1)
        die("'%s' is not a 64-bit little-endian ELF file%.0llu", in, 0);
    if (get(elf + 16, 2) != 2) die("'%s' is not ET_EXEC (e_type %llu)", in, get(elf + 16, 2));
    if (get(elf + 18, 2) != 62) die("'%s' is not x86-64 (e_machine %llu)", in, get(elf + 18, 2));
    const uint64_t entry = get(elf + 24, 8), phoff = get(elf + 32, 8);
    const uint64_t phentsize = get(elf + 54, 2), phnum = get(elf + 56, 2);
    if (phentsize != PHDR_SIZE || phoff > size || phnum * PHDR_SIZE > size - phoff)
        die("'%s': bad program header table (%llu entries)", in, phnum);

    uint64_t base = UINT64_MAX, file_end = 0, mem_end = 0;
    for (uint64_t i = 0; i < phnum; i++) {
        const unsigned char* ph = elf + phoff + i * PHDR_SIZE;
        if (get(ph, 4) != PT_LOAD || get(ph + 40, 8) == 0) continue;
        const uint64_t off = get(ph + 8, 8), paddr = get(ph + 24, 8);
        const uint64_t filesz = get(ph + 32, 8), memsz = get(ph + 40, 8);
        if (off > size || filesz > size - off || filesz > memsz || paddr > UINT32_MAX ||
            memsz > MAX_IMAGE)
            die("'%s': bad PT_LOAD %llu", in, i);
        if (paddr < base) base = paddr;
        if (filesz != 0 && paddr + filesz > file_end) file_end = paddr + filesz;
        if (paddr + memsz > mem_end) mem_end = paddr + memsz;
    }
    if (base == UINT64_MAX || file_end <= base) die("'%s' has no PT_LOAD with bytes%.0llu", in, 0);
    if (base < 0x100000) die("'%s' is linked below 1 MiB (base 0x%llx)", in, base);
    if (entry != base + ENTRY64_OFFSET)
        die("'%s': e_entry must be the base + 0x200 (the bzImage 64-bit entry); it is 0x%llx", in,
            entry);
    if (mem_end - base > MAX_IMAGE) die("'%s' spans more than %llu bytes", in, MAX_IMAGE);

    const uint64_t pm_size = (file_end - base + 15) & ~(uint64_t)15;
    const uint64_t init_size = (mem_end - base + 4095) & ~(uint64_t)4095;
    const size_t total = SETUP_SIZE + (size_t)pm_size;
    unsigned char* out = calloc(1, total);
    if (out == NULL) die("out of memory%s (%llu bytes)", "", (unsigned long long)total);
    unsigned char* pm = out + SETUP_SIZE;
    for (uint64_t i = 0; i < phnum; i++) {
        const unsigned char* ph = elf + phoff + i * PHDR_SIZE;
        if (get(ph, 4) != PT_LOAD) continue;
        const uint64_t filesz = get(ph + 32, 8);
        if (filesz != 0) memcpy(pm + (get(ph + 24, 8) - base), elf + get(ph + 8, 8), filesz);
    }

    out[HDR_SETUP_SECTS] = SETUP_SECTS;
    put(out + HDR_SYSSIZE, 4, pm_size / 16);
    put(out + HDR_VID_MODE, 2, 0xffff); /* "normal" */
    put(out + HDR_BOOT_FLAG, 2, 0xaa55);
    out[HDR_JUMP] = 0xeb; /* jmp short past the header */
    out[HDR_JUMP + 1] = (unsigned char)(HDR_END - (HDR_JUMP + 2));
    memcpy(out + HDR_HEADER, "HdrS", 4);
    put(out + HDR_VERSION, 2, 0x020c);
    out[HDR_LOADFLAGS] = LOADED_HIGH;
    put(out + HDR_CODE32_START, 4, base);
    put(out + HDR_INITRD_ADDR_MAX, 4, 0x7fffffff);
    put(out + HDR_KERNEL_ALIGNMENT, 4, 0x200000);
    out[HDR_RELOCATABLE] = 0; /* runs at pref_address only */
    put(out + HDR_XLOADFLAGS, 2, XLF_KERNEL_64);
    put(out + HDR_CMDLINE_SIZE, 4, 0xffff); /* the runtime takes any length */
    put(out + HDR_PREF_ADDRESS, 8, base);
    put(out + HDR_INIT_SIZE, 4, init_size);

    FILE* f = fopen(argv[2], "wb");
    if (f == NULL) die("cannot create '%s' (error %llu)", argv[2], (unsigned long long)errno);
    if (fwrite(out, 1, total, f) != total || fclose(f) != 0)
        die("cannot write '%s' (error %llu)", argv[2], (unsigned long long)errno);
    free(out);
    free(elf);
    return 0;
}
