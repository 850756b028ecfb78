/*
 * Minimal Cortex-M start-up: vector table, reset handler (copy .data, zero
 * .bss, call main, exit through semihosting) and a HardFault handler that
 * prints the fault status registers and the stacked PC before exiting.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>

#include "semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);

#define EXIT_HARDFAULT 5

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void zonnx_hardfault_report(const uint32_t *frame);

void Reset_Handler(void)
{
	uint32_t *src = &_sidata;
	uint32_t *dst = &_sdata;

#if defined(__ARM_FP)
	/* Hard-float builds: grant CP10/CP11 (the FPU) before any float code. */
	*(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
	__asm__ volatile("dsb\n"
			 "isb\n");
#endif
	while (dst < &_edata) {
		*dst++ = *src++;
	}
	for (dst = &_sbss; dst < &_ebss; dst++) {
		*dst = 0;
	}
	sh_exit(main());
}

void Default_Handler(void)
{
	sh_puts("zonnx: unexpected exception\n");
	sh_exit(EXIT_HARDFAULT);
}

void zonnx_hardfault_report(const uint32_t *frame)
{
	volatile const uint32_t *scb = (volatile const uint32_t *)0xE000ED28u;

	sh_puts("zonnx: HardFault\n");
	sh_put_hex("  CFSR  ", scb[0]);
	sh_put_hex("  HFSR  ", scb[1]);
	sh_put_hex("  MMFAR ", scb[3]);
	sh_put_hex("  BFAR  ", scb[4]);
	sh_put_hex("  PC    ", frame[6]);
	sh_put_hex("  LR    ", frame[5]);
	sh_exit(EXIT_HARDFAULT);
}

/* Picks the stack the exception frame was pushed on, then reports. */
__attribute__((naked)) void HardFault_Handler(void)
{
	__asm__ volatile("tst lr, #4\n"
			 "ite eq\n"
			 "mrseq r0, msp\n"
			 "mrsne r0, psp\n"
			 "b zonnx_hardfault_report\n");
}

typedef void (*vector_fn)(void);

__attribute__((section(".isr_vector"), used)) const vector_fn zonnx_vectors[16] = {
	(vector_fn)(uintptr_t)&_estack, Reset_Handler, Default_Handler, HardFault_Handler,
	HardFault_Handler, HardFault_Handler, HardFault_Handler, 0, 0, 0, 0,
	Default_Handler, Default_Handler, 0, Default_Handler, Default_Handler,
};
