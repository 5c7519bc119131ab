/* Shared by the libFuzzer harnesses: one adapter context per process and the round-trip check. */
#ifndef MSGW_FUZZ_COMMON_H
#define MSGW_FUZZ_COMMON_H

#include <stdbool.h>

#include "msgw/net/config.h"
#include "msgw/validate/adapter.h"

/* Dictionary, schemas and limits, built on the first input and kept: they are read-only. */
const msgw_adapter_ctx *fuzz_context(void);
/*
 * Encodes the batch's good records with ad in mt and decodes the result:
 * anything but equal records traps, since a record the gateway accepted must
 * survive its own encoding.  may_refuse (or NULL) says which encode errors
 * are legitimate (e.g. a character GB18030 output cannot carry).
 */
void fuzz_round_trip(const msgw_adapter *ad, const msgw_batch *first, const char *mt,
                     bool (*may_refuse)(const msgw_errors *e));

/* The configuration a harness writes for itself, which must load (aborts otherwise). */
msgw_config *fuzz_config_of(const char *text);

#endif
