/* x86-64 constants shared by the runtime's assembly (entry.S) and C code.
 *
 * Only plain #defines: this header is included by the assembler too. */
#ifndef EMBER_GUEST_ARCH_H
#define EMBER_GUEST_ARCH_H

/* Where the linker script puts .boot.text. entry.S splits handler and TSS addresses into the
 * pieces that IDT gates and the TSS descriptor want at assembly time from this base (see
 * BOOT_ABS there); guest.ld asserts that .boot.text really starts here. */
#define BOOT_BASE 0x100000
/* linux64_entry (the ELF e_entry) is at BOOT_BASE + this: a bzImage's 64-bit entry offset, so
 * the image flattened from BOOT_BASE is a bzImage's protected-mode part (tools/mkbzimage.c). */
#define LINUX64_ENTRY_OFFSET 0x200

/* GDT selectors (guest.ld/entry.S lay the GDT out in this order). The user data selector sits
 * below the user code one, as SYSRET expects, should a guest ever want it. */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS (0x18 | 3)
#define USER_CS (0x20 | 3)
#define TSS_SEL 0x28

/* The gate through which ring 3 runs a function in ring 0 (ring0_call): #BP, raised by int3.
 * (PVM turns int $n in user mode into #UD, so an exception vector it must be.) */
#define VEC_RING0_CALL 3

/* Ring 3 may use ports below this (TSS I/O bitmap; PVM does not honour IOPL for them). */
#define IO_BITMAP_PORTS 0x1000

/* Boot protocols, as runtime_main receives them in %edi. */
#define BOOT_PROTO_PVH 0
#define BOOT_PROTO_LINUX64 1

/* SMP (runtime/smp.c, entry.S): the real-mode page where APs start (SIPI vector 0x70 ->
 * CS 0x7000, IP 0). Free in both boot layouts: below it the PVH start info (0x6000), the
 * Linux-protocol zero page, GDT, page tables and stack (0x7000-0x10000) and the command line
 * (0x20000, up to 64 KiB); above it the EBDA (0x9fc00). */
#define AP_TRAMPOLINE_BASE 0x70000
#define AP_SIPI_VECTOR (AP_TRAMPOLINE_BASE >> 12)
/* The trampoline's own GDT: KERNEL_CS (64-bit) as the runtime's, and a 32-bit code segment. */
#define AP_CODE32 0x10
#define SMP_MAX_CPUS 256
/* The local APIC (xAPIC MMIO, KVM's in-kernel LAPIC: accesses never leave the kernel). */
#define LAPIC_BASE 0xfee00000
#define LAPIC_ID 0x20
#define LAPIC_ICR_LOW 0x300
#define LAPIC_ICR_HIGH 0x310

/* Ports. */
#define SERIAL_PORT 0x3f8 /* COM1 THR: whole strings with rep outsb */
#define EXIT_PORT 0xf4    /* isa-debug-exit: outl of the exit status */

#define CR0_PE 0x00000001
#define CR0_ET 0x00000010
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

/* RFLAGS in ring 3: IOPL=3 (port I/O allowed), IF=0, bit 1 (always set). */
#define USER_RFLAGS 0x3002

/* 2 MiB page-directory entry flags: present, writable, user, page size. */
#define PDE_RAM 0x87
/* The same, uncached (PWT|PCD), for the MMIO gap at 3-4 GiB. */
#define PDE_MMIO 0x9f
/* PML4/PDPT entry flags: present, writable, user. */
#define PTE_TABLE 0x07

#endif
